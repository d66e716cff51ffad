// Forms marked data-upload-progress send their files with a progress bar, then show
// the page the server answers with (the next page, or the form with its errors).
(function () {
  document.querySelectorAll("form[data-upload-progress]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.FormData || !form.querySelector("input[type=file]")) return;
      event.preventDefault();
      const box = form.querySelector(".upload-progress");
      const bar = box ? box.querySelector(".progress-bar") : null;
      if (box) box.classList.remove("d-none");
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
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
        }
      });
      request.addEventListener("error", function () { form.submit(); });
      request.send(new FormData(form));
    });
  });
})();
