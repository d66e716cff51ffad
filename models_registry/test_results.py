"""What the Test tab shows of a file's answer: a summary (rows, class counts or value
statistics), and the full answer as CSV to download. The table itself is paged in the page.

A 150-row file used to render 150 rows with probability bars; a summary answers the
usual question (what did it predict, how often) without scrolling."""

import csv
import io
import json
import statistics
from collections import Counter

from core.text import defused_cell

SUMMARY_TOP_CLASSES = 20


def _scalar(value) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def result_summary(body: dict) -> dict | None:
    """Class counts for labels, statistics for numbers; None when the answers are not scalars."""
    predictions = body.get("predictions") or []
    if not predictions or not all(_scalar(p) for p in predictions):
        return None
    numbers = [p for p in predictions if isinstance(p, (int, float)) and not isinstance(p, bool)]
    # Integer labels (class 0, 1, 2) with probabilities are classes, not values.
    is_values = len(numbers) == len(predictions) and not body.get("probabilities") and any(isinstance(p, float) for p in numbers)
    if is_values:
        return {
            "kind": "values",
            "rows": len(predictions),
            "min": min(numbers),
            "max": max(numbers),
            "mean": statistics.fmean(numbers),
            "median": statistics.median(numbers),
        }
    counts = Counter(str(p) for p in predictions)
    total = len(predictions)
    classes = [
        {"label": label, "count": count, "percent": round(100 * count / total, 1)}
        for label, count in counts.most_common(SUMMARY_TOP_CLASSES)
    ]
    return {"kind": "classes", "rows": total, "classes": classes, "more": max(0, len(counts) - SUMMARY_TOP_CLASSES)}


def result_csv(body: dict) -> str:
    """Every row of the answer: its source or time when it has one, the prediction, and each
    class's probability."""
    predictions = body.get("predictions") or []
    probabilities = body.get("probabilities") or []
    sources = body.get("sources") or []
    timestamps = body.get("timestamps") or []
    labels = list(dict.fromkeys(label for row in probabilities for label in (row or {})))
    out = io.StringIO()
    writer = csv.writer(out)
    header = ["row"] + (["source"] if sources else []) + (["time"] if timestamps else []) + ["prediction"]
    writer.writerow(header + [defused_cell(f"p({label})") for label in labels])
    for i, value in enumerate(predictions):
        line = [i]
        if sources:
            line.append(defused_cell(sources[i]) if i < len(sources) else "")
        if timestamps:
            line.append(timestamps[i] if i < len(timestamps) else "")
        # Text a spreadsheet would run as a formula is made inert, as in a task's CSV.
        line.append(defused_cell(value) if _scalar(value) else json.dumps(value))
        proba = probabilities[i] if i < len(probabilities) else {}
        line.extend((proba or {}).get(label, "") for label in labels)
        writer.writerow(line)
    return out.getvalue()
