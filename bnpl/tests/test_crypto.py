"""Field encryption at rest and key rotation (API.md §4, §10)."""
import io
from datetime import date

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection

from bnpl import crypto
from merchants.models import Merchant
from merchants.services import merchant_create
from users.models import Customer
from users.services import user_create
from users.tests.factories import user_payload

pytestmark = pytest.mark.django_db

OLD_KEY = "3l8lTdPkLZVZ1B5l3yMN5x6LmkV4t9DXtT9HfPQ7cUg="  # the test settings' key
PERSON = {"full_name": "Jane Roe", "phone_number": "+998917654321", "passport_number": "KZ9876543",
          "date_of_birth": date(1985, 11, 23), "card_number": "5500005555555559"}
# The raw values and the parts the masks hide.
SECRETS = ["+998917654321", "998917654321", "917654321", "76543", "KZ9876543", "9876543", "1985-11-23", "11-23",
           "5500005555555559", "00005555"]


def _raw_row(table: str, pk) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE id = %s", [pk])  # noqa: S608 - fixed table names
        return repr(cursor.fetchone())


def test_encrypt_decrypt_roundtrip_is_not_plaintext():
    token = crypto.encrypt("+998917654321")
    assert "998917654321" not in token
    assert crypto.decrypt(token) == "+998917654321"
    assert crypto.encrypt("x") != crypto.encrypt("x")  # randomized


def test_decrypt_with_unknown_key_raises_without_the_value(settings):
    token = crypto.encrypt("KZ9876543")
    settings.BNPL_FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(crypto.DecryptionError) as info:
        crypto.decrypt(token)
    assert "KZ9876543" not in str(info.value) and token not in str(info.value)


def test_empty_configuration_is_refused(settings):
    settings.BNPL_FIELD_ENCRYPTION_KEYS = []
    with pytest.raises(ImproperlyConfigured):
        crypto.encrypt("x")
    settings.BNPL_LOOKUP_HASH_KEY = ""
    with pytest.raises(ImproperlyConfigured):
        crypto.lookup_hash("x")


def test_lookup_hash_is_keyed(settings):
    first = crypto.lookup_hash("AA1234567")
    assert first == crypto.lookup_hash("AA1234567") and "AA1234567" not in first
    settings.BNPL_LOOKUP_HASH_KEY = "another-key"
    assert crypto.lookup_hash("AA1234567") != first


def test_raw_user_row_holds_no_plaintext_personal_data():
    user = user_create(**PERSON)
    row = _raw_row("users_customer", user.id)
    for secret in SECRETS:
        assert secret not in row, secret
    assert "+998****4321" in row and "KZ*******" in row and "5500 **** **** 5559" in row and "1985-**-**" in row


def test_raw_merchant_row_holds_no_secret():
    merchant = merchant_create(name="Shop")
    row = _raw_row("merchants_merchant", merchant.id)
    assert merchant.webhook_secret not in row and "whsec_" not in row
    assert Merchant.objects.get(pk=merchant.pk).webhook_secret == merchant.webhook_secret


def _read_all(user_id, merchant_id):
    user = Customer.objects.get(pk=user_id)
    return ((user.phone_number, user.passport_number, user.date_of_birth, user.card_number),
            Merchant.objects.get(pk=merchant_id).webhook_secret)


def test_key_rotation_keeps_old_rows_readable_and_rotate_command_reencrypts(settings, client_api):
    user = user_create(**PERSON)
    merchant = merchant_create(name="Shop")
    hashes = (user.phone_hash, user.passport_hash)
    expected = (("+998917654321", "KZ9876543", "1985-11-23", "5500005555555559"), merchant.webhook_secret)
    before = _raw_row("users_customer", user.id)

    new_key = Fernet.generate_key().decode()
    settings.BNPL_FIELD_ENCRYPTION_KEYS = [new_key, OLD_KEY]
    assert _read_all(user.id, merchant.id) == expected  # old rows decrypt under [new, old]

    out = io.StringIO()
    call_command("rotate_field_keys", stdout=out)
    assert "users.Customer: 1 rows re-encrypted" in out.getvalue()
    assert _raw_row("users_customer", user.id) != before

    settings.BNPL_FIELD_ENCRYPTION_KEYS = [new_key]  # the old key is gone
    assert _read_all(user.id, merchant.id) == expected
    user.refresh_from_db()
    assert (user.phone_hash, user.passport_hash) == hashes  # lookup hashes do not depend on the keys
    r = client_api.get("/api/v1/users/", {"phone_number": "+998917654321"})
    assert [u["id"] for u in r.json()["results"]] == [str(user.id)]

    settings.BNPL_FIELD_ENCRYPTION_KEYS = [OLD_KEY]  # and the old key alone no longer decrypts
    with pytest.raises(crypto.DecryptionError):
        _read_all(user.id, merchant.id)


def test_rotation_handles_many_rows_and_null_cards(settings):
    from bnpl.management.commands import rotate_field_keys

    ids = [user_create(**{**PERSON, **_person(n)}).id for n in range(5)]
    new_key = Fernet.generate_key().decode()
    settings.BNPL_FIELD_ENCRYPTION_KEYS = [new_key, OLD_KEY]
    original, rotate_field_keys.BATCH = rotate_field_keys.BATCH, 2  # force several batches
    try:
        assert rotate_field_keys.rotate_table(Customer, Customer.ENCRYPTED_FIELDS) == 5
    finally:
        rotate_field_keys.BATCH = original
    settings.BNPL_FIELD_ENCRYPTION_KEYS = [new_key]
    cards = [Customer.objects.get(pk=pk).card_number for pk in ids]
    assert cards.count(None) == 2 and cards.count("4111111111111111") == 3


def _person(n: int) -> dict:
    payload = user_payload(100 + n)
    return {"phone_number": payload["phone_number"], "passport_number": payload["passport_number"],
            "card_number": None if n % 2 else "4111111111111111"}


def test_rotation_covers_every_encrypted_column():
    from bnpl.management.commands.rotate_field_keys import encrypted_targets
    targets = {model._meta.label: set(fields) for model, fields in encrypted_targets()}
    assert targets["users.Customer"] == set(Customer.ENCRYPTED_FIELDS)
    assert targets["merchants.Merchant"] == {"webhook_secret"}
    assert targets["bnpl.IdempotencyRecord"] == {"response_body"}
