"""Charts for the health dashboard, drawn on the server as inline SVG (no script, no external resource).

A small builder: every text and attribute value goes through ``html.escape``, so the output is
well-formed XML whatever the labels hold. Scales start at 0 and end on a "nice" tick (1, 2, 2.5 or
5 times a power of ten), so 0, 1 and 10,000 overdue installments all read: with nothing to draw
the axis runs 0-1 and the chart says so, never dividing by zero. Amounts are minor units, shown
in major units, compactly on the axis (``1.5M``) and exactly in each mark's tooltip.
"""
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from html import escape

from bnpl.money import exponent, format_minor

# Narrow enough that the text stays readable on a 390 px phone (drawn about 1:1 there); the page
# caps the drawn width on wide screens.
WIDTH, HEIGHT = 380, 250
LEFT, RIGHT, TOP, BOTTOM = 52, 14, 16, 62  # plot margins: y tick labels left, x labels below
FONT = 'font-family="system-ui, -apple-system, Segoe UI, sans-serif"'
INK, MUTED, GRID, BAR, LINE = "#1d2330", "#5c6370", "#dfe3ea", "#c2410c", "#1d4ed8"


def nice_ticks(top_value: int, count: int = 4) -> list[int]:
    """Ticks from 0 to a nice bound >= ``top_value`` (minor units), ``count`` steps or fewer.
    Steps are 1, 2, 2.5 or 5 times a power of ten of the major unit (or of the minor unit when
    the values are below one major unit)."""
    if top_value <= 0:
        return [0, 10 ** exponent()]  # nothing to show: 0 to one major unit
    raw = Decimal(top_value) / count
    power = Decimal(10) ** (len(str(int(raw))) - 1) if raw >= 1 else Decimal(1)
    for factor in (1, 2, Decimal("2.5"), 5, 10):
        step = power * factor
        if step >= raw:
            break
    step_int = max(1, int(step))
    steps = -(-top_value // step_int)  # ceiling
    return [step_int * i for i in range(steps + 1)]


def display_money(minor: int) -> str:
    """Exact, with thousands separated for reading: ``3101560000`` -> ``31,015,600.00``."""
    places = exponent()
    return f"{Decimal(int(minor)).scaleb(-places):,.{places}f}"


def compact_money(minor: int) -> str:
    """``123456789`` (minor units of a 2-place currency) -> ``1.23M``; exact below a thousand."""
    major = Decimal(int(minor)).scaleb(-exponent())
    for divisor, suffix in ((10 ** 12, "T"), (10 ** 9, "B"), (10 ** 6, "M"), (10 ** 3, "K")):
        if abs(major) >= divisor * Decimal("0.9995"):  # 999,999 reads 1M, not 1000K
            scaled = major / divisor
            places = 0 if abs(scaled) >= 100 else 1 if abs(scaled) >= 10 else 2
            text = str(scaled.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))
            return (text.rstrip("0").rstrip(".") if "." in text else text) + suffix
    text = format_minor(minor)
    return text.rstrip("0").rstrip(".") if "." in text else text


def _count(n: int) -> str:
    return f"{n:,}"


def _text(x: float, y: float, content: str, *, size: int = 12, anchor: str = "middle", fill: str = INK,
          weight: str = "normal", extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}" '
            f'font-weight="{weight}"{extra}>{escape(content)}</text>')


def _frame(title: str, desc: str, body: list[str], chart_id: str) -> str:
    return "".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" id="{escape(chart_id)}" {FONT} '
        f'class="chart">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>',
        *body,
        "</svg>",
    ])


def _y_axis(ticks: list[int], label: str) -> tuple[list[str], float]:
    """Grid lines and labels of the value axis; returns them and the pixels per minor unit."""
    plot_h = HEIGHT - TOP - BOTTOM
    scale = plot_h / ticks[-1]
    parts = []
    for tick in ticks:
        y = HEIGHT - BOTTOM - tick * scale
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="{GRID}" '
                     f'stroke-width="1"/>')
        parts.append(_text(LEFT - 6, y + 4, compact_money(tick), size=11, anchor="end", fill=MUTED))
    mid = TOP + plot_h / 2
    parts.append(_text(13, mid, label, size=12, fill=MUTED, extra=f' transform="rotate(-90 13 {mid:.1f})"'))
    parts.append(f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}" '
                 f'stroke="{INK}" stroke-width="1"/>')
    return parts, scale


@dataclass(frozen=True)
class BarDatum:
    label: str
    amount: int  # minor units
    installments: int


def aging_bar_chart(bars: Sequence[BarDatum], *, currency: str, chart_id: str = "aging-chart") -> str:
    """Outstanding overdue amount per aging bucket, the installment count under each bucket."""
    total = sum(bar.amount for bar in bars)
    count = sum(bar.installments for bar in bars)
    title = "Overdue debt by days past due"
    desc = "; ".join(f"{bar.label} days: {format_minor(bar.amount)} {currency}, {_count(bar.installments)} "
                     "installments" for bar in bars) or "no buckets"
    ticks = nice_ticks(max((bar.amount for bar in bars), default=0))
    parts, scale = _y_axis(ticks, f"Outstanding ({currency})")
    plot_w = WIDTH - LEFT - RIGHT
    band = plot_w / max(1, len(bars))
    base = HEIGHT - BOTTOM
    small = max(7, min(11, int(band / 7)))  # many buckets: smaller labels rather than overlapping ones
    for index, bar in enumerate(bars):
        centre = LEFT + band * (index + 0.5)
        height = bar.amount * scale
        width = band * 0.6
        tip = (f"{bar.label} days past due: {format_minor(bar.amount)} {currency}, "
               f"{_count(bar.installments)} installments")
        if bar.amount > 0:
            parts.append(f'<rect x="{centre - width / 2:.1f}" y="{base - height:.1f}" width="{width:.1f}" '
                         f'height="{height:.1f}" fill="{BAR}"><title>{escape(tip)}</title></rect>')
            parts.append(_text(centre, base - height - 4, compact_money(bar.amount), size=small, weight="600"))
        parts.append(_text(centre, base + 16, bar.label, size=small + 1, weight="600"))
        parts.append(_text(centre, base + 30, f"{_count(bar.installments)} inst.", size=small, fill=MUTED))
    parts.append(_text(LEFT + plot_w / 2, HEIGHT - 8, "Days past due (bucket)", size=12, fill=MUTED))
    if count == 0:
        parts.append(_text(LEFT + plot_w / 2, TOP + (base - TOP) / 2, "No overdue installments", size=14,
                           fill=MUTED))
    return _frame(f"{title}: {display_money(total)} {currency} in {_count(count)} installments", desc, parts,
                  chart_id)


@dataclass(frozen=True)
class LinePoint:
    day: date
    amount: int | None  # minor units; None: no snapshot that day


def overdue_line_chart(points: Sequence[LinePoint], *, currency: str, chart_id: str = "overdue-history") -> str:
    """The overdue total of each day (one point per daily snapshot); days without one are gaps."""
    known = [(p.day, p.amount) for p in points if p.amount is not None]
    title = f"Overdue total, last {len(points)} days"
    desc = "; ".join(f"{day.isoformat()}: {format_minor(amount)} {currency}" for day, amount in known) or "no snapshots"
    ticks = nice_ticks(max((amount for _, amount in known), default=0))
    parts, scale = _y_axis(ticks, f"Overdue ({currency})")
    plot_w = WIDTH - LEFT - RIGHT
    base = HEIGHT - BOTTOM
    step = plot_w / max(1, len(points) - 1)

    def x_of(index: int) -> float:
        return LEFT + (step * index if len(points) > 1 else plot_w / 2)

    segment: list[str] = []
    segments: list[list[str]] = []
    for index, point in enumerate(points):
        if point.amount is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        segment.append(f"{x_of(index):.1f},{base - point.amount * scale:.1f}")
    if segment:
        segments.append(segment)
    for line in segments:
        if len(line) > 1:
            parts.append(f'<polyline points="{" ".join(line)}" fill="none" stroke="{LINE}" stroke-width="2" '
                         'stroke-linejoin="round"/>')
    for index, point in enumerate(points):
        if point.amount is not None:
            tip = f"{point.day.isoformat()}: {format_minor(point.amount)} {currency}"
            parts.append(f'<circle cx="{x_of(index):.1f}" cy="{base - point.amount * scale:.1f}" r="2.8" '
                         f'fill="{LINE}"><title>{escape(tip)}</title></circle>')
    label_every = max(1, -(-len(points) // 5))
    for index in range(len(points) - 1, -1, -label_every):  # the last day always labelled
        parts.append(f'<line x1="{x_of(index):.1f}" y1="{base}" x2="{x_of(index):.1f}" y2="{base + 4}" '
                     f'stroke="{INK}"/>')
        anchor = "end" if index == len(points) - 1 and len(points) > 1 else "start" if index == 0 else "middle"
        parts.append(_text(x_of(index) + (4 if anchor == "end" else 0), base + 17, f"{points[index].day:%d %b}",
                           size=11, fill=MUTED, anchor=anchor))
    parts.append(_text(LEFT + plot_w / 2, HEIGHT - 24, "Business day", size=12, fill=MUTED))
    if known:
        last_day, last_amount = known[-1]
        parts.append(_text(LEFT + plot_w / 2, HEIGHT - 8, f"Last: {display_money(last_amount)} {currency} on "
                                                          f"{last_day.isoformat()}", size=11, fill=INK))
    else:
        parts.append(_text(LEFT + plot_w / 2, TOP + (base - TOP) / 2, "No daily snapshots yet", size=14,
                           fill=MUTED))
    return _frame(title, desc, parts, chart_id)
