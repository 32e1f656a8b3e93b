"""The address an admin login lockout counts against (django-axes, API.md §9 v1.1).

Five failed logins for one username from one address lock that pair out for 15 minutes
(``AXES_*`` in the settings). Behind our own proxies (nginx, an Ingress) ``REMOTE_ADDR`` is
the proxy's, so with ``BNPL_TRUSTED_PROXIES=N`` the client is the N-th address from the right
of ``X-Forwarded-For``: the ones our proxies appended. Anything further left came from the
client and could be forged to dodge the lockout, so it is never used.
"""
from django.conf import settings


def client_ip(request) -> str | None:
    trusted = getattr(settings, "BNPL_TRUSTED_PROXIES", 0)
    if trusted > 0:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        if len(hops) >= trusted:
            return hops[-trusted]
    return request.META.get("REMOTE_ADDR")
