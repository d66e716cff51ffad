"""Run in bench/.mlflow-venv (it has matplotlib): req/s by concurrency, mlserve vs MLflow vs the ceiling."""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

results = json.load(open(sys.argv[1]))
out = sys.argv[2]
rows = []
for r in results["single_row"]:  # MLflow: its better configuration per point
    same = [x for x in rows if (x["server"], x["model"], x["concurrency"]) == (r["server"], r["model"], r["concurrency"])]
    if same and same[0]["rps"] >= r["rps"]:
        continue
    rows = [x for x in rows if x not in same] + [r]
CEILINGS = ("ceiling", "ceiling-shortcut")
LABELS = {
    "ceiling": "bare WSGI, predict_proba",
    "ceiling-shortcut": "bare WSGI, mlserve's model math",
    "mlserve": "mlserve (sandboxed runners)",
    "mlserve-inprocess": "mlserve, models in-process (before runners)",
}
rows = [r for r in rows if r["server"] in ("mlserve", "mlserve-inprocess", "mlflow", *CEILINGS)]
models = sorted({r["model"] for r in rows if r["server"] not in CEILINGS})
fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.6), sharey=False)
for ax, model in zip(axes, models):
    servers = [s for s in ("mlserve", "mlserve-inprocess", "mlflow") if any(r["server"] == s for r in rows)] + ([c for c in CEILINGS if any(r["server"] == c for r in rows)] if model == "iris_logreg" else [])
    width = 0.8 / len(servers)
    for k, server in enumerate(servers):
        points = [r for r in rows if r["server"] == server and (r["model"] == model or server in CEILINGS)]
        points.sort(key=lambda r: r["concurrency"])
        xs = [i + k * width for i in range(len(points))]
        ax.bar(xs, [p["rps"] for p in points], width=width, label=LABELS.get(server, server))
    ax.set_xticks([i + width * (len(servers) - 1) / 2 for i in range(2)], ["c=1", "c=16"])
    ax.set_title(model)
    ax.set_ylabel("requests/s")
    ax.legend(fontsize=8)
fig.suptitle("Single-row requests per second (higher is better)")
fig.tight_layout()
fig.savefig(out, dpi=110)
print(out)
