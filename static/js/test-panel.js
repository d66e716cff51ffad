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
