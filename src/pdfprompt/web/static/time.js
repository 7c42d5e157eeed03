// Every <time datetime="…"> shown in the viewer's own time zone and language; the page's
// UTC text stays as the element's tooltip.
(function () {
  "use strict";
  var format = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  document.querySelectorAll("time[datetime]").forEach(function (el) {
    var moment = new Date(el.getAttribute("datetime"));
    if (!isNaN(moment.getTime())) {
      el.title = el.textContent;
      el.textContent = format.format(moment);
    }
  });
})();
