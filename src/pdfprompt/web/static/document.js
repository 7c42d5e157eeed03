// A document being made: its stage, progress and place in the queue, pushed by the server
// (Server-Sent Events) into the page; once it ends, the page is loaded again to show the
// PDF or what went wrong. Without this script the page refreshes itself (<noscript>).
(function () {
  "use strict";
  var live = document.querySelector("[data-events]");
  if (!live || !window.EventSource) return;
  var stage = live.querySelector("[data-stage]");
  var bar = live.querySelector("[data-progress]");
  var position = live.querySelector("[data-position]");
  var steps = live.querySelectorAll("[data-step]");
  var pushed = 0;
  var source = new EventSource(live.getAttribute("data-events"));

  source.addEventListener("job", function (message) {
    var job = JSON.parse(message.data);
    if (job.status === "succeeded" || job.status === "failed" || job.status === "canceled") {
      source.close();
      window.location.reload();
      return;
    }
    stage.textContent = job.words;
    bar.value = job.percent;
    bar.textContent = job.percent + "%";
    position.textContent = job.position_words;
    position.hidden = !job.position_words;
    steps.forEach(function (step) {
      if (step.getAttribute("data-step") === job.step) {
        step.setAttribute("aria-current", "step");
      } else {
        step.removeAttribute("aria-current");
      }
    });
    pushed += 1;
    live.setAttribute("data-pushed", String(pushed));
  });

  source.addEventListener("deleted", function () {
    source.close();
    window.location.assign("/documents");
  });
})();
