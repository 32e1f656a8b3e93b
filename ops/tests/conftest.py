import pytest

from ops import health


@pytest.fixture(autouse=True)
def _fresh_health_cache():
    """Each test sees its own database and settings, never a check result cached by the one before."""
    health.reset_cache()
    yield
    health.reset_cache()
