# The BNPL service image: web (gunicorn, the default command), worker and beat (same image, other commands).
#   DOCKER_BUILDKIT=1 docker build -t bnpl --build-arg BNPL_VERSION=$(git describe --always) .
# Behind a TLS-intercepting proxy, hand the build the machine's CA bundle (and pip config, if any) as
# build secrets: they are mounted for the one `pip install` step and never written to a layer.
#   --secret id=ca.crt,src=/etc/ssl/certs/ca-certificates.crt --secret id=pip.conf,src=/etc/pip.conf
# No `# syntax=` line: the Dockerfile frontend built into the engine is enough, and a machine that
# reaches no registry could not pull another one.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: the virtualenv; nothing of this stage but /opt/venv ships ---------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.txt /tmp/requirements.txt
# Wheels only (--only-binary): every runtime dependency ships one, so no stage needs a compiler.
# pip itself leaves the venv afterwards: the runtime installs nothing.
RUN --mount=type=secret,id=ca.crt,target=/run/secrets/ca.crt \
    --mount=type=secret,id=pip.conf,target=/run/secrets/pip.conf \
    if [ -s /run/secrets/pip.conf ]; then export PIP_CONFIG_FILE=/run/secrets/pip.conf; fi; \
    if [ -s /run/secrets/ca.crt ]; then export PIP_CERT=/run/secrets/ca.crt; fi; \
    pip install --only-binary=:all: -r /tmp/requirements.txt \
 && pip uninstall --yes --quiet pip setuptools

# --- runtime: no compilers, no package caches, no test tools, a non-root user ------------------
FROM ${PYTHON_IMAGE} AS runtime
# PROMETHEUS_MULTIPROC_DIR is not set here but where gunicorn runs (compose `web`, k8s `bnpl-web`):
# prometheus_client turns multi-process mode on when the variable merely exists, even empty, and
# then every other process (worker, beat, migrate, manage.py) would need a writable directory.
# XDG_RUNTIME_DIR: where gunicorn puts its control socket (the app user's home, /app, is read-only).
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=bnpl.settings.production \
    XDG_RUNTIME_DIR=/tmp
RUN groupadd --system --gid 10001 bnpl \
 && useradd --system --uid 10001 --gid bnpl --home-dir /app --no-create-home --shell /usr/sbin/nologin bnpl
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
# Owned by root: the app user can read its code, not change it.
COPY . /app
# Static files at build time (whitenoise serves them, with hashed names), and the code compiled once
# here (the app user cannot write .pyc files at run time). The settings need their
# secrets to import: throwaway values made inside this one step, so neither they nor anything
# that looks like a key is in the image's environment or its history.
RUN DJANGO_SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    BNPL_FIELD_ENCRYPTION_KEYS="$(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
    BNPL_LOOKUP_HASH_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(32))')" \
    REDIS_URL=redis://collectstatic.invalid:6379/0 \
    python manage.py collectstatic --noinput \
 && python -m compileall -q /app \
 && mkdir -p /tmp/prometheus \
 && chown bnpl:bnpl /tmp/prometheus
# Last: a new version (each commit) rebuilds this layer only, not the venv copy or collectstatic.
ARG BNPL_VERSION=dev
ENV BNPL_VERSION=${BNPL_VERSION}
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request as u; sys.exit(0 if u.urlopen('http://127.0.0.1:8000/api/v1/health/live/', timeout=2).status == 200 else 1)"]
# Worker and beat override the command: `celery -A bnpl worker`, `celery -A bnpl beat`.
CMD ["gunicorn", "bnpl.wsgi:application", "-c", "gunicorn.conf.py"]
