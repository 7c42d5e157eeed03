// The new-document form: a live count of the description's characters against the plan's
// limit (the page states the limit without it), and example prompts that fill the box
// (without this script they are links that fill it on the server).
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
