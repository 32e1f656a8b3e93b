"""Customers built through the service, so masks and hashes are always right."""
import datetime

import factory

from users import services
from users.models import Customer


def _phone(n: int) -> str:
    return f"+99890{n % 10_000_000:07d}"


def _passport(n: int) -> str:
    return f"AB{n:07d}"


class CustomerFactory(factory.django.DjangoModelFactory[Customer]):
    class Meta:
        model = Customer

    full_name = factory.Sequence(lambda n: f"Customer {n}")
    phone_number = factory.Sequence(_phone)
    passport_number = factory.Sequence(_passport)
    date_of_birth = datetime.date(1990, 5, 17)
    card_number = "4111111111111111"

    @classmethod
    def _create(cls, model_class, *args, status=None, **kwargs):
        user = services.user_create(**kwargs)
        if status is not None:
            model_class.objects.filter(pk=user.pk).update(status=status)
            user.status = status
        return user


def user_payload(n: int = 0, **overrides) -> dict:
    """A valid POST /api/v1/users/ body; ``n`` varies phone and passport."""
    body = {"full_name": f"John Doe {n}", "phone_number": f"+99891{n % 10_000_000:07d}",
            "passport_number": f"AA{n:07d}", "date_of_birth": "1990-05-17", "card_number": "4111 1111 1111 1111"}
    body.update(overrides)
    return body
