"""The only writers of API keys."""
from django.utils import timezone

from bnpl.authentication import forget_api_key
from bnpl.models import ApiKey, Role, hash_api_key


def api_key_create(*, role: str, name: str, merchant=None) -> tuple[ApiKey, str]:
    """Returns the key row and the raw key, which exists nowhere else afterwards."""
    if role not in Role.values:
        raise ValueError(f"role must be one of {', '.join(Role.values)}")
    if (role == Role.MERCHANT) != (merchant is not None):
        raise ValueError("a merchant key needs --merchant, and only a merchant key takes one")
    raw = ApiKey.generate_raw_key()
    api_key = ApiKey.objects.create(role=role, name=name, merchant=merchant, prefix=raw[:12],
                                    key_hash=hash_api_key(raw))
    return api_key, raw


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    # The cached record goes first (a tombstone every worker sees on its next request), so a
    # revocation that returns is in force everywhere; if Redis cannot be reached this raises
    # and the row is left as it was. If the row's write failed after it, the key would only
    # be refused early (until the tombstone expires), never accepted late.
    forget_api_key(api_key)
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key
