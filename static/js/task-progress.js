// Task page: follow a queued/running task until it finishes, then reload to show the result.
(function () {
  const box = document.getElementById("task-progress");
  if (!box || box.dataset.finished === "1") return;
  const bar = document.getElementById("progress-bar");
  const done = document.getElementById("rows-done");
  async function poll() {
    try {
      const response = await fetch(box.dataset.statusUrl, {headers: {"Accept": "application/json"}, credentials: "same-origin"});
      if (response.ok) {
        const task = await response.json();
        const progress = task.progress || {};
        if (done) done.textContent = progress.rows_done;
        if (progress.fraction !== null && progress.fraction !== undefined) {
          const percent = Math.round(progress.fraction * 100);
          bar.style.width = percent + "%";
          bar.textContent = percent + "%";
          bar.parentElement.setAttribute("aria-valuenow", percent);
        }
        if (["succeeded", "failed", "cancelled"].includes(task.status)) {
          window.location.reload();
          return;
        }
      }
    } catch (error) { /* network hiccup: try again */ }
    setTimeout(poll, 1000);
  }
  setTimeout(poll, 500);
})();
