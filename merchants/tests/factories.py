import factory

from merchants.models import Merchant, generate_webhook_secret


class MerchantFactory(factory.django.DjangoModelFactory[Merchant]):
    class Meta:
        model = Merchant

    name = factory.Sequence(lambda n: f"Merchant {n}")
    webhook_secret = factory.LazyFunction(generate_webhook_secret)
