"""Admin actions decide refunds through the same services as the API."""

import pytest
from django.contrib.auth import get_user_model

from plans.models import Plan
from plans.tests.factories import make_plan, minor
from refunds.models import Refund, RefundStatus
from refunds.services import refund_cancel
from refunds.tests.factories import make_refund

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw")
    client.force_login(user)
    client.user = user
    return client


@pytest.mark.parametrize("action, status", [("approve", RefundStatus.APPROVED), ("reject", RefundStatus.REJECTED)])
def test_admin_actions_decide_pending_refunds_and_skip_decided_ones(staff_client, action, status):
    plan = make_plan(total_amount="1000.00")
    pending = make_refund(plan=plan, amount="100.00")
    withdrawn = make_refund(plan=plan, amount="50.00")
    refund_cancel(refund=withdrawn, decided_by="t")

    r = staff_client.post("/admin/refunds/refund/", {"action": action, "_selected_action": [pending.pk, withdrawn.pk]},
                          follow=True)

    assert r.status_code == 200
    pending.refresh_from_db()
    assert pending.status == status and pending.decided_by == f"admin:{staff_client.user.pk}"
    assert Refund.objects.get(pk=withdrawn.pk).status == RefundStatus.CANCELLED
    messages = [str(m) for m in r.context["messages"]]
    assert any("1 refund(s)" in m for m in messages) and any("not PENDING" in m for m in messages)
    expected = minor("100.00") if action == "approve" else minor("0.00")
    assert Plan.objects.get(pk=plan.pk).refunded_amount == expected


def test_admin_pages_render(staff_client):
    refund = make_refund(plan=make_plan())
    assert staff_client.get("/admin/refunds/refund/").status_code == 200
    assert staff_client.get(f"/admin/refunds/refund/{refund.pk}/change/").status_code == 200
    assert staff_client.get("/admin/webhooks/webhookevent/").status_code == 200
