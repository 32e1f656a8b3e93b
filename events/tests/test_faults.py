"""Fault test with real processes (docs/FAULTS.md): a Celery worker SIGKILLed mid-delivery and
Redis killed and restarted while events are being written. Every event is delivered at least
once in the end, to every endpoint it matches; none is lost."""

import pytest

from bnpl.testing.db import current_database_url
from bnpl.testing.processes import celery_broker, owned, redis_server, start_celery_worker, wait_until
from events import services
from events.models import Audience, DeliveryStatus, Event, WebhookDelivery
from events.tasks import pump
from events.tests.receiver import Receiver
from events.tests.test_tls import _cert  # the private CA helpers
from merchants.tests.factories import MerchantFactory
from users.tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def tls_receiver(tmp_path):
    """An https receiver for ``localhost`` with a private CA, which the worker trusts via SSL_CERT_FILE."""
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Fault CA")])
    ca = _cert("Fault CA", ca_key, ca_name, ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _cert("localhost", ca_key, ca_name, key, ca=False)
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.pem")
    with Receiver(ssl_context=context) as receiver:
        receiver.ca_file = str(tmp_path / "ca.pem")
        yield receiver


def test_worker_killed_mid_delivery_and_redis_restarted_lose_no_event(client_api, settings, tls_receiver):
    settings.BNPL_WEBHOOK_ALLOW_PRIVATE = True
    merchant = MerchantFactory()
    base = f"https://localhost:{tls_receiver.port}"
    services.webhook_endpoint_create(url=f"{base}/merchant", audience=Audience.MERCHANT, merchant=merchant)
    services.webhook_endpoint_create(url=f"{base}/client", audience=Audience.CLIENT, merchant=None)
    # The first answers are slow, so the worker is inside a POST when it is killed.
    tls_receiver.script = [{"sleep": 3}] * 4
    worker_env = {"BNPL_WEBHOOK_ALLOW_PRIVATE": "true", "SSL_CERT_FILE": tls_receiver.ca_file,
                  "BNPL_WEBHOOK_CLAIM_SECONDS": "4", "BNPL_WEBHOOK_DELIVERY_THREADS": "4"}

    def write_plans(n: int) -> None:
        for _ in range(n):
            r = client_api.post("/api/v1/plans/", {"user_id": str(CustomerFactory.create().pk),
                                                   "merchant_id": str(merchant.pk), "total_amount": "300.00",
                                                   "installment_count": 3})
            assert r.status_code == 201, r.content

    with redis_server() as broker, celery_broker(broker.url):
        database_url = current_database_url(application_name="events-faults")
        with owned(start_celery_worker(broker_url=broker.url, database_url=database_url, **worker_env)) as worker:
            write_plans(5)
            wait_until(lambda: len(tls_receiver.requests) >= 1, timeout=20, message="a delivery in flight")
            worker.kill()  # SIGKILL mid-POST: its claim is never recorded
        assert WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, claim__isnull=False).exists()

        write_plans(5)  # no worker: the nudges wait in Redis ...
        broker.kill()   # ... and are lost with it (no persistence)
        write_plans(5)  # Redis down: writes still succeed, the events are rows
        broker.start()
        write_plans(5)
        with owned(start_celery_worker(broker_url=broker.url, database_url=database_url, **worker_env)):
            def drained() -> bool:
                pump.apply_async()  # what beat does every few seconds
                return not WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).exists() and \
                    not Event.objects.filter(dispatched_at__isnull=True).exists()
            wait_until(drained, timeout=60, interval=0.5, message="every event delivered")

    events = set(Event.objects.values_list("id", flat=True))
    assert len(events) >= 20  # 20 plan.created at least
    received = {(r.path, r.headers["webhook-id"]) for r in tls_receiver.requests}
    merchant_events = set(Event.objects.filter(merchant=merchant).values_list("id", flat=True))
    assert {("/client", e) for e in events} <= received        # every event, at least once
    assert {("/merchant", e) for e in merchant_events} <= received
    assert not WebhookDelivery.objects.filter(status=DeliveryStatus.FAILED).exists()
    assert len(tls_receiver.requests) >= len(events) + len(merchant_events)  # at least once (some twice)
