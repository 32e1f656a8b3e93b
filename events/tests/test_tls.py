"""https delivery to a receiver whose certificate comes from a private certificate authority:
trusted through SSL_CERT_FILE / REQUESTS_CA_BUNDLE, checked against the URL's host name (SNI)."""
import datetime
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from events import delivery, services
from events.models import Audience, DeliveryStatus, WebhookDelivery
from events.tests.receiver import Receiver
from merchants.tests.factories import MerchantFactory
from plans.tests.factories import make_plan

HOST = "hooks.private.example"


def _cert(subject: str, issuer_key, issuer_name, key, *, ca: bool):
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(issuer_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture
def private_ca(tmp_path):
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Private CA")])
    ca_cert = _cert("Test Private CA", ca_key, ca_name, ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _cert(HOST, ca_key, ca_name, key, ca=False)
    (tmp_path / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.pem")
    return tmp_path / "ca.pem", context


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"])
def test_https_to_a_private_ca_trusted_by_the_environment(db, settings, resolver, monkeypatch, private_ca, variable):
    ca_file, server_context = private_ca
    settings.BNPL_WEBHOOK_ALLOW_PRIVATE = True
    resolver[HOST] = "127.0.0.1"
    with Receiver(ssl_context=server_context) as receiver:
        merchant = MerchantFactory()
        url = f"https://{HOST}:{receiver.port}/in"
        endpoint = services.webhook_endpoint_create(url=url, audience=Audience.MERCHANT, merchant=merchant)
        make_plan(merchant=merchant)
        # Without the private CA: the certificate is not trusted.
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
        services.events_pump(budget_seconds=1)
        first = WebhookDelivery.objects.get(endpoint=endpoint, attempt=1)
        assert first.status == DeliveryStatus.RETRYING and first.error.startswith(("tls_error", "connection_error"))
        assert receiver.requests == []
        # With it: delivered, over TLS, with the URL's name as SNI, Host and the checked name.
        monkeypatch.setenv(variable, str(ca_file))
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).update(next_attempt_at=first.attempted_at)
        services.events_pump(budget_seconds=1)
        assert len(receiver.requests) == 1
        assert receiver.requests[0].headers["host"] == f"{HOST}:{receiver.port}"
    assert WebhookDelivery.objects.get(endpoint=endpoint, attempt=2).status == DeliveryStatus.SUCCEEDED


def test_a_certificate_for_another_name_is_refused(db, settings, resolver, monkeypatch, private_ca):
    ca_file, server_context = private_ca
    settings.BNPL_WEBHOOK_ALLOW_PRIVATE = True
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    resolver["other-name.example"] = "127.0.0.1"
    with Receiver(ssl_context=server_context) as receiver:
        result = delivery.post(url=f"https://other-name.example:{receiver.port}/in", body=b"{}", headers={})
        assert receiver.requests == []
    assert not result.ok and result.error.startswith(("tls_error", "connection_error"))
