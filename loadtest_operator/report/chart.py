"""The report's one picture: TTFT p90 (and E2E p90) against throughput, one point per level, the SLO's TTFT
objective as a line, drawn as inline SVG (no script, no library, nothing fetched)."""

from __future__ import annotations

from html import escape

from loadtest_operator.report.build import CurvePoint

WIDTH, HEIGHT = 640, 320
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 44


def _nice_max(value: float) -> float:
    """The axis end: 1, 2 or 5 times a power of ten at or above `value`."""
    if value <= 0:
        return 1.0
    scale = 10.0 ** len(str(int(value))) / 10
    for step in (1, 2, 5, 10):
        if value <= step * scale:
            return step * scale
    return 10 * scale


def svg(points: tuple[CurvePoint, ...], ttft_objective: int | None) -> str:
    """An SVG of the curve, or "" when fewer than two levels have a latency to draw."""
    drawn = [p for p in points if p.ttft_p90 is not None or p.e2e_p90 is not None]
    if len(drawn) < 2:
        return ""
    latencies = [v for p in drawn for v in (p.ttft_p90, p.e2e_p90) if v is not None]
    x_max = _nice_max(max(p.requests_per_second for p in drawn))
    y_max = _nice_max(max([*latencies, float(ttft_objective or 0)]))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(v: float) -> float:
        return LEFT + plot_w * v / x_max

    def y(v: float) -> float:
        return TOP + plot_h * (1 - v / y_max)

    parts = [
        f'<svg role="img" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-size="11" font-family="sans-serif">',
        "<title>TTFT and E2E p90 against requests per second, one point per level</title>",
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#bbb"/>',
    ]
    for i in range(5):
        xv, yv = x_max * i / 4, y_max * i / 4
        parts.append(f'<text x="{x(xv):.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle">{xv:g}</text>')
        parts.append(f'<text x="{LEFT - 6}" y="{y(yv) + 4:.1f}" text-anchor="end">{yv:g}</text>')
    parts.append(
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 8}" text-anchor="middle">requests per second</text>'
    )
    parts.append(f'<text x="14" y="{TOP + plot_h / 2}" transform="rotate(-90 14 {TOP + plot_h / 2})" '
                 'text-anchor="middle">p90, ms</text>')  # fmt: skip
    if ttft_objective:
        parts.append(
            f'<line class="slo" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(ttft_objective):.1f}" '
            f'y2="{y(ttft_objective):.1f}" stroke="#c62828" stroke-dasharray="4 3"/>'
            f'<text x="{LEFT + plot_w - 4}" y="{y(ttft_objective) - 4:.1f}" text-anchor="end" fill="#c62828">'
            f"TTFT objective {ttft_objective} ms</text>"
        )
    for name, color, attr in (("TTFT p90", "#1565c0", "ttft_p90"), ("E2E p90", "#6a1b9a", "e2e_p90")):
        series = [(p, getattr(p, attr)) for p in drawn if getattr(p, attr) is not None]
        if not series:
            continue
        path = " ".join(f"{x(p.requests_per_second):.1f},{y(v):.1f}" for p, v in series)
        parts.append(
            f'<polyline class="{attr}" points="{path}" fill="none" stroke="{color}" stroke-width="2"/>'
        )
        for p, v in series:
            fill = {True: color, False: "#fff", None: color}[p.within_slo]
            parts.append(
                f'<circle cx="{x(p.requests_per_second):.1f}" cy="{y(v):.1f}" r="4" fill="{fill}" stroke="{color}">'
                f"<title>{escape(name)} at level {p.level}: {v:.1f} ms, {p.requests_per_second:.2f} req/s</title></circle>"
            )
    legend_y = TOP + 14
    for i, (name, color) in enumerate((("TTFT p90", "#1565c0"), ("E2E p90", "#6a1b9a"))):
        parts.append(f'<text x="{LEFT + 8}" y="{legend_y + 14 * i}" fill="{color}">{name}</text>')
    parts.append(f'<text x="{LEFT + 8}" y="{legend_y + 28}" fill="#555">hollow: level missed the SLO</text>')
    parts.append("</svg>")
    return "\n".join(parts)
