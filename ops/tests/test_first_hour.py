"""The first hour of a new user (issue 11): an API index, problem+json 404s even with DEBUG on,
and ``make run`` (``scripts/run.sh``): JSON logs without raw paths, a sweep at start, a clean Ctrl-C."""
import json
import os
import signal
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.test.utils import override_settings

from bnpl.testing.processes import free_port, wait_until

PROBLEM = "application/problem+json"


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [True, False], ids=["debug", "no-debug"])
@pytest.mark.parametrize("path", ["/api/v1/nothing-here/", "/api/v1/users/a/b/c/", "/api/v2/", "/api/",
                                  "/webhook/unknown/", "/api/v1/nothing-here"])
def test_unknown_api_and_webhook_paths_are_problem_404(path, debug):
    with override_settings(DEBUG=debug):
        for accept in ("application/json", "text/html"):
            r = Client().get(path, HTTP_ACCEPT=accept)
            assert r.status_code == 404, (path, r.status_code)
            assert r["Content-Type"] == PROBLEM
            body = r.json()
            assert body["status"] == 404 and body["code"] == "not_found"
            assert "URLconf" not in r.content.decode() and "users/" not in body["detail"]
        post = Client().post(path, data="{}", content_type="application/json")
        assert post.status_code == 404 and post["Content-Type"] == PROBLEM
        # With CSRF enforced (as for a browser): still the 404 problem, never CSRF's 403 HTML page.
        checked = Client(enforce_csrf_checks=True).post(path, data="{}", content_type="application/json")
        assert checked.status_code == 404 and checked["Content-Type"] == PROBLEM


@pytest.mark.django_db
def test_a_missing_trailing_slash_still_redirects():
    r = Client().get("/api/v1/users?limit=5")
    assert r.status_code == 301 and r["Location"] == "/api/v1/users/?limit=5"


@pytest.mark.django_db
def test_the_api_index_links_everything_a_newcomer_needs(operator_api):
    r = Client().get("/api/v1/")
    assert r.status_code == 200 and r["Content-Type"].startswith("application/json")
    body = r.json()
    links = {**body["resources"], **body["docs"], **body["health"]}
    assert {"users", "merchants", "plans", "refunds", "swagger", "redoc", "dashboard", "ready"} <= set(links)
    for name, url in links.items():
        if "{" in url or name == "merchant_webhook":
            continue
        path = url.removeprefix("http://testserver")
        # Every link answers (with a key that may read it): none of them is a 404.
        assert operator_api.get(path, HTTP_ACCEPT="application/json").status_code == 200, (name, path)


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [True, False])
def test_root_redirects_to_the_api_index(debug):
    with override_settings(DEBUG=debug):
        r = Client().get("/")
    assert r.status_code == 302 and r["Location"] == "/api/v1/"


# --- make run (scripts/run.sh) for real ------------------------------------------------------------

def _group_members(pgid: int) -> list[str]:
    """Live (not zombie) processes of the process group, as "pid name"."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name_end = stat.rindex(")")
        fields = stat[name_end + 2:].split()
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state != "Z":
            members.append(f"{entry.name} {stat[stat.index('(') + 1:name_end]}")
    return members


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return 0


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["embedded", "redis"])
def test_make_run_logs_json_sweeps_at_start_and_stops_cleanly_on_ctrl_c(tmp_path, mode):
    """``scripts/run.sh`` on a free port with SQLite, as a person runs ``make run``: the embedded mode,
    and with ``REDIS_URL`` (a private redis-server), where a Celery worker and beat run too."""
    from bnpl.testing.processes import redis_server

    with redis_server() as redis:
        _run_make_run(tmp_path, redis_url=redis.url if mode == "redis" else None)


def _run_make_run(tmp_path, *, redis_url: str | None) -> None:
    port = free_port()
    database = tmp_path / "run.sqlite3"
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("DJANGO_", "BNPL_", "REDIS_URL", "DATABASE_URL", "PYTEST_", "CELERY_"))}
    env.update({"PORT": str(port), "DATABASE_URL": f"sqlite:///{database}", "BNPL_NO_BOOTSTRAP": "1",
                "WEB_CONCURRENCY": "2", "PYTHONUNBUFFERED": "1", "TMPDIR": str(tmp_path)})
    if redis_url:
        env["REDIS_URL"] = redis_url
    log = (tmp_path / "run.log").open("w+b")
    script = str(settings.BASE_DIR / "scripts" / "run.sh")
    process = subprocess.Popen([script], cwd=settings.BASE_DIR, env=env, stdout=log,  # noqa: S603
                               stderr=subprocess.STDOUT, start_new_session=True)
    pgid = process.pid
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _get(f"{base}/api/v1/health/live/") == 200 or process.poll() is not None,
                   timeout=240, interval=0.2, message="run.sh serving")  # migrate on a busy machine
        assert process.poll() is None, log.name

        # A query string with a phone number: the log has the route pattern, never the path.
        assert _get(f"{base}/api/v1/users/?phone_number=%2B998901234567") == 401
        assert _get(f"{base}/api/v1/") == 200

        # One sweep as beat (or the embedded loop) starts, not after BNPL_OVERDUE_SWEEP_SECONDS (300).
        def swept() -> bool:
            try:
                with sqlite3.connect(database) as db:
                    return db.execute("SELECT count(*) FROM debt_sweeprun WHERE finished_at IS NOT NULL"
                                      ).fetchone()[0] >= 1
            except sqlite3.Error:
                return False
        wait_until(swept, timeout=60, interval=0.2, message="a sweep at start")
        time.sleep(0.5)  # let the access lines reach the log

        # Ctrl-C: the terminal sends SIGINT to the whole foreground process group.
        members_before = _group_members(pgid)
        # bash, gunicorn master + workers, and the embedded beat (or a worker and beat)
        assert len(members_before) >= (5 if redis_url else 4), members_before
        os.killpg(pgid, signal.SIGINT)
        started = time.monotonic()
        process.wait(timeout=10)
        try:
            wait_until(lambda: not _group_members(pgid), timeout=max(0.1, 10 - (time.monotonic() - started)),
                       interval=0.1, message="every child gone")
        except TimeoutError as exc:
            raise AssertionError(f"still running: {_group_members(pgid)}") from exc
        assert time.monotonic() - started < 10
    finally:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)
    log.seek(0)
    output = log.read().decode(errors="replace")
    assert "998901234567" not in output and "phone_number" not in output
    assert '"GET /api' not in output  # no gunicorn access-format line
    access = [json.loads(line) for line in output.splitlines()
              if line.startswith("{") and '"bnpl.access"' in line]
    routes = {(line["route"], line["status"]) for line in access}
    assert ("/api/v1/users/", 401) in routes and ("/api/v1/", 200) in routes
    if redis_url:  # Celery's lines are JSON too: no banner, no text handler
        assert "-------------- celery@" not in output
        assert any(line.startswith("{") and '"logger": "celery' in line for line in output.splitlines())


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_celery_beat_sends_a_sweep_as_it_starts(tmp_path):
    """Real ``celery -A bnpl beat`` on a private Redis: the overdue sweep is queued at once, not in 300 s."""
    import sys

    from bnpl.testing.db import current_database_url
    from bnpl.testing.processes import Process, owned, production_env, redis_server

    with redis_server() as server:
        env = production_env(database_url=current_database_url(application_name="beat-start"),
                             redis_url=server.url, BNPL_OVERDUE_SWEEP_SECONDS="300")
        beat = Process([sys.executable, "-m", "celery", "-A", "bnpl", "beat", "-l", "INFO",
                        "--schedule", str(tmp_path / "beat-schedule")], env=env, name="celery beat")
        with owned(beat):
            def queued_tasks() -> list[str]:
                return [json.loads(raw)["headers"]["task"] for raw in server.client().lrange("celery", 0, -1)]

            wait_until(lambda: "debt.tasks.sweep_overdue" in queued_tasks() or not beat.alive(), timeout=20,
                       interval=0.2, message="a sweep queued by beat at start")
            assert beat.alive(), beat.output()[-3000:]
            assert queued_tasks().count("debt.tasks.sweep_overdue") == 1
