// A live preview's frames: each preview is sent to a new frame, shown once it has loaded. A new
// frame's first page replaces its blank one, so previews do not pile up in the tab's history
// (Back leaves the page), and the last preview stays in view until the next one is there. The
// frame waiting for its page is laid out but not seen (`frame-pending`), so that whatever it
// shows (a PDF viewer too) loads as it would in view.
(function () {
  "use strict";
  // A function that sends `form` by `button` (its formaction) to a new frame beside the one
  // whose id is `frameId`, which the new one replaces once loaded.
  window.pdfpromptPreview = function (form, button, frameId) {
    var pending = null;
    var made = 0;
    return function () {
      var shown = document.getElementById(frameId);
      if (!shown) return;
      if (pending) pending.remove();
      var next = shown.cloneNode(false);
      made += 1;
      next.name = frameId + "-" + made;
      next.removeAttribute("id");
      next.removeAttribute("src");
      next.classList.add("frame-pending");
      shown.after(next);
      pending = next;
      button.formTarget = next.name;
      next.addEventListener("load", function () {
        if (pending !== next) return;
        pending = null;
        shown.remove();
        next.id = frameId;
        next.classList.remove("frame-pending");
      });
      form.requestSubmit(button);
    };
  };
})();
