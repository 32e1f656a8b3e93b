from uuid import UUID

from django.db.models import QuerySet

from bnpl.models import ApiKey
from bnpl.permissions import VisibleById, scoped_to_caller
from merchants.models import Merchant


def merchants_visible_to(*, api_key: ApiKey) -> QuerySet[Merchant]:
    """A merchant key sees only its own merchant; clients and operators see all."""
    return scoped_to_caller(_merchants(), api_key, merchant_field="pk")


def _merchants() -> QuerySet[Merchant]:
    return Merchant.objects.defer("webhook_secret")


_VISIBLE = VisibleById(Merchant, _merchants, merchant_field="pk")


def merchant_by_id(*, pk: UUID | str) -> Merchant | None:
    """``Merchant.objects.defer("webhook_secret").filter(pk=pk).first()``, prepared."""
    return _VISIBLE.unscoped(pk)


def merchant_visible_to(*, api_key: ApiKey, pk: UUID | str) -> Merchant | None:
    """``merchants_visible_to(api_key=api_key).filter(pk=pk).first()``, its SQL built once (``bnpl.prepared``)."""
    return _VISIBLE.get(pk, api_key=api_key)
