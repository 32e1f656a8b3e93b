"""The health document as the HTML dashboard shows it: rows of readable values, never Python reprs.

Nested objects become their own rows (a definition list inside the card, full width);
timestamps become a date-time in ``BNPL_TIME_ZONE`` plus how long ago; booleans and nulls
read as JSON does (``true``, ``false``, ``–``), lists as comma-separated items.
"""
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from debt.aging import aging_report, overdue_history
from ops.charts import BarDatum, LinePoint, aging_bar_chart, display_money, overdue_line_chart

TIMESTAMP_KEYS = ("time", "started_at", "finished_at", "running_since")


@dataclass
class Row:
    label: str
    value: str = ""
    rows: list["Row"] = field(default_factory=list)  # a nested object: its own rows


@dataclass
class Card:
    key: str
    name: str
    status: str
    rows: list[Row]

    @property
    def nested(self) -> bool:
        return any(row.rows for row in self.rows)


def ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 172800:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def local_time(iso: str, now: datetime) -> str:
    moment = datetime.fromisoformat(iso)
    local = moment.astimezone(ZoneInfo(settings.BNPL_TIME_ZONE))
    return f"{local:%Y-%m-%d %H:%M:%S} ({ago((now - moment).total_seconds())})"


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:g} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def value_text(key: str, value, now: datetime) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value) if value else "none"
    if key in TIMESTAMP_KEYS and isinstance(value, str):
        try:
            return local_time(value, now)
        except ValueError:
            return value
    if key.endswith("_ms") and isinstance(value, int | float):
        return f"{value:g} ms"
    if key.endswith("_seconds") and isinstance(value, int | float):
        return duration(value)
    return str(value)


def label(key: str) -> str:
    for suffix in ("_ms", "_seconds"):
        if key.endswith(suffix):
            key = key[: -len(suffix)]
    return key.replace("_", " ")


def rows_of(data: dict, now: datetime) -> list[Row]:
    rows = []
    for key, value in data.items():
        if key == "status":
            continue
        if isinstance(value, dict):
            rows.append(Row(label(key), rows=rows_of(value, now)))
        else:
            rows.append(Row(label(key), value_text(key, value, now)))
    return rows


@dataclass
class Charts:
    """The operators' charts (API.md §13): aging bars now, the overdue total of the last 30 days."""

    aging_svg: SafeString
    history_svg: SafeString
    buckets: list[dict]  # the same figures as a table under the chart
    total_overdue: str
    currency: str


HISTORY_DAYS = 30


def charts() -> Charts:
    """Two queries: the aging report's grouped one, and the last 30 daily snapshots (never the
    history of the installments). The SVG builder escapes every text, so marking it safe is sound."""
    currency = settings.BNPL_CURRENCY
    report = aging_report()
    history = overdue_history(days=HISTORY_DAYS)
    bars = [BarDatum(row.bucket, row.amount, row.installments) for row in report.buckets]
    return Charts(
        aging_svg=mark_safe(aging_bar_chart(bars, currency=currency)),  # noqa: S308 - escaped by ops.charts
        history_svg=mark_safe(overdue_line_chart(  # noqa: S308 - escaped by ops.charts
            [LinePoint(point.day, point.amount) for point in history], currency=currency)),
        buckets=[{"bucket": row.bucket, "installments": f"{row.installments:,}", "users": f"{row.users:,}",
                  "amount": display_money(row.amount)} for row in report.buckets],
        total_overdue=display_money(report.total_overdue),
        currency=currency,
    )


def present(body: dict, charts: Charts | None = None) -> dict:
    """The template's context: the overall status, the cards, the figures, the time."""
    now = timezone.now()
    cards = [Card(name, name.replace("_", " "), check["status"], rows_of(check, now))
             for name, check in body["checks"].items()]
    figures = body.get("figures")
    return {
        "status": body["status"],
        "version": body["version"],
        "time": value_text("time", body["time"], now),
        "time_zone": settings.BNPL_TIME_ZONE,
        "cards": cards,
        "check_ids": list(body["checks"]),
        "figures": figures if figures and "users_in_debt" in figures else None,
        "detailed": any(card.rows for card in cards),
        "charts": charts,
    }
