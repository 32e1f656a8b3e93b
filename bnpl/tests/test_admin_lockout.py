"""Admin login lockout (API.md §9 v1.1, issue 15 item 8): five failures per username and address
lock that pair out for 15 minutes, through django-axes."""
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.test import Client
from django.test.utils import override_settings
from django.utils import timezone

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "a-good-staff-password-9"  # noqa: S105 - the test's own user


@pytest.fixture
def staff():
    return get_user_model().objects.create_user("staffer", password=PASSWORD, is_staff=True)


def _login(password: str, *, username: str = "staffer", address: str = "203.0.113.7", **extra):
    client = Client(REMOTE_ADDR=address, **extra)
    response = client.post(LOGIN, {"username": username, "password": password})
    return response, client


def _logged_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/admin/"


def test_five_failures_lock_the_username_from_that_address(staff):
    for _ in range(4):
        assert _login("wrong")[0].status_code == 200  # the form again, with its error
    assert _logged_in(_login(PASSWORD)[0])  # four failures: not yet locked; a success resets the count
    for _ in range(5):
        _login("wrong")
    locked, _ = _login(PASSWORD)
    assert not _logged_in(locked)
    assert locked.status_code == 429  # django-axes answers a locked login with 429
    # Only that pair: the same user from elsewhere, and another user from there, still log in.
    assert _logged_in(_login(PASSWORD, address="198.51.100.9")[0])
    get_user_model().objects.create_user("other", password=PASSWORD, is_staff=True)
    assert _logged_in(_login(PASSWORD, username="other")[0])


def test_the_lock_lifts_after_15_minutes(staff):
    for _ in range(5):
        _login("wrong")
    assert not _logged_in(_login(PASSWORD)[0])
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=14))
    assert not _logged_in(_login(PASSWORD)[0])
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=15, seconds=1))
    assert _logged_in(_login(PASSWORD)[0])


def test_behind_trusted_proxies_the_client_address_counts_and_a_forged_one_does_not(staff):
    with override_settings(BNPL_TRUSTED_PROXIES=1):
        # nginx appends the real client to whatever the client sent: only that last hop is trusted.
        for n in range(5):
            _login("wrong", address="10.0.0.2", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, 203.0.113.7")
        assert not _logged_in(_login(PASSWORD, address="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.7")[0])
        # Another client behind the same proxy is not locked out.
        assert _logged_in(_login(PASSWORD, address="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.9")[0])
