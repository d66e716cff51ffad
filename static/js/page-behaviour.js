// What the pages once did in inline attributes, which the Content-Security-Policy forbids
// (no onsubmit=, onchange=, style=): every page loads this file.
(function () {
  // <form data-confirm="Delete this task?">: ask before submitting.
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });
  // <select data-autosubmit>: submit its form when the choice changes.
  document.addEventListener("change", function (event) {
    const field = event.target;
    if (field instanceof HTMLSelectElement && field.hasAttribute("data-autosubmit") && field.form) {
      field.form.submit();
    }
  });
  // <div class="progress-bar" data-width="42">: the bar's width in percent (set through the DOM, which CSP allows).
  function sizeBars() {
    document.querySelectorAll("[data-width]").forEach(function (bar) {
      bar.style.width = Math.max(0, Math.min(100, Number(bar.dataset.width) || 0)) + "%";
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", sizeBars);
  } else {
    sizeBars();
  }
  // Tables wider than the screen scroll sideways: a hint above each says so (narrow screens only, by CSS).
  function hintWideTables() {
    const text = document.getElementById("scroll-hint-text");
    if (!text) return;
    document.querySelectorAll(".table-responsive").forEach(function (box) {
      const hint = box.previousElementSibling && box.previousElementSibling.classList.contains("scroll-hint") ? box.previousElementSibling : null;
      const wide = box.scrollWidth > box.clientWidth + 1;
      if (wide && !hint) {
        const note = document.createElement("div");
        note.className = "scroll-hint";
        note.textContent = text.content.textContent.trim();
        box.parentNode.insertBefore(note, box);
      } else if (!wide && hint) {
        hint.remove();
      }
    });
  }
  hintWideTables();
  window.addEventListener("resize", hintWideTables);
})();
