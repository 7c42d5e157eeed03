// The Copy buttons next to a value shown once: each copies its field to the clipboard and
// says so. Without JavaScript the buttons stay hidden and the field's text is selectable.
"use strict";
document.querySelectorAll("button[data-copy]").forEach((button) => {
  const field = document.getElementById(button.dataset.copy);
  const status = document.querySelector(`[data-copied="${button.dataset.copy}"]`);
  if (!field || !navigator.clipboard) return;
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(field.value);
      if (status) status.textContent = "Copied.";
    } catch {
      field.select();
      if (status) status.textContent = "Select the text and copy it.";
    }
  });
});
