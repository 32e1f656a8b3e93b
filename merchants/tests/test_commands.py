"""manage.py create_merchant prints the id and the secret."""
import io
import re

import pytest
from django.core.management import call_command

from merchants.models import Merchant
from merchants.tests.test_services import assert_webhook_secret

pytestmark = pytest.mark.django_db


def test_create_merchant_prints_id_and_secret():
    out = io.StringIO()
    call_command("create_merchant", "--name", "Corner Shop", stdout=out)
    text = out.getvalue()
    merchant_id = re.search(r"^id: (\S+)$", text, re.M).group(1)
    secret = re.search(r"^webhook_secret: (\S+)$", text, re.M).group(1)
    merchant = Merchant.objects.get()
    assert str(merchant.id) == merchant_id and merchant.name == "Corner Shop"
    assert merchant.webhook_secret == secret
    assert_webhook_secret(secret)
