"""The only writers of customers."""
from datetime import date

from django.db import IntegrityError, transaction

from bnpl import dates
from bnpl.crypto import lookup_hash
from bnpl.errors import DuplicateUser, ValidationFailed
from bnpl.masking import mask_card, mask_date_of_birth, mask_passport, mask_phone
from users.locks import user_lock
from users.models import Customer, UserStatus
from users.validators import age_on

ADULT_AGE = 18


def _set_phone(user: Customer, e164: str) -> None:
    user.phone_number, user.phone_hash, user.phone_mask = e164, lookup_hash(e164), mask_phone(e164)


def _set_card(user: Customer, digits: str | None) -> None:
    user.card_number, user.card_mask = digits, mask_card(digits)


def user_create(*, full_name: str, phone_number: str, passport_number: str, date_of_birth: date,
                card_number: str | None = None) -> Customer:
    """Arguments are already normalised (see ``users.validators``)."""
    if age_on(date_of_birth, dates.business_today()) < ADULT_AGE:
        raise ValidationFailed("date_of_birth", "The user must be at least 18 years old.", "underage")
    passport_hash = lookup_hash(passport_number)
    user = Customer(
        full_name=full_name,
        passport_number=passport_number,
        passport_hash=passport_hash,
        passport_mask=mask_passport(passport_number),
        date_of_birth=date_of_birth.isoformat(),
        date_of_birth_mask=mask_date_of_birth(date_of_birth),
    )
    _set_phone(user, phone_number)
    _set_card(user, card_number)
    if Customer.objects.filter(passport_hash=passport_hash).exists():
        raise DuplicateUser()
    try:
        with transaction.atomic():
            user.save(force_insert=True)
    except IntegrityError:
        # Two creations raced past the check: the unique constraint decides.
        raise DuplicateUser() from None
    return user


_UNSET = object()


@transaction.atomic
def user_update(*, user: Customer, full_name: str | None = None, phone_number: str | None = None,
                card_number=_UNSET) -> Customer:
    """Contact and card only; ``status`` is never written here. ``card_number=None`` removes the card."""
    user = user_lock(user.pk)  # the new values are encrypted on save; the old ones are never loaded
    fields = ["updated_at"]
    if full_name is not None:
        user.full_name = full_name
        fields.append("full_name")
    if phone_number is not None:
        _set_phone(user, phone_number)
        fields += ["phone_number", "phone_hash", "phone_mask"]
    if card_number is not _UNSET:
        _set_card(user, card_number)
        fields += ["card_number", "card_mask"]
    user.save(update_fields=fields)
    return user


def user_status_set(*, user: Customer, status: UserStatus) -> None:
    """Record the debt rule's verdict on ``user`` (whose row the caller has locked); writes only
    when it changes. The rule itself is ``plans.installments.debt_status_refresh``."""
    if user.status != status:
        user.status = status
        Customer.objects.filter(pk=user.pk).update(status=status)
