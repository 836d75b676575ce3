"""Charts drawn on the server as SVG (no script, no style attribute: the CSP stays strict)."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from markupsafe import Markup

from permitsync.domain.activity import OUTCOMES
from permitsync.domain.records import Activity

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 28
LABELS = {
    "accepted": "accepted",
    "partial": "partly refused",
    "retried": "retried",
    "refused": "refused",
}
COLOURS = {
    "accepted": "#1b7f3b",
    "partial": "#6b4e16",
    "retried": "#b35c00",
    "refused": "#b3261e",
    "p50": "#1d4ed8",
    "p95": "#7c3aed",
}


@dataclass(frozen=True, slots=True)
class Chart:
    """An SVG and the sentence that says what it shows (for its caption and screen readers)."""

    svg: Markup
    summary: str
    legend: tuple[tuple[str, str], ...]


def nice_max(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten >= ``value`` (at least 1): the axis top."""
    top = 1.0
    while top < value:
        for factor in (2, 2.5, 2):
            top *= factor
            if top >= value:
                break
    return top


def _frame(title: str, top: float, unit: str, labels: list[str], body: list[str]) -> Markup:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        (
            f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" class="chart" '
            f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        ),
        (
            f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" '
            'stroke="#555" stroke-width="1"/>'
        ),
        (
            f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#555" '
            'stroke-width="1"/>'
        ),
        (
            f'<text x="{LEFT - 6}" y="{TOP + 10}" text-anchor="end" font-size="12" '
            f'fill="#222">{top:g}{unit}</text>'
        ),
        (
            f'<text x="{LEFT - 6}" y="{TOP + plot_h}" text-anchor="end" font-size="12" '
            'fill="#222">0</text>'
        ),
    ]
    slot = plot_w / max(1, len(labels))
    every = max(1, len(labels) // 6)
    for i, label in enumerate(labels):
        if i % every == 0:
            x = LEFT + slot * i + slot / 2
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="middle" font-size="12" '
                f'fill="#222">{escape(label)}</text>'
            )
    parts.extend(body)
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text in it is escaped above


def sends_chart(activity: Activity, label_format: str) -> Chart:
    """Stacked bars of event sends per bucket by outcome."""
    buckets = activity.buckets
    totals = {o: sum(b.sends.get(o, 0) for b in buckets) for o in OUTCOMES}
    top = nice_max(max((sum(b.sends.values()) for b in buckets), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(buckets))
    body = []
    for i, bucket in enumerate(buckets):
        y = float(TOP + plot_h)
        for outcome in OUTCOMES:
            count = bucket.sends.get(outcome, 0)
            if not count:
                continue
            h = plot_h * count / top
            y -= h
            body.append(
                f'<rect x="{LEFT + slot * i + slot * 0.15:.1f}" y="{y:.1f}" '
                f'width="{slot * 0.7:.1f}" height="{h:.1f}" fill="{COLOURS[outcome]}">'
                f"<title>{bucket.start:%H:%M} {LABELS[outcome]}: {count}</title></rect>"
            )
    summary = f"{sum(totals.values())} sends: " + ", ".join(
        f"{totals[o]} {LABELS[o]}" for o in OUTCOMES
    )
    labels = [f"{b.start:{label_format}}" for b in buckets]
    return Chart(
        svg=_frame(f"Sends by outcome. {summary}", top, "", labels, body),
        summary=summary,
        legend=tuple((LABELS[o], COLOURS[o]) for o in OUTCOMES),
    )


def latency_chart(activity: Activity, label_format: str) -> Chart:
    """Lines of the median and 95th percentile commit→acknowledged latency per bucket."""
    buckets = activity.buckets
    values = [v for b in buckets for v in (b.latency_p50_ms, b.latency_p95_ms) if v is not None]
    top = nice_max(max(values, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(buckets))
    body = []
    for name, attr in (("p50", "latency_p50_ms"), ("p95", "latency_p95_ms")):
        points = [
            (LEFT + slot * i + slot / 2, TOP + plot_h - plot_h * value / top)
            for i, b in enumerate(buckets)
            if (value := getattr(b, attr)) is not None
        ]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            body.append(
                f'<polyline points="{path}" fill="none" stroke="{COLOURS[name]}" stroke-width="2"/>'
            )
        body.extend(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{COLOURS[name]}"/>' for x, y in points
        )
    acknowledged = sum(b.acknowledged for b in buckets)
    p95 = max((b.latency_p95_ms for b in buckets if b.latency_p95_ms is not None), default=None)
    summary = f"{acknowledged} acknowledgements" + (
        f"; worst 95th percentile {p95:.0f} ms" if p95 is not None else ""
    )
    labels = [f"{b.start:{label_format}}" for b in buckets]
    return Chart(
        svg=_frame(f"Commit to acknowledged latency. {summary}", top, " ms", labels, body),
        summary=summary,
        legend=(("median", COLOURS["p50"]), ("95th percentile", COLOURS["p95"])),
    )
