// The template editor's live preview: a moment after the last edit, the form is sent to the
// preview frame by its own Preview button (the same request a click makes without
// JavaScript), so the frame shows the PDF of the edit or the reason it cannot be printed.
"use strict";
(() => {
  const form = document.getElementById("template-form");
  const button = form && form.querySelector("button[data-preview]");
  const status = document.querySelector("[data-preview-status]");
  if (!form || !button || !form.requestSubmit) return;
  const WAIT_MS = 800;
  let timer = 0;
  const show = (words) => {
    timer = 0;
    form.requestSubmit(button);
    if (status) status.textContent = words;
  };
  form.addEventListener("input", (event) => {
    if (event.target && event.target.name === "name") return;
    clearTimeout(timer);
    timer = setTimeout(show, WAIT_MS, "Preview updated after your last edit.");
  });
  button.addEventListener("click", () => { clearTimeout(timer); timer = 0; });
  const body = form.querySelector("#body");
  if (body && body.value.trim()) show("Preview of the data below (or the sample data).");
})();
