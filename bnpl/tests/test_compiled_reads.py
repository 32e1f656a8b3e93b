"""The reads rendered by ``CompiledReadViewSet`` answer exactly what DRF's own rendering would.

Every view on it is listed here: its detail and its list, over objects in every state the
serializer shows (paid, refunded, overdue with days past due, a checkout, fees, no credit limit).
"""
import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from bnpl.serializers import CompiledReadViewSet
from merchants.api import MerchantSerializer, MerchantViewSet
from merchants.models import Merchant
from merchants.tests.factories import MerchantFactory
from plans.api import PlanSerializer, PlanViewSet
from plans.models import Installment, Plan
from plans.selectors import plan_queryset
from plans.services import plan_create
from plans.tests.factories import make_plan
from users.api import UserSerializer, UserViewSet
from users.models import Customer
from users.selectors import user_queryset, with_credit
from users.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def _drf(serializer_class, obj) -> dict:
    return json.loads(JSONRenderer().render(serializer_class(obj).data))


def test_every_compiled_viewset_is_held_here():
    assert {cls for cls in (UserViewSet, PlanViewSet, MerchantViewSet) if issubclass(cls, CompiledReadViewSet)} == \
        {cls for cls in CompiledReadViewSet.__subclasses__()}


def test_plans_detail_and_list_equal_drf(client_api, merchant):
    user = CustomerFactory.create()
    today = timezone.localdate()
    make_plan(user=user, merchant=merchant, total_amount="100.01", installment_count=12, start_date=today)
    checkout = plan_create(user=user, merchant=merchant, total_amount=50000, installment_count=3,
                           awaiting_consent=True).plan
    assert checkout is not None
    # Back-dated last (its overdue installments would refuse the others): overdue, days past due, a fee.
    paid = make_plan(user=user, merchant=merchant, total_amount="300.00", start_date=today - timedelta(days=90))
    Installment.objects.filter(plan=paid, sequence=1).update(paid_amount=10000, status="PAID", paid_at=timezone.now())
    Installment.objects.filter(plan=paid, sequence=2).update(fee_amount=500)
    assert Installment.objects.filter(plan=paid, status="OVERDUE").exists()
    plans = {str(p.pk): p for p in plan_queryset().filter(user=user)}
    for pk, plan in plans.items():
        response = client_api.get(f"/api/v1/plans/{pk}/")
        assert response.status_code == 200
        assert response.json() == _drf(PlanSerializer, plan)
    listed = client_api.get("/api/v1/plans/", {"user_id": str(user.pk)}).json()["results"]
    assert {row["id"] for row in listed} == set(plans)
    for row in listed:
        assert row == _drf(PlanSerializer, plans[row["id"]])


def test_users_detail_and_list_equal_drf(client_api):
    limited, debtor = CustomerFactory.create(), CustomerFactory.create()
    Customer.objects.filter(pk=limited.pk).update(credit_limit=None)
    make_plan(user=debtor, total_amount="900.00")
    Customer.objects.filter(pk=debtor.pk).update(status="DEBT_USER")
    users = {str(u.pk): u for u in with_credit(queryset=user_queryset())}
    for pk, user in users.items():
        response = client_api.get(f"/api/v1/users/{pk}/")
        assert response.status_code == 200
        assert response.json() == _drf(UserSerializer, user)
    listed = client_api.get("/api/v1/users/").json()["results"]
    assert {row["id"] for row in listed} == set(users)
    for row in listed:
        assert row == _drf(UserSerializer, users[row["id"]])
    assert Plan.objects.count() == 1


def test_merchants_detail_and_list_equal_drf(client_api):
    MerchantFactory.create_batch(2)
    merchants = {str(m.pk): m for m in Merchant.objects.defer("webhook_secret")}
    for pk, merchant in merchants.items():
        response = client_api.get(f"/api/v1/merchants/{pk}/")
        assert response.status_code == 200
        assert response.json() == _drf(MerchantSerializer, merchant)
    listed = client_api.get("/api/v1/merchants/").json()["results"]
    assert {row["id"] for row in listed} == set(merchants)
    for row in listed:
        assert row == _drf(MerchantSerializer, merchants[row["id"]])
