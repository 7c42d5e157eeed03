// Every <time datetime> on the page, written in UTC by the server, shown in the viewer's
// own time zone instead (the UTC text stays as its title).
"use strict";
document.querySelectorAll("time[datetime]").forEach((element) => {
  const moment = new Date(element.getAttribute("datetime"));
  if (Number.isNaN(moment.getTime())) return;
  element.title = element.textContent;
  element.textContent = moment.toLocaleString(undefined, {
    dateStyle: "medium",
    timeStyle: "short",
  });
});
