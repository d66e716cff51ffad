// The test panel: "Fill with a sample" fills the schema form from the sample record.
(function () {
  const button = document.getElementById("fill-sample");
  const sampleScript = document.getElementById("sample-record");
  if (button && sampleScript) {
    button.addEventListener("click", function () {
      const sample = JSON.parse(sampleScript.textContent);
      const form = document.getElementById("test-form");
      for (const [name, value] of Object.entries(sample)) {
        const input = form.elements.namedItem(name);
        if (!input || input.type === "file") continue;
        input.value = (typeof value === "object") ? JSON.stringify(value) : String(value);
      }
    });
  }
  if (location.hash === "#file") {
    const tab = document.getElementById("tab-file");
    if (tab) tab.click();
  }
})();

// The result table, a page at a time: a 150-row file is a summary and 20 rows, not a long scroll.
(function () {
  const table = document.getElementById("result-table");
  const pager = document.getElementById("result-pager");
  if (!table || !pager) return;
  const rows = Array.from(table.tBodies[0].rows);
  const size = parseInt(table.dataset.pageSize || "20", 10);
  if (rows.length <= size) return;
  const status = pager.querySelector(".pager-status");
  let page = 0;
  const pages = Math.ceil(rows.length / size);
  function show() {
    rows.forEach(function (row, i) { row.hidden = Math.floor(i / size) !== page; });
    status.textContent = pager.dataset.template
      .replace("{first}", page * size + 1)
      .replace("{last}", Math.min(rows.length, (page + 1) * size))
      .replace("{total}", rows.length);
    pager.querySelector('[data-step="-1"]').disabled = page === 0;
    pager.querySelector('[data-step="1"]').disabled = page === pages - 1;
  }
  pager.querySelectorAll("button[data-step]").forEach(function (button) {
    button.addEventListener("click", function () {
      page = Math.max(0, Math.min(pages - 1, page + parseInt(button.dataset.step, 10)));
      show();
    });
  });
  pager.classList.remove("d-none");
  show();
})();
