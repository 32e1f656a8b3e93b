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


def _assert_detail_and_list_equal_drf(api, path: str, serializer_class, objects, **list_params) -> None:
    """Each of ``objects`` (as loaded by the ORM) at ``path<id>/`` and in the list at ``path``."""
    expected = {str(obj.pk): _drf(serializer_class, obj) for obj in objects}
    for pk, shown in expected.items():
        response = api.get(f"{path}{pk}/")
        assert response.status_code == 200
        assert list(response.json().items()) == list(shown.items())  # the same keys in the same order
    listed = api.get(path, list_params).json()["results"]
    assert {row["id"]: row for row in listed} == expected


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
    _assert_detail_and_list_equal_drf(client_api, "/api/v1/plans/", PlanSerializer,
                                      plan_queryset().filter(user=user), user_id=str(user.pk))


def test_users_detail_and_list_equal_drf(client_api):
    limited, debtor = CustomerFactory.create(), CustomerFactory.create()
    Customer.objects.filter(pk=limited.pk).update(credit_limit=None)
    make_plan(user=debtor, total_amount="900.00")
    Customer.objects.filter(pk=debtor.pk).update(status="DEBT_USER")
    _assert_detail_and_list_equal_drf(client_api, "/api/v1/users/", UserSerializer,
                                      with_credit(queryset=user_queryset()))
    assert Plan.objects.count() == 1


def test_merchants_detail_and_list_equal_drf(client_api):
    MerchantFactory.create_batch(2)
    _assert_detail_and_list_equal_drf(client_api, "/api/v1/merchants/", MerchantSerializer,
                                      Merchant.objects.defer("webhook_secret"))
