"""Server-rendered SVG charts for the results dashboard: no JavaScript, no CDN, nothing to install.

Two charts from a ``results.series.Series``: each variant's cumulative rate (or mean) by day
with its 95 % interval as a shaded band, and the allocation, each variant's share of the day's
visitors, as stacked areas. Every piece of text (variant names are editor input) goes through
``format_html``, so it is escaped; numbers are formatted here. Each chart is an ``<svg
role="img">`` with a ``<title>`` and a ``<desc>`` that says in words what it shows, and a
legend, since a colour alone names nothing. Colours are the Okabe-Ito palette, told apart
with the common colour-vision deficiencies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from ..results.series import Series

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
WIDTH, PLOT_HEIGHT = 860, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 12, 28
LEGEND_ROW = 22
TICKS = 5


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


@dataclass(frozen=True, slots=True)
class _Frame:
    """Maps day indices and values to pixels inside the plot area."""

    days: int
    low: float
    high: float

    def x(self, i: int) -> float:
        span = max(self.days - 1, 1)
        return LEFT + (WIDTH - LEFT - RIGHT) * (i / span if self.days > 1 else 0.5)

    def y(self, value: float) -> float:
        span = (self.high - self.low) or 1.0
        return TOP + PLOT_HEIGHT * (1 - (value - self.low) / span)


def _joined(shapes: Sequence[SafeString]) -> SafeString:
    return format_html_join("", "{}", ((shape,) for shape in shapes))


def _n(value: float) -> str:
    return f"{value:.1f}"


def _points(pairs: Iterable[tuple[float, float]]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in pairs)


def _svg(chart_id: str, title: str, desc: str, body: SafeString, legend: Sequence[tuple[str, str]]) -> SafeString:
    per_row = 4
    rows = (len(legend) + per_row - 1) // per_row
    height = TOP + PLOT_HEIGHT + BOTTOM + LEGEND_ROW * rows + 8
    legend_items = format_html_join(
        "",
        '<g transform="translate({},{})"><rect width="14" height="14" rx="2" fill="{}"></rect>'
        '<text x="20" y="11" class="tailor-chart__legend">{}</text></g>',
        (
            (
                _n(LEFT + (i % per_row) * (WIDTH - LEFT) / per_row),
                TOP + PLOT_HEIGHT + BOTTOM + 6 + LEGEND_ROW * (i // per_row),
                fill,
                label,
            )
            for i, (label, fill) in enumerate(legend)
        ),
    )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="tailor-chart" viewBox="0 0 {} {}" width="100%"'
        ' role="img" aria-labelledby="{}-title {}-desc" data-chart="{}">'
        '<title id="{}-title">{}</title><desc id="{}-desc">{}</desc>{}{}</svg>',
        WIDTH,
        height,
        chart_id,
        chart_id,
        chart_id,
        chart_id,
        title,
        chart_id,
        desc,
        body,
        legend_items,
    )


def _axes(frame: _Frame, days: Sequence, label: Callable[[float], str]) -> SafeString:
    ticks = [frame.low + (frame.high - frame.low) * i / (TICKS - 1) for i in range(TICKS)]
    grid = format_html_join(
        "",
        '<line x1="{}" x2="{}" y1="{}" y2="{}" class="tailor-chart__grid"></line>'
        '<text x="{}" y="{}" text-anchor="end" class="tailor-chart__tick">{}</text>',
        ((LEFT, WIDTH - RIGHT, _n(frame.y(t)), _n(frame.y(t)), LEFT - 6, _n(frame.y(t) + 4), label(t)) for t in ticks),
    )
    marks = sorted({0, len(days) // 2, len(days) - 1}) if days else []

    def anchor(i: int) -> str:  # the first and last dates sit inside the plot's edges, not across them
        if len(days) == 1 or 0 < i < len(days) - 1:
            return "middle"
        return "start" if i == 0 else "end"

    dates = format_html_join(
        "",
        '<text x="{}" y="{}" text-anchor="{}" class="tailor-chart__tick">{}</text>',
        ((_n(frame.x(i)), TOP + PLOT_HEIGHT + 18, anchor(i), days[i].isoformat()) for i in marks),
    )
    return format_html("{}{}", grid, dates)


def rate_chart(
    series: Series,
    names: Mapping[str, str],
    *,
    label: Callable[[float], str],
    metric_name: str,
    chart_id: str = "tailor-rate-chart",
) -> SafeString:
    """Cumulative rate (or mean) per variant by day, with the 95 % interval as a band."""
    values = [
        value
        for variant in series.variants
        for column in (variant.rates, variant.lows, variant.highs)
        for value in column
        if value is not None
    ]
    high = max(values, default=1.0)
    low = min(0.0, *values) if values else 0.0
    frame = _Frame(len(series.days), low, high * 1.05 if high > 0 else 1.0)
    xs = [frame.x(i) for i in range(len(series.days))]
    shapes = []
    for index, variant in enumerate(series.variants):
        fill = colour(index)
        banded = [i for i, top in enumerate(variant.highs) if top is not None]
        if banded:
            edge = chain(
                ((xs[i], frame.y(variant.highs[i])) for i in banded),
                ((xs[i], frame.y(variant.lows[i])) for i in reversed(banded)),
            )
            shapes.append(
                format_html(
                    '<polygon points="{}" fill="{}" fill-opacity="0.15" stroke="none"></polygon>', _points(edge), fill
                )
            )
        line = [(xs[i], frame.y(rate)) for i, rate in enumerate(variant.rates) if rate is not None]
        if len(line) == 1:  # one day of data: a dot, since a line needs two
            shapes.append(
                format_html('<circle cx="{}" cy="{}" r="3" fill="{}"></circle>', _n(line[0][0]), _n(line[0][1]), fill)
            )
        elif line:
            shapes.append(
                format_html(
                    '<polyline points="{}" fill="none" stroke="{}" stroke-width="2"></polyline>', _points(line), fill
                )
            )
    legend = [(names.get(v.key, v.key), colour(i)) for i, v in enumerate(series.variants)]
    last = ", ".join(
        f"{names.get(v.key, v.key)} {label(v.rates[-1])}"
        for v in series.variants
        if v.rates and v.rates[-1] is not None
    )
    desc = (
        f"{metric_name} since {series.days[0].isoformat()} per variant, day by day, each with its 95 % interval"
        f" as a shaded band. On {series.days[-1].isoformat()}: {last or 'no visitors yet'}."
    )
    body = format_html("{}{}", _axes(frame, series.days, label), _joined(shapes))
    return _svg(chart_id, f"{metric_name} over time, with 95 % intervals", desc, body, legend)


def allocation_chart(
    series: Series, names: Mapping[str, str], *, chart_id: str = "tailor-allocation-chart"
) -> SafeString:
    """Each variant's share of the day's visitors, stacked to 100 %."""
    frame = _Frame(len(series.days), 0.0, 1.0)
    xs = [frame.x(i) for i in range(len(series.days))]
    bottoms = [0.0] * len(series.days)
    shapes = []
    for index, _variant in enumerate(series.variants):
        tops = [bottom + day.shares[index] for bottom, day in zip(bottoms, series.allocation, strict=True)]
        if len(series.days) == 1:
            shapes.append(
                format_html(
                    '<rect x="{}" y="{}" width="40" height="{}" fill="{}" fill-opacity="0.8"></rect>',
                    _n(frame.x(0) - 20),
                    _n(frame.y(tops[0])),
                    _n(frame.y(bottoms[0]) - frame.y(tops[0])),
                    colour(index),
                )
            )
        else:
            edge = chain(
                ((xs[i], frame.y(t)) for i, t in enumerate(tops)),
                ((xs[i], frame.y(bottoms[i])) for i in reversed(range(len(bottoms)))),
            )
            shapes.append(
                format_html(
                    '<polygon points="{}" fill="{}" fill-opacity="0.8" stroke="none"></polygon>',
                    _points(edge),
                    colour(index),
                )
            )
        bottoms = tops
    legend = [(names.get(v.key, v.key), colour(i)) for i, v in enumerate(series.variants)]
    total = sum(day.visitors for day in series.allocation)
    shares = (
        ", ".join(
            f"{names.get(v.key, v.key)} {sum(day.shares[i] * day.visitors for day in series.allocation) / total:.0%}"
            for i, v in enumerate(series.variants)
        )
        if total
        else "no visitors yet"
    )
    desc = (
        f"Share of each day's visitors who saw each variant, stacked to 100 %, from {series.days[0].isoformat()}"
        f" to {series.days[-1].isoformat()}; a day without visitors is empty. Over the window: {shares}."
    )
    body = format_html("{}{}", _axes(frame, series.days, lambda v: f"{v:.0%}"), _joined(shapes))
    return _svg(chart_id, "Allocation: share of visitors per variant by day", desc, body, legend)
