#!/usr/bin/env python3
"""Screenshots of the health dashboard in its three states, rendered by headless Chromium.

    .venv/bin/python scripts/screenshots.py        # writes docs/screenshots/health-<state>-<width>.png

Starts everything it needs on free ports and stops it again: a private redis-server, a fresh
SQLite database with the demo data (``seed_demo``, and ``seed_aging_demo``: overdue installments
in every aging bucket and 30 days of snapshots), a Celery worker and gunicorn. The states:

- ``ok``: Redis, a worker and a recent sweep; with the operator's aging charts (also saved alone,
  cropped to them, as ``health-aging-<width>.png``);
- ``down``: a server whose database is unreachable (503), Redis still up;
- ``degraded``: the first server after redis-server is killed.

The page is fetched as an operator (the details are shown) and rendered at 1400 and 390 px
wide. Needs ``redis-server`` and Debian's ``chromium`` (``apt-get install -y chromium``).
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
WIDTHS = {1400: 1050, 390: 1750}  # width -> window height (Chromium captures the window)
FULL_WIDTHS = {1400: 1800, 390: 3450}  # the operator's page with the figures and the aging charts
PYTHON = str(ROOT / ".venv" / "bin" / "python")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.3)


def fetch(url: str, key: str | None = None, accept: str = "text/html") -> tuple[int, bytes]:
    headers = {"Accept": accept, **({"Authorization": f"Bearer {key}"} if key else {})}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - our own loopback server
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


class Children:
    def __init__(self) -> None:
        self.processes: list[subprocess.Popen] = []

    def start(self, args: list[str], env: dict, log: Path) -> subprocess.Popen:
        process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log.open("wb"),  # noqa: S603
                                   stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen) -> None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            self.stop(process)


def shoot(html: bytes, name: str, work: Path, chromium: str, widths: dict[int, int] = WIDTHS) -> None:
    page = work / f"{name}.html"
    page.write_bytes(html.replace(b'http-equiv="refresh"', b'data-no-refresh'))
    for width, height in widths.items():
        target = OUT / f"health-{name}-{width}.png"
        subprocess.run([chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",  # noqa: S603
                        f"--window-size={width},{height}", f"--screenshot={target}", page.as_uri()],
                       check=True, capture_output=True, timeout=60)
        print(f"wrote {target.relative_to(ROOT)}")


AGING_WIDTHS = {1400: 700, 390: 1250}


def charts_only(html: bytes) -> bytes:
    """The same page with everything but the charts' section hidden (a CSS rule, nothing else changed)."""
    rule = (b"<style>main > *:not(#aging) { display: none !important; } "
            b"section.charts { margin-top: 0 !important; }</style></head>")
    return html.replace(b"</head>", rule, 1)


def main() -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    redis_server = shutil.which("redis-server")
    if not chromium or not redis_server:
        raise SystemExit("needs chromium and redis-server (apt-get install -y chromium redis-server)")
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bnpl-screens-"))
    children = Children()
    redis_port, web_port, down_port = free_port(), free_port(), free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "BNPL_", "CELERY_"))}
    env.update({"DJANGO_SETTINGS_MODULE": "bnpl.settings.local", "DJANGO_DEBUG": "false",
                "DATABASE_URL": f"sqlite:///{work / 'db.sqlite3'}", "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
                "BNPL_HEALTH_CACHE_SECONDS": "1", "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "WARNING"})
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    try:
        redis = children.start([redis_server, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no"], env, work / "redis.log")
        subprocess.run([PYTHON, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True,  # noqa: S603
                       capture_output=True)
        seeded = subprocess.run([PYTHON, "manage.py", "seed_demo"], cwd=ROOT, env=env, check=True,  # noqa: S603
                                capture_output=True, text=True).stdout
        found = re.search(r"operator key:\s+(\S+)", seeded)
        if found is None:
            raise SystemExit("seed_demo printed no operator key")
        operator_key = found[1]
        subprocess.run([PYTHON, "manage.py", "seed_aging_demo"], cwd=ROOT, env=env, check=True,  # noqa: S603
                       capture_output=True)
        children.start([PYTHON, "-m", "celery", "-A", "bnpl", "worker", "-P", "solo", "-l", "WARNING",
                        "--without-gossip", "--without-mingle", "-n", "screens@%h"], env, work / "worker.log")
        children.start([PYTHON, "-m", "gunicorn", "bnpl.wsgi:application", "--bind", f"127.0.0.1:{web_port}",
                        "--workers", "1", "--threads", "4"], env, work / "web.log")
        base = f"http://127.0.0.1:{web_port}/api/v1/health/"

        def state(key: str | None = operator_key) -> dict:
            status, body = fetch(base, key, accept="application/json")
            return json.loads(body) if status in (200, 503) else {}

        wait_until(lambda: state().get("status") == "ok", 60, "the ok state")
        ok_page = fetch(base, operator_key)[1]
        if b'id="aging-chart"' not in ok_page or b'id="overdue-history"' not in ok_page:
            raise SystemExit("the operator's dashboard shows no aging charts")
        shoot(ok_page, "ok", work, chromium, FULL_WIDTHS)
        shoot(charts_only(ok_page), "aging", work, chromium, AGING_WIDTHS)

        down_env = {**env, "DATABASE_URL": f"postgres://postgres@127.0.0.1:{free_port()}/bnpl"}
        children.start([PYTHON, "-m", "gunicorn", "bnpl.wsgi:application", "--bind", f"127.0.0.1:{down_port}",
                        "--workers", "1"], down_env, work / "down.log")
        down = f"http://127.0.0.1:{down_port}/api/v1/health/"
        wait_until(lambda: fetch(down)[0] == 503, 30, "the down state")
        shoot(fetch(down, operator_key)[1], "down", work, chromium)  # Redis still up: only the database is down

        children.stop(redis)
        wait_until(lambda: state().get("status") == "degraded", 20, "the degraded state")
        shoot(fetch(base, operator_key)[1], "degraded", work, chromium, FULL_WIDTHS)
    finally:
        children.stop_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
