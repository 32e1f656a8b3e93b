"""Staff pages: read-only, and no personal data of the user (id only)."""
from datetime import timedelta

import pytest
from django.contrib.auth.models import User

from bnpl.dates import business_today
from debt.services import repayment_apply, sweep_overdue
from plans.tests.factories import make_plan
from users.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    return client


def test_admin_pages_show_ids_not_personal_data(staff_client):
    user = CustomerFactory(full_name="Zebediah Quux", phone_number="+998901112233")
    plan = make_plan(user=user, start_date=business_today() - timedelta(days=40))
    repayment = repayment_apply(user=user, amount=plan.total_amount // 2).repayment
    sweep_overdue()
    installment = plan.installments.first()
    pages = ["/admin/plans/plan/", f"/admin/plans/plan/{plan.pk}/change/", "/admin/plans/installment/",
             f"/admin/plans/installment/{installment.pk}/change/", "/admin/debt/repayment/",
             f"/admin/debt/repayment/{repayment.pk}/change/", "/admin/debt/sweeprun/"]
    for page in pages:
        r = staff_client.get(page)
        assert r.status_code == 200, page
        html = r.content.decode()
        assert "Zebediah" not in html and "901112233" not in html and "****2233" not in html, page
    assert str(user.pk) in staff_client.get(f"/admin/plans/plan/{plan.pk}/change/").content.decode()


@pytest.mark.parametrize("page", ["/admin/plans/plan/add/", "/admin/debt/repayment/add/", "/admin/debt/sweeprun/add/"])
def test_nothing_can_be_added(staff_client, page):
    assert staff_client.get(page).status_code == 403


def test_plans_cannot_be_edited_or_deleted(staff_client):
    plan = make_plan()
    r = staff_client.post(f"/admin/plans/plan/{plan.pk}/change/", {"status": "COMPLETED"})
    assert r.status_code == 403
    assert staff_client.post(f"/admin/plans/plan/{plan.pk}/delete/", {"post": "yes"}).status_code == 403
    plan.refresh_from_db()
    assert plan.status == "ACTIVE"
