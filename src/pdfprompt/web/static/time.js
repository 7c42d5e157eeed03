// Every <time datetime="…"> in the viewer's own time zone; without script the page shows UTC.
"use strict";
document.querySelectorAll("time[datetime]").forEach(function (element) {
  var moment = new Date(element.getAttribute("datetime"));
  if (isNaN(moment.getTime())) {
    return;
  }
  element.textContent = moment.toLocaleString(undefined, {
    dateStyle: "medium",
    timeStyle: "short",
  });
});
