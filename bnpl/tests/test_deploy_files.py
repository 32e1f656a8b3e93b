"""The deployment files are real: they parse, and everything they name exists in the project.

nginx is validated with the real ``nginx -t`` (and exercised as a running proxy) when the binary
is installed; otherwise its structure is checked by parsing.
"""
import importlib.util
import json
import os
import re
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import get_commands

ROOT = Path(settings.BASE_DIR)
K8S = ROOT / "k8s"
# API.md §10.
CONFIG_VARS = ["DJANGO_SECRET_KEY", "DJANGO_DEBUG", "DJANGO_ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL",
               "CORS_ALLOWED_ORIGINS", "BNPL_FIELD_ENCRYPTION_KEYS", "BNPL_LOOKUP_HASH_KEY", "BNPL_CURRENCY",
               "BNPL_TIME_ZONE", "BNPL_GRACE_DAYS", "BNPL_OVERDUE_SWEEP_SECONDS", "BNPL_WEBHOOK_TOLERANCE_SECONDS",
               "BNPL_RATE_LIMIT"]
SECRET_VARS = {"DJANGO_SECRET_KEY", "BNPL_FIELD_ENCRYPTION_KEYS", "BNPL_LOOKUP_HASH_KEY", "DATABASE_URL"}


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def default_of(value: str) -> str:
    """``${NAME:-default}`` -> ``default`` (what compose uses when NAME is unset); plain values as they are."""
    match = re.fullmatch(r"\$\{(\w+):-([^}]*)\}", value)
    return match[2] if match else value


def variable_of(value: str) -> str | None:
    match = re.fullmatch(r"\$\{(\w+):-([^}]*)\}", value)
    return match[1] if match else None


def k8s_docs() -> list[dict]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [dict(doc, _file=path.name) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def k8s_one(kind: str, name: str) -> dict:
    found = [d for d in k8s_docs() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, (kind, name)
    return found[0]


def pod_containers(doc: dict) -> list[dict]:
    spec = doc["spec"]["template"]["spec"]
    return spec.get("initContainers", []) + spec["containers"]


# --- what the files name must exist ---------------------------------------------------

def assert_command_exists(argv: list[str]) -> None:
    """gunicorn targets import, ``celery -A bnpl`` is the app, manage.py commands exist."""
    if argv[:2] == ["sh", "-c"] or argv[0] == "CMD-SHELL":
        for part in re.split(r"&&|\|\||;", argv[-1]):
            words = [w for w in shlex.split(part) if not w.startswith((">", "2>"))]
            if words and words[0] in {"celery", "python", "gunicorn"}:
                assert_command_exists(words)
        return
    program = Path(argv[0]).name
    if program == "gunicorn":
        module, _, attr = argv[1].partition(":")
        assert argv[1] == "bnpl.wsgi:application"
        assert importlib.util.find_spec(module) is not None
        assert "-c" in argv and (ROOT / argv[argv.index("-c") + 1]).is_file()
    elif program == "celery":
        assert argv[1:3] == ["-A", "bnpl"], argv
        from bnpl.celery import app

        assert app.main == "bnpl"
        assert argv[3] in {"worker", "beat", "inspect"}, argv
    elif program == "python" and argv[1] == "manage.py":
        assert argv[2] in get_commands(), f"no management command {argv[2]!r}"
    elif program == "python" and argv[1] == "-c":
        compile(argv[2], "<healthcheck>", "exec")
    elif program in {"pg_isready", "redis-cli", "redis-server", "wget", "openssl", "test"}:
        pass  # tools of the official postgres/redis/nginx images
    else:
        raise AssertionError(f"unknown command {argv}")


def test_every_yaml_file_parses():
    files = [ROOT / "docker-compose.yml", ROOT / ".github" / "workflows" / "ci.yml", *K8S.glob("*.yaml")]
    assert len(files) >= 10
    for path in files:
        assert list(yaml.safe_load_all(path.read_text())), path


def test_settings_modules_exist():
    modules = {compose()["x-app"]["environment"]["DJANGO_SETTINGS_MODULE"],
               k8s_one("ConfigMap", "bnpl-config")["data"]["DJANGO_SETTINGS_MODULE"]}
    dockerfile = (ROOT / "Dockerfile").read_text()
    modules |= set(re.findall(r"DJANGO_SETTINGS_MODULE=([\w.]+)", dockerfile))
    assert modules == {"bnpl.settings.production"}
    for module in modules:
        assert importlib.util.find_spec(module) is not None
    # The WSGI entry point imports (its settings default is production, which needs secrets: not loaded here).
    assert importlib.util.find_spec("bnpl.wsgi") is not None
    assert "application" in (ROOT / "bnpl" / "wsgi.py").read_text()


# --- docker-compose.yml ------------------------------------------------------------------

def test_compose_services_healthchecks_and_order():
    services = compose()["services"]
    assert set(services) == {"db", "redis", "migrate", "web", "worker", "beat", "nginx", "certs"}
    assert default_of(services["db"]["image"]).startswith("postgres:15")
    assert default_of(services["redis"]["image"]).startswith("redis:7")
    assert default_of(services["nginx"]["image"]).startswith("nginx:")
    for name in ("db", "redis", "web", "worker", "beat", "nginx"):
        assert services[name]["healthcheck"]["test"], name
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}, name
        assert depends["db"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        assert default_of(services[name]["env_file"]) == ".env"
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["migrate"]["restart"] == "no"
    assert services["nginx"]["depends_on"]["web"]["condition"] == "service_healthy"
    assert services["web"]["environment"]["PROMETHEUS_MULTIPROC_DIR"]
    assert services["migrate"]["healthcheck"] == {"disable": True}, "a one-shot is not a web server"
    assert services["certs"]["healthcheck"] == {"disable": True}


def test_prometheus_multiprocess_only_where_gunicorn_runs():
    """prometheus_client turns multi-process mode on when the variable exists at all, even empty: a
    celery or manage.py process with it (and no writable directory) dies at import."""
    services = compose()["services"]
    assert services["web"]["environment"]["PROMETHEUS_MULTIPROC_DIR"]
    for name in ("migrate", "worker", "beat", "certs"):
        assert "PROMETHEUS_MULTIPROC_DIR" not in (services[name].get("environment") or {}), name
    assert "PROMETHEUS_MULTIPROC_DIR=" not in (ROOT / "Dockerfile").read_text(), "not in the image's environment"
    assert "PROMETHEUS_MULTIPROC_DIR" not in json.dumps(k8s_one("ConfigMap", "bnpl-config"))
    for doc in (d for d in k8s_docs() if d["kind"] in ("Deployment", "Job")):
        for container in pod_containers(doc):
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            if container["command"][0] == "gunicorn":
                assert env["PROMETHEUS_MULTIPROC_DIR"], doc["metadata"]["name"]
            else:
                assert "PROMETHEUS_MULTIPROC_DIR" not in env, (doc["metadata"]["name"], container["name"])


def test_compose_named_volumes_are_declared():
    doc = compose()
    declared = set(doc["volumes"])
    used = {v.split(":")[0] for s in doc["services"].values() for v in s.get("volumes", [])
            if not v.startswith((".", "/"))}
    assert used == declared and {"pgdata", "redisdata"} <= declared
    for service in doc["services"].values():
        for volume in service.get("volumes", []):
            if volume.startswith("."):
                assert (ROOT / volume.split(":")[0]).exists(), volume


def test_compose_commands_exist():
    for name, service in compose()["services"].items():
        if "command" in service and name != "certs":
            assert_command_exists(service["command"])
        test = service.get("healthcheck", {}).get("test")
        if test:
            assert_command_exists(test[1:] if test[0] == "CMD" else test)


def test_env_example_lists_every_variable_with_placeholders():
    lines = [ln for ln in (ROOT / ".env.example").read_text().splitlines() if ln and not ln.startswith("#")]
    values = dict(line.split("=", 1) for line in lines)
    assert set(CONFIG_VARS) <= set(values)
    for name in SECRET_VARS:
        assert "change-me" in values[name], f"{name} must be a placeholder"
    assert values["DJANGO_DEBUG"] == "false"
    assert ".env" in (ROOT / ".gitignore").read_text().split()


# --- Dockerfile and gunicorn --------------------------------------------------------------

def test_dockerfile():
    text = (ROOT / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", text, flags=re.MULTILINE)[1:]
    assert len(stages) >= 2, "multi-stage"
    assert re.search(r"ARG PYTHON_IMAGE=python:3\.11-slim", text)
    final = stages[-1]
    build = stages[0]
    # Wheels only: no stage installs a compiler, so none can leak into the runtime image.
    assert "pip install --only-binary=:all: -r /tmp/requirements.txt" in build
    for tool in ("build-essential", "gcc", "apt-get install"):
        assert tool not in text, tool
    # The build's CA and pip config are BuildKit secrets: mounted for one step, never an ARG or a COPY.
    assert "--mount=type=secret,id=ca.crt" in build and "--mount=type=secret,id=pip.conf" in build
    assert not re.search(r"^(ARG|ENV|COPY|ADD) .*(ca-certificates|\.crt|\.pem|pip\.conf|CERT)", text,
                         re.MULTILINE | re.IGNORECASE)
    # No `# syntax=` line: it would make BuildKit pull a frontend image from a registry.
    assert not re.search(r"^#\s*syntax=", text, re.MULTILINE)
    # collectstatic's throwaway settings are made inside the step: no literal key in the history.
    collect = re.search(r"^RUN DJANGO_SECRET_KEY=.*?collectstatic --noinput", final, re.MULTILINE | re.DOTALL)[0]
    for name in ("DJANGO_SECRET_KEY", "BNPL_FIELD_ENCRYPTION_KEYS", "BNPL_LOOKUP_HASH_KEY"):
        assert re.search(rf'{name}="\$\(python -c ', collect), name
    assert "COPY --from=build /opt/venv /opt/venv" in final
    user = re.findall(r"^USER (\S+)", final, re.MULTILINE)
    assert user and not user[-1].startswith(("root", "0"))
    assert re.search(r"HEALTHCHECK .*\n?.*/api/v1/health/live/", final)
    assert "manage.py collectstatic --noinput" in final
    cmd = json.loads(re.search(r"^CMD (\[.*\])", final, re.MULTILINE)[1])
    assert cmd == ["gunicorn", "bnpl.wsgi:application", "-c", "gunicorn.conf.py"]
    assert_command_exists(cmd)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".git", ".venv", "**/tests", "conftest.py"} <= set(ignored)
    # Every tool cache the repository's .gitignore knows of stays out of the image too (mypy's is 90 MB).
    caches = {line.strip("/") for line in (ROOT / ".gitignore").read_text().split() if "cache" in line}
    caches = {f"**/{c}" if c == "__pycache__" else c for c in caches}
    assert caches <= set(ignored), caches - set(ignored)


def test_test_tools_are_not_runtime_requirements():
    runtime = {re.split(r"[=<>\[ ]", line)[0].lower() for line in (ROOT / "requirements.txt").read_text().splitlines()
               if line and not line.startswith(("#", "-"))}
    assert not runtime & {"pytest", "pytest-django", "factory-boy", "hypothesis", "ruff", "schemathesis"}


def _gunicorn_conf() -> dict:
    namespace: dict = {}
    exec(compile((ROOT / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), namespace)  # noqa: S102
    return namespace


def test_gunicorn_config_handles_prometheus_multiprocess(tmp_path, monkeypatch):
    conf = _gunicorn_conf()
    assert conf["bind"] == "0.0.0.0:8000" and conf["workers"] >= 2
    stale = tmp_path / "counter_99.db"
    stale.write_bytes(b"x")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    conf["on_starting"](None)
    assert not stale.exists(), "a previous run's samples would be merged"
    (tmp_path / "gauge_livesum_4242.db").write_bytes(b"x")
    (tmp_path / "counter_4242.db").write_bytes(b"x")
    conf["child_exit"](None, type("Worker", (), {"pid": 4242})())
    assert not (tmp_path / "gauge_livesum_4242.db").exists()  # a dead worker's live gauges go
    assert (tmp_path / "counter_4242.db").exists()  # its counts stay in the totals


def test_a_new_worker_imports_the_urlconf_before_its_first_request():
    """gunicorn's post_worker_init imports every view (Django would on the first request, under load),
    then freezes what is alive by then out of the collector's sight (the views among it); what is
    made later is still collected."""
    script = (
        "import gc, sys, django; django.setup(); "
        "ns = {}; exec(open('gunicorn.conf.py').read(), ns); "
        "before = 'bnpl.urls' in sys.modules; frozen_before = gc.get_freeze_count(); "
        "ns['post_worker_init'](None); "
        "frozen = gc.get_freeze_count(); "
        "from plans.api import PlanViewSet; "
        "later = []; later.append(later); gc.collect(); tracked = gc.get_objects(); "
        "print(before, 'bnpl.urls' in sys.modules, 'events.urls' in sys.modules, frozen_before, frozen > 50_000, "
        "any(o is PlanViewSet for o in tracked), any(o is later for o in tracked), gc.get_freeze_count() == frozen)")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bnpl.settings.test"}
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,  # noqa: S603 - our own fixed script
                         capture_output=True, text=True, timeout=60)
    # A view (imported before the freeze) is out of the collections' sight; a list made after is in them.
    assert out.stdout.split() == ["False", "True", "True", "0", "True", "False", "True", "True"], out.stderr[-2000:]


# --- k8s -------------------------------------------------------------------------------------

def test_k8s_kinds():
    kinds = [d["kind"] for d in k8s_docs()]
    for kind in ("Deployment", "Service", "Ingress", "HorizontalPodAutoscaler", "ConfigMap", "Secret", "Job"):
        assert kind in kinds, kind
    assert {d["metadata"]["name"] for d in k8s_docs() if d["kind"] == "Deployment"} == {
        "bnpl-web", "bnpl-worker", "bnpl-beat"}
    targets = {d["spec"]["scaleTargetRef"]["name"] for d in k8s_docs() if d["kind"] == "HorizontalPodAutoscaler"}
    assert targets == {"bnpl-web", "bnpl-worker"}
    ingress = k8s_one("Ingress", "bnpl")
    assert ingress["spec"]["tls"][0]["secretName"]
    paths = [p["path"] for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert "/api/" in paths and "/webhook/" in paths
    assert not any(p in ("/", "/metrics") for p in paths), "metrics must not be routed publicly"


def test_k8s_probes():
    web = k8s_one("Deployment", "bnpl-web")["spec"]["template"]["spec"]["containers"][0]
    assert web["livenessProbe"]["httpGet"]["path"] == "/api/v1/health/live/"
    assert web["readinessProbe"]["httpGet"]["path"] == "/api/v1/health/ready/"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        headers = {h["name"]: h["value"] for h in web[probe]["httpGet"]["httpHeaders"]}
        assert headers["Host"] == "localhost"  # always in production ALLOWED_HOSTS
    service = k8s_one("Service", "bnpl-web")
    assert service["spec"]["selector"] == k8s_one("Deployment", "bnpl-web")["spec"]["selector"]["matchLabels"]


def test_k8s_beat_is_a_singleton():
    beat = k8s_one("Deployment", "bnpl-beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"]["type"] == "Recreate"
    assert not any(d["spec"]["scaleTargetRef"]["name"] == "bnpl-beat"
                   for d in k8s_docs() if d["kind"] == "HorizontalPodAutoscaler")


def test_k8s_containers_have_resources_commands_and_config():
    config = k8s_one("ConfigMap", "bnpl-config")
    secret = k8s_one("Secret", "bnpl-secrets")
    assert set(CONFIG_VARS) <= set(config["data"]) | set(secret["stringData"])
    assert SECRET_VARS <= set(secret["stringData"]), "secrets belong in the Secret"
    workloads = [d for d in k8s_docs() if d["kind"] in ("Deployment", "Job")]
    images = set()
    for doc in workloads:
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod_containers(doc):
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]) and {"cpu", "memory"} <= set(resources["limits"])
            assert_command_exists(container["command"])
            refs = {next(iter(r.values()))["name"] for r in container["envFrom"]}
            assert refs == {"bnpl-config", "bnpl-secrets"}
            images.add(container["image"].rsplit(":", 1)[0])
            probe = container.get("livenessProbe", {}).get("exec")
            if probe:
                assert_command_exists(probe["command"])
    assert images == {"ghcr.io/example/bnpl"}
    job = k8s_one("Job", "bnpl-migrate")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["python", "manage.py", "migrate",
                                                                          "--noinput"]


def test_kustomization_lists_every_manifest_but_the_secret_template():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == files - {"secret.example.yaml"}


# --- CI -------------------------------------------------------------------------------------

def test_ci_runs_make_test_with_services_and_builds_the_image():
    ci = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    test_job = ci["jobs"]["test"]
    assert test_job["services"]["postgres"]["image"].startswith("postgres:15")
    assert test_job["services"]["redis"]["image"].startswith("redis:7")
    runs = [step.get("run", "") for step in test_job["steps"]]
    assert "make test" in runs
    assert "test:" in (ROOT / "Makefile").read_text()
    image_steps = ci["jobs"]["image"]["steps"]
    assert any("docker/build-push-action" in step.get("uses", "") for step in image_steps)


# --- nginx -----------------------------------------------------------------------------------

def _nginx_texts() -> tuple[str, str]:
    return (ROOT / "nginx" / "nginx.conf").read_text(), (ROOT / "nginx" / "conf.d" / "bnpl.conf").read_text()


def test_nginx_structure():
    main, site = _nginx_texts()
    for text in (main, site):
        stripped = re.sub(r"'[^']*'|\"[^\"]*\"|#.*", "", text)
        assert stripped.count("{") == stripped.count("}")
    for directive in ("client_max_body_size", "limit_req_zone", "gzip on", "proxy_cache_path",
                      "include /etc/nginx/conf.d/*.conf"):
        assert directive in main, directive
    for directive in ("server web:8000", "listen 443 ssl", "ssl_certificate     /etc/nginx/certs/",
                      "ssl_certificate_key /etc/nginx/certs/", "proxy_set_header X-Forwarded-Proto $scheme",
                      "limit_req zone=", "proxy_read_timeout", "Strict-Transport-Security", "location = /metrics",
                      "location /static/", "return 301 https://"):
        assert directive in site, directive
    log_format = re.search(r"log_format json .*?;", re.sub(r"#.*", "", main), re.DOTALL)[0]
    assert "$request_uri" not in log_format and "$args" not in log_format, \
        "the access log must not record query strings (personal data)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _nginx_sandbox(tmp_path: Path, upstream_port: int, http_port: int, https_port: int,
                   api_rate: str | None = None) -> Path:
    """A copy of nginx/ runnable as an ordinary process: local paths, ports and a throwaway certificate.

    ``api_rate`` replaces the per-IP API rate (the burst stays): on a loaded machine a client may
    not send faster than 20 r/s, and then the bucket never overflows.
    """
    main, site = _nginx_texts()
    if api_rate:
        assert "zone=api_per_ip:10m rate=20r/s" in main
        main = main.replace("zone=api_per_ip:10m rate=20r/s", f"zone=api_per_ip:10m rate={api_rate}")
    for d in ("conf.d", "certs", "logs", "cache"):
        (tmp_path / d).mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",  # noqa: S603,S607
                    "-subj", "/CN=localhost", "-keyout", str(tmp_path / "certs" / "privkey.pem"),
                    "-out", str(tmp_path / "certs" / "fullchain.pem")], check=True, capture_output=True)
    main = (main.replace("/etc/nginx/conf.d", str(tmp_path / "conf.d"))
            .replace("/var/log/nginx", str(tmp_path / "logs"))
            .replace("/var/run/nginx.pid", str(tmp_path / "nginx.pid"))
            .replace("/var/cache/nginx", str(tmp_path / "cache")))
    site = (site.replace("server web:8000", f"server 127.0.0.1:{upstream_port}")
            .replace("/etc/nginx/certs", str(tmp_path / "certs"))
            .replace("listen 80 ", f"listen 127.0.0.1:{http_port} ")
            .replace("listen 443 ", f"listen 127.0.0.1:{https_port} "))
    site = "\n".join(line for line in site.splitlines() if "listen [::]" not in line)
    (tmp_path / "conf.d" / "bnpl.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(main)
    return tmp_path / "nginx.conf"


def _nginx_cmd(conf: Path) -> list[str]:
    return [shutil.which("nginx") or "nginx", "-c", str(conf), "-p", str(conf.parent),
            "-e", str(conf.parent / "logs" / "error.log")]


needs_nginx = pytest.mark.skipif(not (shutil.which("nginx") and shutil.which("openssl")),
                                 reason="nginx/openssl not installed: test_nginx_structure covers the config")


@needs_nginx
def test_nginx_config_passes_nginx_t(tmp_path):
    conf = _nginx_sandbox(tmp_path, 8000, _free_port(), _free_port())
    result = subprocess.run([*_nginx_cmd(conf), "-t"], capture_output=True, text=True, timeout=30)  # noqa: S603
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


class _Echo(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802
        _Echo.hits.append(self.path)
        body = json.dumps({"path": self.path, "headers": dict(self.headers)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Frame-Options", "SAMEORIGIN")  # nginx must replace the app's copy, not add one
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@needs_nginx
@pytest.mark.slow
def test_nginx_proxies_as_configured(tmp_path):
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    http_port, https_port = _free_port(), _free_port()
    conf = _nginx_sandbox(tmp_path, upstream.server_address[1], http_port, https_port, api_rate="1r/s")
    nginx = subprocess.Popen([*_nginx_cmd(conf), "-g", "daemon off; master_process off;"],  # noqa: S603
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    tls = ssl.create_default_context()
    tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE  # the throwaway self-signed certificate
    no_redirect = urllib.request.build_opener(urllib.request.HTTPSHandler(context=tls), _NoRedirect)

    def get(url, **headers):
        try:
            with no_redirect.open(urllib.request.Request(url, headers=headers), timeout=5) as r:  # noqa: S310
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    try:
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", https_port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        https = f"https://127.0.0.1:{https_port}"
        status, headers, _ = get(f"http://127.0.0.1:{http_port}/api/v1/users/?x=1")
        assert status == 301 and headers["Location"] == "https://127.0.0.1/api/v1/users/?x=1"
        assert get(f"http://127.0.0.1:{http_port}/nginx-health")[0] == 200

        status, headers, body = get(f"{https}/api/v1/users/", **{"X-Request-ID": "abc-123"})
        assert status == 200
        seen = json.loads(body)["headers"]
        assert seen["X-Forwarded-Proto"] == "https" and seen["X-Request-ID"] == "abc-123"
        assert headers.get_all("X-Frame-Options") == ["DENY"]
        assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
        assert headers["X-Content-Type-Options"] == "nosniff"

        _Echo.hits.clear()
        assert get(f"{https}/metrics")[0] == 404
        assert _Echo.hits == [], "/metrics must not reach the app through nginx"

        statuses, throttled = [], None
        for _ in range(80):
            status, headers, body = get(f"{https}/api/v1/users/")
            statuses.append(status)
            if status == 429:
                throttled = (headers, body)
        assert 429 in statuses and statuses[0] == 200
        assert throttled[0]["Content-Type"] == "application/problem+json" and throttled[0]["Retry-After"]
        assert json.loads(throttled[1])["code"] == "throttled"
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        upstream.shutdown()
        upstream.server_close()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None



# --- the k8s manifests against the Kubernetes OpenAPI schemas ---------------------------------

# The oldest Kubernetes minor still in wide support that the manifests promise to work on, and the
# newest whose schemas kubernetes-validate ships (offline: the schemas are inside the package).
K8S_VERSIONS = ("1.29.0", None)


def test_k8s_manifests_match_the_kubernetes_openapi_schemas():
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    versions = [v or kubernetes_validate.latest_version() for v in K8S_VERSIONS]
    checked = 0
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc["apiVersion"].startswith("kustomize.config.k8s.io/"):
                continue  # not a cluster resource: test_kustomization_lists_every_manifest_but_the_secret_template
            for version in versions:
                # strict: an unknown or misspelt field is an error, not silently dropped by the API server.
                kubernetes_validate.validate(doc, version, strict=True)
                checked += 1
    assert checked >= 2 * 12


def test_k8s_validator_rejects_what_the_api_server_would():
    """The validator in use does catch a wrong type and an unknown field (so a pass means something)."""
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    web = k8s_one("Deployment", "bnpl-web")
    web.pop("_file")
    kubernetes_validate.validate(web, K8S_VERSIONS[0], strict=True)
    wrong_type = json.loads(json.dumps(web))
    wrong_type["spec"]["replicas"] = "two"
    misspelt = json.loads(json.dumps(web))
    misspelt["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    for doc in (wrong_type, misspelt):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(doc, K8S_VERSIONS[0], strict=True)


# --- docker-compose.yml runs for real: scripts/docker-smoke.sh and its local stand-ins -------------

STANDINS = {"db": ("POSTGRES_IMAGE", "postgres"), "redis": ("REDIS_IMAGE", "redis"), "nginx": ("NGINX_IMAGE", "nginx")}


def test_compose_images_are_variables_with_the_official_defaults():
    services = compose()["services"]
    for service, (variable, standin) in STANDINS.items():
        assert variable_of(services[service]["image"]) == variable, service
        assert "/" not in default_of(services[service]["image"]), "the official (library) image by default"
        assert (ROOT / "docker" / standin / "Dockerfile").is_file(), standin
    for service in ("migrate", "web", "worker", "beat", "certs"):
        assert services[service]["image"] == "${BNPL_IMAGE:-bnpl:latest}", service
    script = (ROOT / "scripts" / "docker-smoke.sh").read_text()
    for service, (variable, _standin) in STANDINS.items():
        assert f"[{variable}]={default_of(services[service]['image'])}" in script, "the script tries the same image"


def test_standins_provide_what_compose_uses_from_the_official_images():
    """Each stand-in installs the tools the compose file's commands and healthchecks call."""
    services = compose()["services"]
    needs = {"db": ["pg_isready"], "redis": ["redis-server", "redis-cli"], "nginx": ["wget", "nginx"]}
    packages = {"pg_isready": "postgresql-15", "redis-server": "redis-server", "redis-cli": "redis-server",
                "wget": "wget", "nginx": "nginx-light"}
    for service, tools in needs.items():
        standin = ROOT / "docker" / STANDINS[service][1]
        dockerfile = (standin / "Dockerfile").read_text()
        used = json.dumps(services[service].get("healthcheck", {})) + json.dumps(services[service].get("command", []))
        for tool in tools:
            if service != "nginx" or tool != "nginx":
                assert tool in used, (service, tool)
            assert re.search(rf"apt-get install .*\b{re.escape(packages[tool])}\b", dockerfile), (service, tool)
        assert re.search(r"^ARG BASE_IMAGE=", dockerfile, re.MULTILINE)
        assert re.search(r"^FROM \$\{BASE_IMAGE\}", dockerfile, re.MULTILINE)
        for script in standin.glob("*.sh"):
            assert script.stat().st_mode & 0o111, f"{script.name} must be executable"
            subprocess.run(["sh", "-n", str(script)], check=True)  # noqa: S603,S607
    postgres = (ROOT / "docker" / "postgres" / "Dockerfile").read_text()
    assert "VOLUME /var/lib/postgresql/data" in postgres  # where the compose file mounts pgdata
    assert "/var/lib/postgresql/data" in json.dumps(services["db"]["volumes"])
    assert "USER postgres" in postgres and "USER redis" in (ROOT / "docker" / "redis" / "Dockerfile").read_text()


def test_docker_smoke_script_is_wired_in():
    script = ROOT / "scripts" / "docker-smoke.sh"
    assert script.stat().st_mode & 0o111
    subprocess.run(["bash", "-n", str(script)], check=True)  # noqa: S603,S607
    text = script.read_text()
    # It waits for every service the compose file defines and tears down volumes whatever happened.
    waited = re.search(r"for service in (migrate certs [\w ]+); do", text)[1].split()
    assert set(waited) == set(compose()["services"])
    assert "trap on_exit EXIT" in text and "down -v --remove-orphans" in text
    assert "--secret \"id=ca.crt,src=$CA_BUNDLE\"" in text
    assert "scripts/docker-smoke.sh" in (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^docker-smoke:.*\n\tscripts/docker-smoke.sh", makefile, re.MULTILINE)
    # The journey signs the webhook with the project's own code, in the web container.
    journey = (ROOT / "scripts" / "docker_smoke_journey.py").read_text()
    assert "from webhooks.signature import sign" in journey
    compile(journey, "docker_smoke_journey.py", "exec")


@pytest.mark.skipif(not shutil.which("docker-compose"), reason="docker-compose not installed")
def test_compose_file_passes_docker_compose_config(tmp_path):
    """Debian's docker-compose (v1) accepts the file: no keys only the newer `docker compose` knows."""
    env = tmp_path / "env"
    env.write_text((ROOT / ".env.example").read_text())
    result = subprocess.run(  # noqa: S603
        [shutil.which("docker-compose"), "--project-directory", str(ROOT), "-f", str(ROOT / "docker-compose.yml"),
         "--env-file", str(env), "config", "--quiet"],
        capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "BNPL_ENV_FILE": str(env)})
    assert result.returncode == 0, result.stderr
