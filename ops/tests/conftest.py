import pytest

from ops import health


@pytest.fixture(autouse=True)
def _fresh_health_cache():
    """Each test sees its own database and settings, never a check result cached by the one before."""
    health.reset_cache()
    yield
    health.reset_cache()


NOT_OPERATORS = ["anonymous", "client", "merchant", "invalid key", "non-staff session"]


@pytest.fixture
def caller(make_api, merchant):
    """A client for each kind of caller that is neither an operator key nor a staff session."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    def build(who: str) -> Client:
        if who == "anonymous":
            return Client()
        if who == "invalid key":
            return Client(HTTP_AUTHORIZATION="Bearer bnpl_not-a-real-key")
        if who == "non-staff session":
            client = Client()
            client.force_login(get_user_model().objects.create_user("someone", password="pw"))
            return client
        return make_api(who, merchant=merchant if who == "merchant" else None)
    return build
