// Forms marked data-upload-progress send their files with a progress bar, then show
// the page the server answers with (the next page, or the form with its errors). When
// the form comes back with errors, the files chosen are put back in it, so a fix of
// another field does not mean choosing the file again.
(function () {
  function restoreFiles(chosen) {
    if (!window.DataTransfer) return;
    chosen.forEach(function (item) {
      if (!item.files.length) return;
      const scope = item.form ? "#" + item.form : "form[data-upload-progress]";
      const input = document.querySelector(scope + ' input[type=file][name="' + item.name + '"]');
      if (!input) return;
      try {
        const transfer = new DataTransfer();
        item.files.forEach(function (file) { transfer.items.add(file); });
        input.files = transfer.files;
      } catch (e) {
        return;  // the browser refuses: the page's own note asks to choose the file again
      }
      const note = input.form.querySelector(".file-kept-note");
      if (note) {
        note.querySelector(".file-kept-name").textContent = item.files.map(function (f) { return f.name; }).join(", ");
        note.classList.remove("d-none");
      }
      const again = input.form.querySelector(".file-choose-again");
      if (again) again.classList.add("d-none");
    });
  }

  document.querySelectorAll("form[data-upload-progress]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.FormData || !form.querySelector("input[type=file]")) return;
      event.preventDefault();
      const box = form.querySelector(".upload-progress");
      const bar = box ? box.querySelector(".progress-bar") : null;
      if (box) box.classList.remove("d-none");
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      const chosen = Array.from(form.querySelectorAll("input[type=file]")).map(function (input) {
        return { form: form.id, name: input.name, files: Array.from(input.files || []) };
      });
      const request = new XMLHttpRequest();
      request.open("POST", form.action || window.location.href);
      request.upload.addEventListener("progress", function (e) {
        if (!bar || !e.lengthComputable) return;
        const percent = Math.round((e.loaded / e.total) * 100);
        bar.style.width = percent + "%";
        bar.textContent = percent < 100 ? percent + "%" : (box.dataset.checking || "Checking the file…");  // the page's language, from the template
      });
      request.addEventListener("load", function () {
        if (request.responseURL && request.responseURL !== (form.action || window.location.href)) {
          window.location.assign(request.responseURL);
        } else {
          document.open();
          document.write(request.responseText);
          document.close();
          restoreFiles(chosen);
        }
      });
      request.addEventListener("error", function () { form.submit(); });
      request.send(new FormData(form));
    });
  });
})();
