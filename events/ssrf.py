"""Where a webhook may be sent: public addresses only (server-side request forgery).

A URL is checked when an endpoint is created and again at every delivery. At delivery the
host is resolved once, every address is checked, and the connection is made to one of those
checked addresses (with the URL's host name for ``Host``, SNI and certificate checks), so a
DNS answer that changes between the check and the connect (DNS rebinding) cannot redirect
the request to an internal address. ``BNPL_WEBHOOK_ALLOW_PRIVATE`` turns the address check
off (a deployment whose receivers live on its private network; the tests' local receivers).
"""
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

MAX_URL_LENGTH = 2048

# Networks that ``ipaddress``'s flags do not all cover (``is_global`` is True for multicast).
_REFUSED_V4 = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32")]


class UnsafeUrl(ValueError):
    """The URL may not be used; ``code`` and the message are safe to show to its owner."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str        # the name in the URL (Host header, SNI, certificate check)
    port: int
    path: str        # path and query, as sent in the request line
    addresses: tuple[str, ...]  # checked addresses to connect to, in resolver order


def address_refused(address: str) -> str | None:
    """Why ``address`` is not a public unicast address, or None when it is."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return address_refused(str(embedded))
    checks = (("loopback", ip.is_loopback), ("unspecified", ip.is_unspecified),
              ("link_local", ip.is_link_local), ("multicast", ip.is_multicast),
              ("private", ip.is_private), ("reserved", ip.is_reserved))
    for name, hit in checks:
        if hit:
            return name
    if isinstance(ip, ipaddress.IPv4Address) and any(ip in net for net in _REFUSED_V4):
        return "non_public"
    if not ip.is_global:  # CGNAT 100.64/10, IPv6 documentation, ULA fc00::/7, ...
        return "non_public"
    return None


def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (a literal IP resolves to itself). Patched by the tests."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = str(sockaddr[0])  # the host of an AF_INET/AF_INET6 address (its port is [1])
        if address not in seen:
            seen.append(address)
    return seen


def parse(url: str) -> tuple[str, str, int, str]:
    """Scheme, host, port and request path of an acceptable URL, else :class:`UnsafeUrl`."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH or not url.isascii():
        raise UnsafeUrl("invalid_url", f"Must be an absolute ASCII URL of at most {MAX_URL_LENGTH} characters.")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise UnsafeUrl("invalid_url", "Must not contain whitespace or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeUrl("invalid_url", "Not a valid URL.") from None
    allowed = ("https", "http") if settings.DEBUG else ("https",)
    if parts.scheme not in allowed:
        raise UnsafeUrl("insecure_scheme", "Must be an https URL." if not settings.DEBUG
                        else "Must be an http or https URL.")
    if not parts.hostname:
        raise UnsafeUrl("invalid_url", "Must name a host.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("invalid_url", "Must not carry credentials.")
    if parts.fragment:
        raise UnsafeUrl("invalid_url", "Must not have a fragment.")
    port = port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port, path


def check(url: str) -> Target:
    """Parse, resolve and check ``url``; every address it resolves to must be public."""
    scheme, host, port, path = parse(url)
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError):
        raise UnsafeUrl("unresolvable", "The host name does not resolve.") from None
    if not addresses:
        raise UnsafeUrl("unresolvable", "The host name does not resolve.")
    if not settings.BNPL_WEBHOOK_ALLOW_PRIVATE:
        for address in addresses:
            reason = address_refused(address)
            if reason is not None:
                raise UnsafeUrl("forbidden_address",
                                f"The host resolves to a {reason.replace('_', '-')} address, which is not allowed.")
    return Target(scheme=scheme, host=host, port=port, path=path, addresses=tuple(addresses))
