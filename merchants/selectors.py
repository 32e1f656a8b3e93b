from django.db.models import QuerySet

from bnpl.models import ApiKey
from merchants.models import Merchant


def merchants_visible_to(api_key: ApiKey) -> QuerySet[Merchant]:
    """A merchant key sees only its own merchant; clients and operators see all."""
    qs = Merchant.objects.defer("webhook_secret")
    if api_key.merchant_id is not None:
        qs = qs.filter(pk=api_key.merchant_id)
    return qs
