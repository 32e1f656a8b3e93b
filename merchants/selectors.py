from django.db.models import QuerySet

from bnpl.models import ApiKey
from bnpl.permissions import scoped_to_caller
from merchants.models import Merchant


def merchants_visible_to(*, api_key: ApiKey) -> QuerySet[Merchant]:
    """A merchant key sees only its own merchant; clients and operators see all."""
    return scoped_to_caller(Merchant.objects.defer("webhook_secret"), api_key, merchant_field="pk")
