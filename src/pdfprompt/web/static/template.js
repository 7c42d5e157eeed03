// The template editor's live preview: a moment after the last edit, the form is sent to the
// preview frame by its own Preview button (the same request a click makes without
// JavaScript), so the frame shows the PDF of the edit or the reason it cannot be printed; each
// preview to a new frame (preview.js), so previews are no steps of the tab's history.
"use strict";
(() => {
  const form = document.getElementById("template-form");
  const button = form && form.querySelector("button[data-preview]");
  const status = document.querySelector("[data-preview-status]");
  if (!form || !button || !form.requestSubmit || !window.pdfpromptPreview) return;
  const WAIT_MS = 800;
  const send = window.pdfpromptPreview(form, button, "preview");
  let timer = 0;
  const show = (words) => {
    clearTimeout(timer);
    timer = 0;
    send();
    if (status) status.textContent = words;
  };
  form.addEventListener("input", (event) => {
    if (event.target && event.target.name === "name") return;
    clearTimeout(timer);
    timer = setTimeout(show, WAIT_MS, "Preview updated after your last edit.");
  });
  button.addEventListener("click", (event) => {
    event.preventDefault();
    show("Preview of what the form holds now.");
  });
  const body = form.querySelector("#body");
  if (body && body.value.trim()) show("Preview of the data below (or the sample data).");
})();
