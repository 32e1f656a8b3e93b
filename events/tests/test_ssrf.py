"""SSRF: every refused address class, by literal IP and by a name resolving to it (patched
resolver), at endpoint creation (400) and again at delivery (DNS rebinding), with
BNPL_WEBHOOK_ALLOW_PRIVATE off."""
import pytest

from events import services, ssrf
from events.models import Audience, DeliveryStatus, WebhookDelivery, WebhookEndpoint
from events.tests.receiver import Receiver
from merchants.tests.factories import MerchantFactory
from plans.tests.factories import make_plan

REFUSED = {
    "loopback": ["127.0.0.1", "127.8.9.10", "::1"],
    "private (RFC 1918)": ["10.1.2.3", "172.16.5.4", "172.31.255.254", "192.168.1.1"],
    "private (RFC 4193)": ["fd00::1", "fc00::5"],
    "link-local": ["169.254.169.254", "169.254.1.1", "fe80::1"],
    "CGNAT": ["100.64.0.1", "100.127.255.254"],
    "multicast": ["224.0.0.1", "239.255.255.250", "ff02::1"],
    "reserved": ["240.0.0.1", "255.255.255.255"],
    "unspecified": ["0.0.0.0", "::"],  # noqa: S104 - refused, not bound
    "IPv4-mapped": ["::ffff:127.0.0.1", "::ffff:10.0.0.1"],
    "documentation": ["192.0.2.1", "2001:db8::1"],
}
CASES = [pytest.param(address, id=f"{name}:{address}") for name, addresses in REFUSED.items()
         for address in addresses]
PUBLIC = "93.184.216.34"


@pytest.fixture(autouse=True)
def strict(settings):
    settings.BNPL_WEBHOOK_ALLOW_PRIVATE = False
    settings.DEBUG = False


def literal_url(address: str) -> str:
    return f"https://[{address}]/hooks" if ":" in address else f"https://{address}/hooks"


@pytest.mark.parametrize("address", CASES)
def test_refused_by_literal_ip_at_creation(operator_api, merchant, address):
    r = operator_api.post("/api/v1/webhook-endpoints/", {"url": literal_url(address), "merchant_id": str(merchant.pk)})
    assert r.status_code == 400, r.json()
    assert r.json()["errors"][0]["attr"] == "url" and r.json()["errors"][0]["code"] == "forbidden_address"
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("address", CASES)
def test_refused_by_host_name_at_creation(merchant_api, resolver, address):
    resolver["hooks.evil.example"] = address
    r = merchant_api.post("/api/v1/webhook-endpoints/", {"url": "https://hooks.evil.example/in"})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "forbidden_address"
    assert not WebhookEndpoint.objects.exists()


def test_one_private_address_among_public_ones_is_refused(merchant_api, resolver):
    resolver["multi.example"] = [PUBLIC, "10.0.0.7"]
    r = merchant_api.post("/api/v1/webhook-endpoints/", {"url": "https://multi.example/"})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "forbidden_address"


def test_a_public_host_is_accepted(merchant_api, resolver):
    resolver["hooks.shop.example"] = PUBLIC
    r = merchant_api.post("/api/v1/webhook-endpoints/", {"url": "https://hooks.shop.example/in"})
    assert r.status_code == 201, r.json()


@pytest.mark.parametrize("url, code", [
    ("http://hooks.shop.example/in", "insecure_scheme"),
    ("ftp://hooks.shop.example/in", "insecure_scheme"),
    ("https://user:pw@hooks.shop.example/in", "invalid_url"),
    ("https:///nohost", "invalid_url"),
    ("https://unresolvable.invalid/", "unresolvable"),
    ("https://hooks.shop.example:99999/", "invalid_url"),
    ("not a url", "invalid_url"),
    ("hooks.shop.example/in", "insecure_scheme"),
])
def test_other_refused_urls(merchant_api, resolver, url, code):
    resolver["hooks.shop.example"] = PUBLIC
    r = merchant_api.post("/api/v1/webhook-endpoints/", {"url": url})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == code, r.json()


def test_plain_http_only_with_debug(merchant_api, resolver, settings):
    settings.DEBUG = True
    resolver["hooks.shop.example"] = PUBLIC
    r = merchant_api.post("/api/v1/webhook-endpoints/", {"url": "http://hooks.shop.example/in"})
    assert r.status_code == 201


def test_allow_private_lets_private_addresses_through(merchant_api, settings):
    settings.BNPL_WEBHOOK_ALLOW_PRIVATE = True
    r = merchant_api.post("/api/v1/webhook-endpoints/", {"url": "https://10.0.0.1/hooks"})
    assert r.status_code == 201


@pytest.mark.parametrize("address", CASES)
def test_refused_again_at_delivery_when_the_name_rebinds(db, resolver, address):
    """Created while the name resolved to a public address; at delivery it resolves to ``address``."""
    merchant = MerchantFactory()
    resolver["rebind.example"] = PUBLIC
    endpoint = services.webhook_endpoint_create(url="https://rebind.example/in", audience=Audience.MERCHANT,
                                                merchant=merchant)
    resolver["rebind.example"] = address
    make_plan(merchant=merchant)
    services.events_pump(budget_seconds=1)
    row = WebhookDelivery.objects.get(endpoint=endpoint, attempt=1)
    assert row.status == DeliveryStatus.RETRYING and row.error == "refused: forbidden_address"
    assert row.status_code is None


@pytest.mark.parametrize("address", ["127.0.0.1", "::ffff:127.0.0.1"])
def test_refused_at_delivery_by_literal_ip_and_nothing_reaches_the_receiver(db, settings, address):
    with Receiver() as receiver:
        merchant = MerchantFactory()
        settings.BNPL_WEBHOOK_ALLOW_PRIVATE = True  # created while allowed ...
        url = receiver.url.replace("https", "http").replace("127.0.0.1", f"[{address}]" if ":" in address
                                                             else address)
        settings.DEBUG = True
        endpoint = services.webhook_endpoint_create(url=url, audience=Audience.MERCHANT, merchant=merchant)
        settings.BNPL_WEBHOOK_ALLOW_PRIVATE = False  # ... and delivered after it was turned off
        make_plan(merchant=merchant)
        services.events_pump(budget_seconds=1)
        assert receiver.requests == []
    row = WebhookDelivery.objects.get(endpoint=endpoint, attempt=1)
    assert row.error == "refused: forbidden_address"


def test_the_connection_goes_to_the_checked_address_with_the_urls_host(db, resolver, settings):
    """Resolve once, check, connect to that IP: Host carries the name (no second lookup by the client)."""
    settings.BNPL_WEBHOOK_ALLOW_PRIVATE = True
    settings.DEBUG = True
    calls = []
    with Receiver() as receiver:
        resolver["hooks.local.example"] = "127.0.0.1"
        import socket as socket_module

        patched = socket_module.getaddrinfo

        def counting(host, *args, **kwargs):
            calls.append(host)
            return patched(host, *args, **kwargs)

        socket_module.getaddrinfo = counting
        try:
            merchant = MerchantFactory()
            url = f"http://hooks.local.example:{receiver.port}/in?x=1"
            services.webhook_endpoint_create(url=url, audience=Audience.MERCHANT, merchant=merchant)
            calls.clear()
            make_plan(merchant=merchant)
            services.events_pump(budget_seconds=1)
        finally:
            socket_module.getaddrinfo = patched
        assert len(receiver.requests) == 1
        assert receiver.requests[0].headers["host"] == f"hooks.local.example:{receiver.port}"
        assert receiver.requests[0].path == "/in?x=1"
    assert calls.count("hooks.local.example") == 1  # resolved once; the connection used that answer


def test_address_classes_unit():
    for addresses in REFUSED.values():
        for address in addresses:
            assert ssrf.address_refused(address) is not None, address
    for address in (PUBLIC, "8.8.8.8", "2606:4700:4700::1111"):
        assert ssrf.address_refused(address) is None
