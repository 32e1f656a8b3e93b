"""``GET /metrics``: the process's own series (``bnpl.metrics``) and the domain's, read at scrape time.

With ``PROMETHEUS_MULTIPROC_DIR`` set in the environment *before the process starts*
(Dockerfile, compose, k8s do), prometheus_client keeps every worker's samples in
memory-mapped files in that directory and the view merges them; gunicorn's ``child_exit``
hook (``gunicorn.conf.py``) marks dead workers. Without it (``make run``, tests) the
process-local default registry is served.

Facts that live in the database (the webhook inbox by state, the last overdue sweep run)
are read through each app's selectors at scrape time, so they are right whichever process
did the work, and they are the very figures the health page shows.

``/metrics`` is meant for the internal network: nginx does not route it, and when
``BNPL_METRICS_TOKEN`` is set it also requires ``Authorization: Bearer <token>``.
"""
import hmac
import logging
import os

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder

from bnpl.errors import PROBLEM_CONTENT_TYPE, problem
from debt.selectors import last_sweep_run
from events.selectors import outbox_stats
from ledger.selectors import last_reconciliation
from webhooks.selectors import inbox_stats

logger = logging.getLogger(__name__)

SWEEP_COUNT_KINDS = ("installments_marked_overdue", "users_marked_debt", "users_restored")


class DatabaseCollector:
    """Facts read from the database at scrape time: webhook inbox by state, the last sweep run."""

    def collect(self):
        try:
            families = list(self._families())
        except Exception as exc:  # noqa: BLE001 - a database outage must not break the scrape
            logger.warning("metrics: database collector failed: %s", type(exc).__name__)
            families = []
        yield GaugeMetricFamily("bnpl_metrics_database_up",
                                "1 when the database-backed metrics below could be read at this scrape.",
                                value=1 if families else 0)
        yield from families

    def _families(self):
        stats = inbox_stats()
        events = GaugeMetricFamily("bnpl_webhook_events", "Stored merchant webhook events by processing state.",
                                   labels=["status"])
        for state, count in stats.by_status.items():
            events.add_metric([state], count)
        yield events
        if stats.oldest_received_at is not None:
            yield GaugeMetricFamily("bnpl_webhook_oldest_received_timestamp_seconds",
                                    "Unix time the oldest event still waiting (RECEIVED) arrived.",
                                    value=stats.oldest_received_at.timestamp())

        run = last_sweep_run()
        if run is not None:
            yield GaugeMetricFamily("bnpl_overdue_sweep_last_run_timestamp_seconds",
                                    "Unix time the last overdue sweep run finished, failed or not (from SweepRun).",
                                    value=run.finished_at.timestamp())
            yield GaugeMetricFamily("bnpl_overdue_sweep_last_run_failed",
                                    "1 when the last overdue sweep run failed (from SweepRun).",
                                    value=1 if run.error else 0)
            yield GaugeMetricFamily("bnpl_overdue_sweep_last_run_duration_seconds",
                                    "Duration of the last overdue sweep run (from SweepRun).",
                                    value=(run.duration_ms or 0) / 1000)
            rows = GaugeMetricFamily("bnpl_overdue_sweep_last_run_rows",
                                     "Rows changed by the last overdue sweep run (from SweepRun).",
                                     labels=["kind"])
            for kind in SWEEP_COUNT_KINDS:
                rows.add_metric([kind], getattr(run, kind))
            yield rows

        reconciliation = last_reconciliation()
        if reconciliation is not None:
            yield GaugeMetricFamily("bnpl_ledger_reconcile_last_run_timestamp_seconds",
                                    "Unix time the last ledger reconciliation finished (API.md §11).",
                                    value=reconciliation.finished_at.timestamp())
            yield GaugeMetricFamily("bnpl_ledger_reconcile_mismatches",
                                    "Mismatches the last ledger reconciliation found (0 when the books agree).",
                                    value=reconciliation.mismatch_count)
        outbox = outbox_stats()
        yield GaugeMetricFamily("bnpl_outbox_pending_deliveries", "Outbound event deliveries waiting (API.md §14).",
                                value=outbox["pending_deliveries"] + outbox["undispatched_events"])
        yield GaugeMetricFamily("bnpl_outbox_failed_deliveries_24h", "Outbound deliveries FAILED in the last 24 h.",
                                value=outbox["failed_deliveries_24h"])


class _DefaultRegistryCollector:
    def collect(self):
        yield from REGISTRY.collect()


def scrape_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_DefaultRegistryCollector())
    registry.register(DatabaseCollector())
    return registry


def _authorized(request) -> bool:
    token = getattr(settings, "BNPL_METRICS_TOKEN", "") or os.environ.get("BNPL_METRICS_TOKEN", "")
    if not token:
        return True
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def metrics_view(request):
    """``GET /metrics``: Prometheus text exposition format."""
    if not _authorized(request):
        response = JsonResponse(problem(401, "not_authenticated", "Not authenticated",
                                        "Send 'Authorization: Bearer <BNPL_METRICS_TOKEN>'."),
                                status=401, content_type=PROBLEM_CONTENT_TYPE)
        response["WWW-Authenticate"] = "Bearer"
        return response
    # Negotiated like prometheus_client's own exporters: 0.0.4 text by default, OpenMetrics on request.
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(scrape_registry()), content_type=content_type)
