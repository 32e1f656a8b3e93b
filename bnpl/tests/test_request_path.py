"""The request path: bounded metrics labels, ``Cache-Control`` on the API, the admin's middleware off /api/."""
import io
import random
import string
import sys
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.handlers.wsgi import WSGIHandler
from django.test import Client, override_settings
from django.urls import NoReverseMatch, reverse

pytestmark = pytest.mark.django_db


def _wsgi(method: str, path: str) -> int:
    """One request through the real handler and middleware (no test-client bookkeeping: 5,000 of them)."""
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "testserver",
               "SERVER_PORT": "80", "wsgi.input": io.BytesIO(b""), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr}
    status: list[int] = []

    def start_response(status_line: str, headers: list[tuple[str, str]],
                       exc_info: Any = None) -> Callable[[bytes], object]:
        status.append(int(status_line.split()[0]))
        return lambda data: None  # the write() callable, which Django never uses

    body = _HANDLER(environ, start_response)
    b"".join(body)
    body.close()
    return status[0]


_HANDLER = WSGIHandler()


@pytest.mark.slow
def test_metrics_stay_the_same_size_after_random_methods_and_paths(client_api):
    """Every caller-chosen method or path lands on a bounded label (OTHER, unmatched)."""
    rng = random.Random(15)

    def hostile_request():
        method = "".join(rng.choices(string.ascii_uppercase, k=rng.randint(3, 13)))
        path = "/" + "/".join("".join(rng.choices(string.ascii_lowercase + string.digits, k=8))
                              for _ in range(rng.randint(1, 4)))
        if rng.random() < 0.3:
            path = f"/api/v1/users/{rng.randrange(10**12)}/"  # a real route with a random id
        return _wsgi(method, path)

    for _ in range(20):  # every label combination the flood can reach exists before the first scrape
        hostile_request()
        _wsgi("GET", "/no-such-page/")
        client_api.get("/api/v1/users/")
    before = len(Client().get("/metrics").content)
    statuses = {hostile_request() for _ in range(5000)}
    after = len(Client().get("/metrics").content)
    assert statuses and all(400 <= s < 500 for s in statuses), statuses
    assert after <= before * 1.05, (before, after)
    text = Client().get("/metrics").content.decode()
    assert 'method="OTHER"' in text and 'route="unmatched"' in text


@pytest.mark.parametrize("path", ["/api/v1/users/", "/api/v1/no-such-thing/", "/api/v1/health/live/"])
def test_every_api_response_is_no_store(client_api, anon_api, path):
    for api in (client_api, anon_api):
        r = api.get(path)
        assert r["Cache-Control"] == "no-store", (path, r.status_code)


def test_errors_and_writes_are_no_store_too(client_api, anon_api):
    assert client_api.post("/api/v1/users/", {"full_name": ""})["Cache-Control"] == "no-store"  # 400
    assert anon_api.get("/api/v1/users/")["Cache-Control"] == "no-store"  # 401
    assert Client().generic("BREW", "/api/v1/users/")["Cache-Control"] == "no-store"  # 401/405


def test_pages_outside_the_api_keep_their_own_caching():
    r = Client().get("/admin/login/")
    assert r.status_code == 200
    assert r.get("Cache-Control") != "no-store"


def test_api_responses_touch_no_session_or_csrf_cookie(client_api):
    r = client_api.get("/api/v1/users/")
    assert r.status_code == 200
    assert not r.cookies
    assert "Cookie" not in r.get("Vary", "")


def test_admin_still_has_sessions_csrf_and_messages():
    user = get_user_model().objects.create_superuser("perf-admin", "a@example.com", "pw-0123456789")
    browser = Client(enforce_csrf_checks=True)
    # Without the CSRF token the login form is refused: the CSRF middleware runs for the admin.
    assert browser.post("/admin/login/", {"username": "perf-admin", "password": "pw-0123456789"}).status_code == 403
    page = browser.get("/admin/login/")
    token = page.cookies["csrftoken"].value
    r = browser.post("/admin/login/?next=/admin/", {"username": "perf-admin", "password": "pw-0123456789",
                                                    "csrfmiddlewaretoken": token, "next": "/admin/"})
    assert r.status_code == 302, r.content[:500]
    assert "sessionid" in browser.cookies
    assert browser.get("/admin/").context["user"] == user


def test_bench_floor_is_not_mounted_by_default():
    with pytest.raises(NoReverseMatch):
        reverse("bench-floor")
    assert Client().get("/api/v1/bench/floor/").status_code == 404


@override_settings(ROOT_URLCONF="bnpl.tests.bench_floor_urls")
def test_bench_floor_when_enabled_is_a_plain_view():
    r = Client().get("/api/v1/bench/floor/")
    assert r.status_code == 200 and r.json() == {"ok": True}
    assert r["Cache-Control"] == "no-store"


_SHORT_PATH_SETTINGS = {
    "SECURE_SSL_REDIRECT": True, "SECURE_REDIRECT_EXEMPT": [r"^api/v1/health/(live|ready)/$"],
    "SECURE_HSTS_SECONDS": 3600, "SECURE_CONTENT_TYPE_NOSNIFF": True, "SECURE_REFERRER_POLICY": "same-origin",
    "SECURE_CROSS_ORIGIN_OPENER_POLICY": "same-origin", "X_FRAME_OPTIONS": "DENY",
    "CORS_ALLOWED_ORIGINS": ["https://shop.example"], "ALLOWED_HOSTS": ["testserver"],
}


def _answer(handler, method, path, *, scheme="https", host="testserver", **headers):
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "testserver",
               "SERVER_PORT": "443", "HTTP_HOST": host, "wsgi.input": io.BytesIO(b""), "wsgi.url_scheme": scheme,
               "wsgi.errors": sys.stderr, **headers}
    started = []
    body = b"".join(handler(environ, lambda status, hdrs: started.append((int(status.split()[0]), hdrs))))
    status, hdrs = started[0]
    return status, {k: v for k, v in hdrs if k not in ("X-Request-ID", "Date")}, body


@override_settings(**_SHORT_PATH_SETTINGS)
@pytest.mark.parametrize("method,path,scheme,host,extra", [
    ("GET", "/api/v1/users/", "https", "testserver", {"HTTP_ORIGIN": "https://shop.example"}),  # 200
    ("GET", "/api/v1/users/", "https", "testserver", {"HTTP_ORIGIN": "https://evil.example"}),
    ("GET", "/api/v1/users/", "http", "testserver", {}),  # the HTTPS redirect
    ("GET", "/api/v1/users/", "https", "evil.example", {}),  # a Host not allowed: 400
    ("OPTIONS", "/api/v1/users/", "https", "testserver",  # a CORS preflight
     {"HTTP_ORIGIN": "https://shop.example", "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "POST"}),
    ("GET", "/api/v1/no-such-thing", "https", "testserver", {}),  # the catch-all, no slash redirect
    ("POST", "/api/v1/users/", "https", "testserver", {}),  # no key: 401, CSRF does not apply
    ("GET", "/api/v1/health/live/", "http", "testserver", {}),  # exempt from the redirect
    ("GET", "/api/v1/users/", "http", "evil.example", {}),  # the redirect cannot name a Host not allowed
    ("GET", "/api/v1/no-such-thing/", "https", "testserver", {"HTTP_ORIGIN": "https://shop.example"}),
    ("OPTIONS", "/api/v1/users/", "https", "evil.example",  # a preflight is answered before the Host check
     {"HTTP_ORIGIN": "https://shop.example", "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "POST"}),
])
def test_the_api_short_path_answers_exactly_as_the_whole_stack(client_api, monkeypatch, method, path, scheme,
                                                                 host, extra):
    """bnpl.middleware.RequestMiddleware sends /api/ past the admin's middleware: same status, headers, body."""
    from bnpl import middleware

    if path == "/api/v1/users/" and host == "testserver" and method == "GET":
        extra = {**extra, "HTTP_AUTHORIZATION": f"Bearer {client_api.raw_key}"}
    short = WSGIHandler()
    chain = short._middleware_chain.__wrapped__
    assert isinstance(chain, middleware.RequestMiddleware) and chain.api_response is not None
    monkeypatch.setattr(middleware, "_innermost_handler", lambda get_response: None)
    whole = WSGIHandler()
    assert whole._middleware_chain.__wrapped__.api_response is None
    answers = [_answer(h, method, path, scheme=scheme, host=host, **extra) for h in (short, whole)]
    assert answers[0] == answers[1]
    status, headers, body = answers[0]
    assert headers["Cache-Control"] == "no-store" and "Set-Cookie" not in headers
    if status == 200 and method == "GET":
        if scheme == "https":
            assert headers["Strict-Transport-Security"].startswith("max-age=3600")
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
        assert headers["Content-Length"] == str(len(body))
        allowed = extra.get("HTTP_ORIGIN") == "https://shop.example"
        assert headers.get("Access-Control-Allow-Origin") == ("https://shop.example" if allowed else None)


def test_every_request_on_the_short_path_still_logs_and_counts(client_api, caplog):
    from bnpl import metrics

    before = metrics.HTTP_REQUESTS.labels(method="GET", route="/api/v1/users/", status="200")._value.get()
    with caplog.at_level("INFO", logger="bnpl.access"):
        assert client_api.get("/api/v1/users/", HTTP_X_REQUEST_ID="short-path-1").status_code == 200
    after = metrics.HTTP_REQUESTS.labels(method="GET", route="/api/v1/users/", status="200")._value.get()
    assert after == before + 1
    [line] = [r for r in caplog.records if r.name == "bnpl.access"]
    assert (line.method, line.route, line.status, line.request_id) == ("GET", "/api/v1/users/", 200, "short-path-1")
