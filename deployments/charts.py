"""Small server-rendered SVG charts for the monitoring tab (no JavaScript, nothing to vendor)."""

from html import escape

WIDTH, HEIGHT = 640, 180
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 48, 8, 10, 24


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** len(str(int(value))) / 10 if value >= 1 else 1
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return value


def _frame(y_max: float, unit: str, labels: list[str], title: str) -> list[str]:
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" class="chart" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for fraction in (0, 0.5, 1):
        y = PAD_TOP + plot_h * (1 - fraction)
        parts.append(f'<line x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{PAD_LEFT - 4}" y="{y + 4:.1f}" class="axis" text-anchor="end">{y_max * fraction:g}{escape(unit)}</text>')
    n = len(labels)
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    for i in sorted({0, n // 2, n - 1}):
        x = PAD_LEFT + plot_w * (i + 0.5) / max(n, 1)
        # The last label ends at the right edge (centred, half of it fell outside the SVG).
        anchor = "end" if i == n - 1 and n > 1 else "middle"
        x = WIDTH - PAD_RIGHT if anchor == "end" else x
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - 6}" class="axis" text-anchor="{anchor}">{escape(labels[i])}</text>')
    return parts


def bar_chart(values: list[float], labels: list[str], title: str, unit: str = "") -> str:
    y_max = _nice_max(max(values, default=0))
    parts = _frame(y_max, unit, labels, title)
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    width = plot_w / max(len(values), 1)
    for i, value in enumerate(values):
        h = plot_h * value / y_max
        x = PAD_LEFT + i * width
        parts.append(
            f'<rect x="{x + width * 0.1:.1f}" y="{PAD_TOP + plot_h - h:.1f}" width="{width * 0.8:.1f}" height="{h:.1f}" class="bar">'
            f"<title>{escape(labels[i])}: {value:g}</title></rect>"
        )
    parts.append("</svg>")
    return "".join(parts)


def line_chart(series: dict[str, list[float | None]], labels: list[str], title: str, unit: str = "") -> str:
    all_values = [v for values in series.values() for v in values if v is not None]
    y_max = _nice_max(max(all_values, default=0))
    parts = _frame(y_max, unit, labels, title)
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    for k, (name, values) in enumerate(series.items()):
        points = []
        for i, value in enumerate(values):
            if value is None:
                continue
            x = PAD_LEFT + plot_w * (i + 0.5) / max(len(values), 1)
            y = PAD_TOP + plot_h * (1 - value / y_max)
            points.append(f"{x:.1f},{y:.1f}")
            # A dot per point: a minute with calls between empty minutes still shows.
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" class="dot dot-{k}"><title>{escape(labels[i])} {escape(name)}: {value:.3g}{escape(unit)}</title></circle>'
            )
        if len(points) > 1:
            parts.append(f'<polyline points="{" ".join(points)}" class="line line-{k}"><title>{escape(name)}</title></polyline>')
        parts.append(f'<text x="{PAD_LEFT + 8 + k * 90}" y="{PAD_TOP + 12}" class="legend legend-{k}">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)
