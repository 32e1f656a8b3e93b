"""The OpenAPI schema documents the refund and webhook endpoints with their error bodies."""
import json

import pytest

pytestmark = pytest.mark.django_db


def test_schema_covers_refunds_and_the_webhook(anon_api):
    schema = json.loads(anon_api.get("/swagger.json", HTTP_ACCEPT="application/json").content)
    paths = schema["paths"]
    for path in ("/api/v1/refunds/", "/api/v1/refunds/{id}/", "/api/v1/refunds/{id}/approve/",
                 "/api/v1/refunds/{id}/reject/", "/api/v1/refunds/{id}/cancel/", "/api/v1/webhook-events/",
                 "/webhook/refund-status/"):
        assert path in paths, path
    webhook = paths["/webhook/refund-status/"]["post"]
    assert webhook["security"] == []
    assert {"200", "202", "400", "401", "404", "413"} <= set(webhook["responses"])
    assert {p["name"] for p in webhook["parameters"]} >= {"webhook-id", "webhook-timestamp", "webhook-signature"}
    create = paths["/api/v1/refunds/"]["post"]
    assert {"200", "201", "400", "409"} <= set(create["responses"])
    assert "schema" in create["responses"]["409"]
