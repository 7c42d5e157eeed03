// A batch being made: its counts and progress pushed by the server (Server-Sent Events)
// into the page; once it ends, the page is loaded again to offer its downloads. Without
// this script the page refreshes itself (<noscript>).
"use strict";
(() => {
  const live = document.querySelector("[data-batch-events]");
  if (!live || !window.EventSource) return;
  const words = live.querySelector("[data-batch-words]");
  const bar = live.querySelector("[data-batch-progress]");
  const source = new EventSource(live.dataset.batchEvents);
  source.addEventListener("batch", (message) => {
    const batch = JSON.parse(message.data);
    if (batch.final) {
      source.close();
      window.location.reload();
      return;
    }
    words.textContent = `${batch.words}: ${batch.done} of ${batch.total} done.`;
    bar.value = batch.percent;
    bar.textContent = `${batch.percent}%`;
    for (const [key, count] of Object.entries(batch.counts)) {
      const cell = live.querySelector(`[data-count="${key}"]`);
      if (cell) cell.textContent = String(count);
    }
  });
})();
