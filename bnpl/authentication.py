"""``Authorization: Bearer <api key>`` for every ``/api/v1/`` endpoint."""
from django.utils import timezone
from rest_framework import authentication, exceptions

from bnpl.actor import API_KEY, set_request_actor
from bnpl.models import ApiKey, hash_api_key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header:
            return None
        if header[0].lower() != self.keyword.lower().encode() or len(header) != 2:
            raise exceptions.AuthenticationFailed("Use 'Authorization: Bearer <api key>'.")
        try:
            raw_key = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid API key.") from None
        api_key = (ApiKey.objects.select_related("merchant")
                   .filter(key_hash=hash_api_key(raw_key)).first())
        if api_key is None or (api_key.revoked_at is not None and api_key.revoked_at <= timezone.now()):
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        set_request_actor(API_KEY, api_key.name)  # who is recorded on status history (bnpl/actor.py)
        return api_key, api_key

    def authenticate_header(self, request) -> str:
        # Non-empty, so DRF answers 401 (not 403) when the key is missing or bad.
        return self.keyword
