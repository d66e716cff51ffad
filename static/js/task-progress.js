// Task page: follow a queued/running task until it finishes, then reload to show the result.
// Every live field (status, started, attempts, rows, bar) is set from the same answer, so
// the page never shows a "queued" task beside a moving bar.
(function () {
  const box = document.getElementById("task-progress");
  if (!box || box.dataset.finished === "1") return;
  const bar = document.getElementById("progress-bar");
  const done = document.getElementById("rows-done");
  const total = document.getElementById("rows-total");
  const badge = box.querySelector(".status-badge");
  const started = document.getElementById("task-started");
  const attempts = document.getElementById("task-attempts");
  const BADGE = {
    queued: "text-bg-light border", running: "text-bg-primary", succeeded: "text-bg-success",
    failed: "text-bg-danger", cancelled: "text-bg-secondary",
  };

  // Thousands separators as the page's language writes them (the server's intcomma does the same).
  function count(n) { return Number(n).toLocaleString(document.documentElement.lang || undefined); }

  function show(task) {
    const progress = task.progress || {};
    if (badge && badge.dataset.status !== task.status) {
      badge.className = "badge status-badge " + (BADGE[task.status] || BADGE.queued);
      badge.dataset.status = task.status;
      // The status in the page's language (the template's data-label-* attributes), as the server shows it.
      const label = box.dataset["label" + task.status.charAt(0).toUpperCase() + task.status.slice(1)];
      badge.textContent = label || task.status;
    }
    // The API's times are in the server's time zone, as the page's own: its first 19 characters.
    if (started) started.textContent = task.started ? task.started.slice(0, 19).replace("T", " ") : "—";
    if (attempts) attempts.textContent = task.attempts;
    if (done) done.textContent = count(progress.rows_done);
    if (total && progress.rows_total !== null && progress.rows_total !== undefined) total.textContent = count(progress.rows_total);
    if (progress.fraction !== null && progress.fraction !== undefined) {
      const percent = Math.round(progress.fraction * 100);
      bar.style.width = percent + "%";
      bar.textContent = percent + "%";
      bar.parentElement.setAttribute("aria-valuenow", percent);
    }
  }

  async function poll() {
    try {
      const response = await fetch(box.dataset.statusUrl, {headers: {"Accept": "application/json"}, credentials: "same-origin"});
      if (response.ok) {
        const task = await response.json();
        show(task);
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
