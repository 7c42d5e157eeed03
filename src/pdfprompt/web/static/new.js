// The new-document form: a live count of the description's characters against the plan's
// limit (the page states the limit without it), and example prompts that fill the box
// (without this script they are links that fill it on the server); and on the Markdown tab,
// the preview frame following the typing: a moment after the last keystroke the form is sent
// to the frame by its own Preview button (the same request a click makes without JavaScript),
// each time to a new frame (preview.js), so previews are no steps of the tab's history.
(function () {
  "use strict";
  var form = document.querySelector("form.compose");
  if (!form) return;
  var box = form.querySelector("#input");
  var count = form.querySelector("#input-count");
  var limit = parseInt(box.getAttribute("data-limit"), 10);
  var numbers = new Intl.NumberFormat();

  function update() {
    // Characters as the server counts them (code points, one per line end).
    var used = Array.from(box.value).length;
    count.textContent = numbers.format(used) + " of " + numbers.format(limit) + " characters";
    count.classList.toggle("over", used > limit);
  }

  count.hidden = false;
  box.addEventListener("input", update);
  update();

  var previewButton = form.querySelector("button[data-preview]");
  var markdown = form.querySelector("#type-markdown");
  var hint = form.querySelector("[data-preview-hint]");
  if (previewButton && markdown && form.requestSubmit && window.pdfpromptPreview) {
    var WAIT_MS = 300;
    var timer = 0;
    var send = window.pdfpromptPreview(form, previewButton, "md-preview");
    var preview = function () {
      clearTimeout(timer);
      timer = 0;
      if (!markdown.checked || !box.value.trim()) return;
      send();
    };
    if (hint) hint.textContent = "The page your Markdown makes, as it will be printed. It follows your typing.";
    box.addEventListener("input", function () {
      if (!markdown.checked) return;
      clearTimeout(timer);
      timer = setTimeout(preview, WAIT_MS);
    });
    markdown.addEventListener("change", preview);
    previewButton.addEventListener("click", function (event) {
      event.preventDefault();
      preview();
    });
    preview();
  }

  document.querySelectorAll("a[data-example]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      box.value = link.getAttribute("data-text");
      form.querySelector("#type-prompt").checked = true;
      form.querySelector("#tone").value = link.getAttribute("data-tone");
      form.querySelector("#document_kind").value = link.getAttribute("data-kind");
      update();
      box.focus();
    });
  });
})();
