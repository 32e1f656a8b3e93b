# syntax=docker/dockerfile:1
# The BNPL service image: web (gunicorn, the default command), worker and beat (same image, other commands).
#   docker build -t bnpl --build-arg BNPL_VERSION=$(git describe --always) .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: compile anything that has no wheel; nothing of this stage but the venv ships --------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential libpq-dev \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.txt /tmp/requirements.txt
RUN pip install -r /tmp/requirements.txt

# --- runtime: no compilers, no package caches, a non-root user ------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG BNPL_VERSION=dev
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=bnpl.settings.production \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus \
    BNPL_VERSION=${BNPL_VERSION}
RUN groupadd --system --gid 10001 bnpl \
 && useradd --system --uid 10001 --gid bnpl --home-dir /app --no-create-home --shell /usr/sbin/nologin bnpl
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY . /app
# Static files at build time (whitenoise serves them, with hashed names). The settings need their
# secrets to import; these throwaway values exist only in this RUN step, never in the image's env.
RUN DJANGO_SECRET_KEY=build-only-collectstatic-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz \
    BNPL_FIELD_ENCRYPTION_KEYS=3l8lTdPkLZVZ1B5l3yMN5x6LmkV4t9DXtT9HfPQ7cUg= \
    BNPL_LOOKUP_HASH_KEY=build-only \
    python manage.py collectstatic --noinput \
 && mkdir -p /tmp/prometheus \
 && chown bnpl:bnpl /tmp/prometheus
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request as u; sys.exit(0 if u.urlopen('http://127.0.0.1:8000/api/v1/health/live/', timeout=2).status == 200 else 1)"]
# Worker and beat override the command: `celery -A bnpl worker`, `celery -A bnpl beat`.
CMD ["gunicorn", "bnpl.wsgi:application", "-c", "gunicorn.conf.py"]
