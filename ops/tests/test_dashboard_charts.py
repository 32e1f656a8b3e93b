"""The dashboard's aging charts (API.md §13): inline SVG drawn on the server, for operators and staff."""
import re
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bnpl import dates
from debt.models import AgingSnapshot
from debt.services import sweep_overdue
from ops.charts import BarDatum, LinePoint, aging_bar_chart, compact_money, nice_ticks, overdue_line_chart
from ops.dashboard import charts as dashboard_charts
from plans.models import Installment, InstallmentStatus, Plan
from plans.tests.factories import minor
from users.tests.factories import CustomerFactory

HEALTH = "/api/v1/health/"
SVG = re.compile(r"<svg\b.*?</svg>", re.S)
NS = {"svg": "http://www.w3.org/2000/svg"}


def overdue_installments(merchant, count: int, amount: str = "1234.56") -> None:
    """``count`` OVERDUE installments spread over 1-200 days past due (rows written directly: the
    charts read what the overdue rule marked, not how it got there)."""
    user = CustomerFactory.create()
    plan = Plan.objects.create(user=user, merchant=merchant, total_amount=minor(amount) * max(count, 1),
                               installment_count=3, start_date=dates.business_today() - timedelta(days=300))
    today = dates.business_today()
    Installment.objects.bulk_create(
        Installment(plan=plan, user=user, sequence=seq, amount=minor(amount), status=InstallmentStatus.OVERDUE,
                    due_date=today - timedelta(days=1 + seq % 200))
        for seq in range(1, count + 1))


def parse(svg: str) -> ET.Element:
    """``svg`` as XML (a malformed one raises). Our own server-rendered markup, no entity or DTD."""
    assert "<!DOCTYPE" not in svg and "<!ENTITY" not in svg
    return ET.fromstring(svg)  # noqa: S314 - checked above: no DTD, our own markup


def svgs(html: str) -> list[ET.Element]:
    """Every inline SVG of the page, parsed as XML."""
    return [parse(chunk) for chunk in SVG.findall(html)]


def texts(svg: ET.Element) -> list[str]:
    return [t.text or "" for t in svg.iter(f"{{{NS['svg']}}}text")]


def page(client) -> str:
    r = client.get(HEALTH, HTTP_ACCEPT="text/html")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/html")
    return r.content.decode()


@pytest.mark.django_db
def test_svg_present_for_operator(operator_api, merchant):
    overdue_installments(merchant, 1)
    html = page(operator_api)
    charts = svgs(html)
    assert [svg.get("id") for svg in charts] == ["aging-chart", "overdue-history"]
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


@pytest.mark.django_db
def test_svg_present_for_staff_session(merchant):
    overdue_installments(merchant, 1)
    client = Client()
    client.force_login(get_user_model().objects.create_user("ops", password="pw", is_staff=True))
    assert len(svgs(page(client))) == 2


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["anonymous", "client", "merchant", "non-staff session"])
def test_svg_absent_for_anonymous_and_other_roles(who, make_api, merchant):
    overdue_installments(merchant, 1)
    if who == "anonymous":
        client = Client()
    elif who == "non-staff session":
        client = Client()
        client.force_login(get_user_model().objects.create_user("someone", password="pw"))
    else:
        client = make_api(who, merchant=merchant if who == "merchant" else None)
    html = page(client)
    assert "<svg" not in html and 'id="aging"' not in html


@pytest.mark.django_db
def test_json_health_has_no_charts(operator_api, merchant):
    overdue_installments(merchant, 1)
    body = operator_api.get(HEALTH, HTTP_ACCEPT="application/json").json()
    assert "charts" not in body and "<svg" not in str(body)


@pytest.mark.django_db
@pytest.mark.parametrize("count", [0, 1, 10_000])
def test_svg_well_formed_with_title_and_axis_labels(operator_api, merchant, count):
    overdue_installments(merchant, count)
    sweep_overdue()  # writes today's snapshot: one point on the line
    aging, history = svgs(page(operator_api))

    title = aging.find("svg:title", NS).text
    assert title.startswith("Overdue debt by days past due")
    assert f"{count:,} installments" in title
    assert {"Days past due (bucket)", "Outstanding (UZS)", "1-30", "31-60", "61-90", "91+"} <= set(texts(aging))
    assert history.find("svg:title", NS).text == "Overdue total, last 30 days"
    assert {"Business day", "Overdue (UZS)"} <= set(texts(history))
    # Every coordinate is a finite number (no division by zero, no NaN).
    for svg in (aging, history):
        for element in svg.iter():
            for name in ("x", "y", "width", "height", "cx", "cy", "x1", "y1", "x2", "y2"):
                if element.get(name) is not None:
                    assert re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", element.get(name)), (element.tag, name)
    bars = aging.findall("svg:rect", NS)
    if count == 0:
        assert bars == [] and "No overdue installments" in texts(aging)
    else:
        assert len(bars) == (1 if count == 1 else 4)
        # The highest bar stays inside the plot, under the top tick.
        assert min(float(bar.get("y")) for bar in bars) >= 16 - 0.1
    total = minor("1234.56") * count
    assert sum(1 for _ in history.iter(f"{{{NS['svg']}}}circle")) == 1
    assert f"Last: {total / 100:,.2f} UZS" in " ".join(texts(history))


@pytest.mark.django_db
def test_daily_snapshot_line_uses_the_snapshot_rows_with_bounded_queries(operator_api, merchant,
                                                                         django_assert_num_queries):
    overdue_installments(merchant, 3)
    today = dates.business_today()
    AgingSnapshot.objects.create(business_date=today, overdue_amount=minor("10.00"), installments=1,
                                 updated_at=dates.now())
    # The charts: the aging report's one grouped query and one read of the snapshot rows.
    with django_assert_num_queries(2):
        charts = dashboard_charts()
    assert charts.history_svg.count("<circle") == 1
    AgingSnapshot.objects.bulk_create(
        AgingSnapshot(business_date=today - timedelta(days=offset), overdue_amount=minor("10.00") * offset,
                      installments=offset, updated_at=dates.now()) for offset in range(1, 45))
    with django_assert_num_queries(2):
        charts = dashboard_charts()
    assert charts.history_svg.count("<circle") == 30  # the last 30 days only, one point per row

    with CaptureQueriesContext(connection) as queries:
        history = svgs(page(operator_api))[1]
    assert sum(1 for _ in history.iter(f"{{{NS['svg']}}}circle")) == 30
    assert len([q for q in queries.captured_queries if "debt_agingsnapshot" in q["sql"]]) == 1


def test_chart_builder_escapes_labels():
    svg = aging_bar_chart([BarDatum('<1-30 "&', 100, 1)], currency="<UZS>")
    root = parse(svg)
    assert '<1-30 "&' in texts(root)
    assert "Outstanding (<UZS>)" in texts(root)


def test_line_with_gaps_and_a_single_point():
    today = dates.business_today()
    points = [LinePoint(today - timedelta(days=29 - i), None if i in (5, 6) else 100 * i) for i in range(30)]
    root = parse(overdue_line_chart(points, currency="UZS"))
    assert len(root.findall("svg:polyline", NS)) == 2  # the gap splits the line
    single = parse(overdue_line_chart([LinePoint(today, 5)], currency="UZS"))
    assert len(single.findall("svg:circle", NS)) == 1 and single.findall("svg:polyline", NS) == []


@pytest.mark.parametrize(("top", "ticks"), [
    (0, [0, 100]), (1, [0, 1]), (7, [0, 2, 4, 6, 8]), (100, [0, 25, 50, 75, 100]),
    (123456, [0, 50000, 100000, 150000]), (1_234_560_000, [0, 500_000_000, 1_000_000_000, 1_500_000_000]),
])
def test_nice_ticks(top, ticks):
    assert nice_ticks(top) == ticks


@pytest.mark.parametrize(("minor_units", "text"), [
    (0, "0"), (5, "0.05"), (100, "1"), (123456, "1.23K"), (1_234_560_000, "12.3M"),
    (99_999_999_999, "1B"), (99_940_000, "999K"), (99_950_000, "1M"),
    (1_500_000_000_000, "15B"),
])
def test_compact_money(minor_units, text):
    assert compact_money(minor_units) == text
