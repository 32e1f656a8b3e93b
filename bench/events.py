"""Outbound events end to end: events written through the API, delivered to a local receiver.

Seeds users with one 12-installment plan each (through the services), then repays each plan in
full through ``POST /api/v1/debt/{user_id}/`` under gunicorn: every request writes 14 events
(12 ``installment.paid``, ``plan.completed``, ``repayment.created``) in its transaction. A client
endpoint (every event) points at an https receiver on 127.0.0.1 in its own process (a private CA
the worker trusts through ``SSL_CERT_FILE``). A real Celery worker (prefork) and beat deliver.

Reported: events written, write requests/s, events/s end to end (first write to last receipt),
deliveries/s (first receipt to last), delivery latency (receipt minus the event's ``created_at``,
p50/p99), peak RSS of the worker's process tree, and the load average (the machine is shared).

    .venv/bin/python bench/events.py --events 100000 [--append-results]
"""
import argparse
import datetime as dt
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import PY, ROOT, bench_env, machine, migrate, percentile, recreate_database, setup_django  # noqa: E402

DB = os.environ.get("BENCH_DB", "bnpl_bench_events")
EVENTS_PER_REQUEST = 14


def make_ca(directory: Path) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def cert(subject, issuer_key, issuer, key, ca):
        builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(issuer).public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bench CA")])
    (directory / "ca.pem").write_bytes(cert("Bench CA", ca_key, ca_name, ca_key, True)
                                       .public_bytes(serialization.Encoding.PEM))
    (directory / "server.pem").write_bytes(
        cert("localhost", ca_key, ca_name, key, False).public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()))
    return str(directory / "ca.pem"), str(directory / "server.pem")


RECEIVER = r'''
import sys, time, ssl
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port_file, log_file, cert = sys.argv[1:4]
out = open(log_file, "a", buffering=1)
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        out.write(f"{self.headers['webhook-id']}\t{time.time()}\n")
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
server = ThreadingHTTPServer(("127.0.0.1", 0), H)
server.daemon_threads = True
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(cert)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
open(port_file, "w").write(str(server.server_address[1]))
server.serve_forever()
'''


def start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT,  # noqa: SIM115
                            start_new_session=True)


def tree_rss_kib(pid: int) -> int:
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS")))
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except (OSError, StopIteration):
            pass
    return total


def wait_http(url: str, timeout: float) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - our own loopback server
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--append-results", action="store_true")
    parser.add_argument("--drain", action="store_true",
                        help="Start the worker only once every write is done: deliveries/s is then the draining "
                             "rate of a backlog, independent of how fast the API writes.")
    args = parser.parse_args()
    requests_n = -(-args.events // EVENTS_PER_REQUEST)
    load_before = os.getloadavg()

    tmp = Path(tempfile.mkdtemp(prefix="bench-events-"))
    ca_file, server_pem = make_ca(tmp)
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/6")
    env = bench_env(DB, REDIS_URL=redis_url, BNPL_WEBHOOK_ALLOW_PRIVATE="1", SSL_CERT_FILE=ca_file,
                    BNPL_WEBHOOK_DELIVERY_THREADS=str(args.threads), BNPL_RATE_LIMIT="1000000/min")
    recreate_database(DB)
    migrate(env)
    setup_django(env)

    from datetime import date
    from decimal import Decimal

    from bnpl.models import Role
    from bnpl.money import to_minor
    from bnpl.services import api_key_create
    from events import services as event_services
    from events.models import Audience, Event, WebhookDelivery
    from merchants.services import merchant_create
    from plans.services import plan_create
    from users.services import user_create

    t0 = time.perf_counter()
    merchant = merchant_create(name="Bench merchant")
    users = []
    for n in range(requests_n):
        user = user_create(full_name=f"Customer {n}", phone_number=f"+99890{n:07d}",
                           passport_number=f"AB{n:07d}", date_of_birth=date(1990, 5, 17))
        plan_create(user=user, merchant=merchant, total_amount=to_minor(Decimal("1200.00")),
                    installment_count=12)
        users.append(str(user.pk))
    Event.objects.update(dispatched_at=dt.datetime.now(dt.UTC))  # the seed's events go nowhere
    _, client_key = api_key_create(role=Role.CLIENT, name="bench client")
    print(f"seeded {requests_n} users and plans in {time.perf_counter() - t0:.0f}s", flush=True)

    port_file, receipts = tmp / "port", tmp / "receipts.tsv"
    receiver = start([PY, "-c", RECEIVER, str(port_file), str(receipts), server_pem], env, tmp / "receiver.log")
    while not port_file.exists() or not port_file.read_text():
        time.sleep(0.05)
    port = int(port_file.read_text())
    event_services.webhook_endpoint_create(url=f"https://localhost:{port}/hooks", audience=Audience.CLIENT,
                                           merchant=None)

    web_port = 18000 + os.getpid() % 1000
    web = start([str(Path(PY).parent / "gunicorn"), "bnpl.wsgi:application", "-c", "gunicorn.conf.py"],
                {**env, "GUNICORN_BIND": f"127.0.0.1:{web_port}", "WEB_CONCURRENCY": "2", "GUNICORN_THREADS": "4"},
                tmp / "gunicorn.log")
    peak = [0]
    stop = threading.Event()
    workers: list[subprocess.Popen] = []

    def start_workers() -> None:
        worker = start([PY, "-m", "celery", "-A", "bnpl", "worker", "-c", str(args.worker_concurrency), "-l",
                        "WARNING", "--without-heartbeat", "--without-gossip", "--without-mingle",
                        "-n", f"bench-{os.getpid()}@%h"], env, tmp / "worker.log")
        workers.append(worker)
        workers.append(start([PY, "-m", "celery", "-A", "bnpl", "beat", "-l", "WARNING",
                              "-s", str(tmp / "beat-schedule")], env, tmp / "beat.log"))

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], tree_rss_kib(worker.pid))
                time.sleep(0.25)

        threading.Thread(target=sample, daemon=True).start()

    if not args.drain:
        start_workers()
    try:
        wait_http(f"http://127.0.0.1:{web_port}/api/v1/health/live/", 30)
        time.sleep(3)  # the worker connects to the broker
        queue = list(users)
        lock = threading.Lock()
        statuses: dict[int, int] = {}

        def writer() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", web_port, timeout=60)
            while True:
                with lock:
                    if not queue:
                        return
                    user_id = queue.pop()
                conn.request("POST", f"/api/v1/debt/{user_id}/", body=json.dumps({"amount": "1200.00"}),
                             headers={"Authorization": f"Bearer {client_key}", "Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                with lock:
                    statuses[response.status] = statuses.get(response.status, 0) + 1

        write_start_wall, write_start = time.time(), time.perf_counter()
        threads = [threading.Thread(target=writer) for _ in range(args.concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        write_s = time.perf_counter() - write_start
        total = Event.objects.filter(created_at__gte=dt.datetime.fromtimestamp(write_start_wall, dt.UTC)).count()
        print(f"wrote {total} events in {write_s:.0f}s ({statuses})", flush=True)
        if args.drain:
            start_workers()

        def received() -> int:
            return sum(1 for _ in open(receipts)) if receipts.exists() else 0

        deadline = time.monotonic() + args.timeout
        while received() < total and time.monotonic() < deadline:
            time.sleep(0.5)
        # Then until every attempt is recorded (a POST is answered before its row is updated).
        while WebhookDelivery.objects.filter(status="PENDING").exists() and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        stop.set()
        for process in (web, *workers, receiver):
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in (web, *workers, receiver):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
    load_after = os.getloadavg()

    rows = [line.rstrip("\n").split("\t") for line in open(receipts)] if receipts.exists() else []
    first_receipt: dict[str, float] = {}
    for event_id, at in rows:
        first_receipt.setdefault(event_id, float(at))
    created = {e: c.timestamp() for e, c in Event.objects.filter(pk__in=list(first_receipt))
               .values_list("id", "created_at").iterator(chunk_size=5000)}
    latencies = [first_receipt[e] - created[e] for e in first_receipt if e in created]
    receipt_times = sorted(float(at) for _, at in rows)
    delivered = len(first_receipt)
    e2e_s = (max(receipt_times) - write_start_wall) if receipt_times else float("nan")
    delivery_s = (receipt_times[-1] - receipt_times[0]) if len(receipt_times) > 1 else float("nan")
    failed = WebhookDelivery.objects.exclude(status="SUCCEEDED").exclude(status="RETRYING").count()
    result = {
        "events_written": total, "write_requests": requests_n, "write_requests_per_s": round(requests_n / write_s, 1),
        "events_delivered": delivered, "posts_received": len(rows), "not_succeeded_deliveries": failed,
        "events_per_s_end_to_end": round(delivered / e2e_s, 1),
        "deliveries_per_s": round(len(rows) / delivery_s, 1),
        "latency_p50_s": round(percentile(latencies, 50), 2), "latency_p99_s": round(percentile(latencies, 99), 2),
        "peak_worker_rss_mib": round(peak[0] / 1024, 1),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
    }
    print(json.dumps(result, indent=1))
    if args.append_results:
        when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        section = f"""
### Outbound events end to end, {when}

`.venv/bin/python bench/events.py --events {args.events} --concurrency {args.concurrency} \
--worker-concurrency {args.worker_concurrency} --threads {args.threads}{' --drain' if args.drain else ''}`:
{'the worker started after the last write (a backlog drained); ' if args.drain else ''}{requests_n} repayments through
`POST /api/v1/debt/{{user_id}}/` (gunicorn 2 workers x 4 threads, {args.concurrency} clients), {EVENTS_PER_REQUEST}
events each, delivered over https (keep-alive) to one client endpoint on 127.0.0.1 by a Celery worker
(prefork x {args.worker_concurrency}, {args.threads} delivery threads per process) and beat.
Machine: {machine()}; load average {result['load_average_before']} before,
{result['load_average_after']} after (shared with other work).

| figure | value |
|---|---:|
| events written (API) | {total} |
| write requests/s | {result['write_requests_per_s']} |
| events delivered (distinct) / POSTs received | {delivered} / {len(rows)} |
| events/s end to end (first write to last receipt) | {result['events_per_s_end_to_end']} |
| deliveries/s (first receipt to last) | {result['deliveries_per_s']} |
| delivery latency p50 / p99 (receipt - event created_at) | {result['latency_p50_s']} s / {result['latency_p99_s']} s |
| peak worker RSS (all processes) | {result['peak_worker_rss_mib']} MiB |
| deliveries not SUCCEEDED at the end | {failed} |
"""
        with open(ROOT / "bench" / "RESULTS.md", "a") as results:
            results.write(section)


if __name__ == "__main__":
    main()
