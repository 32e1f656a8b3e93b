#!/usr/bin/env bash
# Run the deployment files for real: build the image, start docker-compose.yml, drive a customer's
# journey through nginx, check the image, and tear everything down (volumes too) whatever happened.
#
#   scripts/docker-smoke.sh            (as root: it may apt-get install and start dockerd)
#
# On a machine that reaches no container registry (only Debian's and PyPI's), the base images are
# made here from Debian packages: the Python base with mmdebstrap, local stand-ins for the
# PostgreSQL, Redis and nginx images (docker/*/Dockerfile). They are kept between runs, so a second
# run builds only what changed. docs/DEPLOY.md explains each step and records a timed run.
#
# Knobs: BNPL_SMOKE_REBUILD=1 remakes the local base images; BNPL_SMOKE_KEEP=1 leaves the stack
# running for a look (tear it down with the command printed at the end); BNPL_SMOKE_DEADLINE_S
# bounds each wait (default 300).
set -Eeuo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

STARTED=$(date +%s)
STEP="start"
DEADLINE_S=${BNPL_SMOKE_DEADLINE_S:-300}
PROJECT=bnpl-smoke
WORK=$(mktemp -d /tmp/bnpl-smoke.XXXXXX)
STACK_UP=0
DOCKERD_PID=""

elapsed() { echo $(( $(date +%s) - STARTED )); }
step() {
  STEP="$*"
  printf '[%4ss] == %s\n' "$(elapsed)" "$*"
}
note() { printf '         %s\n' "$*"; }
die() {
  echo "docker-smoke: $*" >&2
  exit 1
}

# wait_until DESCRIPTION SECONDS COMMAND...: poll COMMAND once a second until it succeeds.
wait_until() {
  local what=$1 seconds=$2
  shift 2
  local until=$(( $(date +%s) + seconds ))
  until "$@" >/dev/null 2>&1; do
    (( $(date +%s) < until )) || die "$what: not within ${seconds} s"
    sleep 1
  done
}

on_exit() {
  local rc=$?
  set +e
  trap - EXIT ERR
  if (( STACK_UP )); then
    if (( rc != 0 )); then
      echo "---- docker-compose ps and the last log lines of each service ----"
      "${COMPOSE[@]}" ps
      for service in db redis migrate web worker beat certs nginx; do
        echo "---- $service ----"
        "${COMPOSE[@]}" logs --no-color --tail=40 "$service" 2>&1 | tail -n 40
      done
    fi
    if [[ ${BNPL_SMOKE_KEEP:-} == 1 ]]; then
      echo "docker-smoke: the stack is left running; tear it down with:"
      echo "  ${COMPOSE[*]} down -v --remove-orphans && rm -r $WORK"
    else
      printf '[%4ss] == tear down: docker-compose down -v (containers, network, volumes)\n' "$(elapsed)"
      "${COMPOSE[@]}" down -v --remove-orphans --timeout 20 >"$WORK/down.log" 2>&1 \
        || { cat "$WORK/down.log"; echo "docker-smoke: tear down failed" >&2; rc=${rc/#0/1}; }
      left=$("$DOCKER" ps -aq --filter "label=com.docker.compose.project=$PROJECT")
      left+=$("$DOCKER" volume ls -q --filter "label=com.docker.compose.project=$PROJECT")
      [[ -z $left ]] || { echo "docker-smoke: left behind after tear down: $left" >&2; rc=${rc/#0/1}; }
    fi
  fi
  [[ ${BNPL_SMOKE_KEEP:-} == 1 && $STACK_UP == 1 ]] || rm -rf "$WORK"
  if [[ -n $DOCKERD_PID && ${BNPL_SMOKE_KEEP:-} != 1 ]]; then
    kill "$DOCKERD_PID" 2>/dev/null
    for _ in $(seq 1 20); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
  fi
  if (( rc == 0 )); then
    printf '[%4ss] docker-smoke: PASSED\n' "$(elapsed)"
  else
    printf '[%4ss] docker-smoke: FAILED at step: %s (exit %s)\n' "$(elapsed)" "$STEP" "$rc" >&2
  fi
  exit "$rc"
}
trap on_exit EXIT

# --- 1. the Docker engine --------------------------------------------------------------------
step "docker engine: install docker.io and docker-compose if missing, start dockerd if not running"
apt_install() {
  [[ $(id -u) == 0 ]] || die "missing $*, and not root to apt-get install it"
  note "apt-get install $*"
  if [[ ! -f $WORK/apt-updated ]]; then
    apt-get update -qq >"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log"; die "apt-get update failed"; }
    touch "$WORK/apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "$@" >>"$WORK/apt.log" 2>&1 || { tail -n 30 "$WORK/apt.log"; die "apt-get install $* failed"; }
}
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
(( ${#missing[@]} == 0 )) || apt_install "${missing[@]}"
# Debian's client builds with the BuildKit built into the engine; a newer client elsewhere on the
# PATH may want the buildx plugin for that, which a machine without a registry cannot get.
if docker buildx version >/dev/null 2>&1 || [[ ! -x /usr/bin/docker ]]; then DOCKER=$(command -v docker); else DOCKER=/usr/bin/docker; fi
if ! "$DOCKER" info >/dev/null 2>&1; then
  note "starting dockerd (log: /var/log/bnpl-smoke-dockerd.log)"
  setsid dockerd >/var/log/bnpl-smoke-dockerd.log 2>&1 </dev/null &
  DOCKERD_PID=$!
  wait_until "dockerd answering" 60 "$DOCKER" info
fi
if docker compose version >/dev/null 2>&1; then COMPOSE_BIN=(docker compose); else COMPOSE_BIN=(docker-compose); fi
note "$("$DOCKER" version --format 'engine {{.Server.Version}}, client {{.Client.Version}}'), $("${COMPOSE_BIN[@]}" version --short 2>/dev/null || "${COMPOSE_BIN[@]}" version | head -n 1)"

# --- 2. base images: pulled when a registry answers, else made from Debian packages ------------
pull() {  # a registry that does not answer may hang rather than refuse: bound it
  "$DOCKER" image inspect "$1" >/dev/null 2>&1 || timeout 120 "$DOCKER" pull -q "$1" >/dev/null 2>&1
}

# The machine's way to Debian: its own bookworm sources (mirror or proxy), else the default mirror.
debian_sources() {
  local f
  for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list; do
    [[ -f $f ]] && grep -qE '^(Suites:.*|deb .*)\bbookworm\b' "$f" && { echo "$f"; return; }
  done
  echo "http://deb.debian.org/debian"
}

# The build's CA: the machine's bundle (the proxy's CA is in it), as a BuildKit secret only.
CA_BUNDLE=${BNPL_BUILD_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
BUILD_SECRETS=()
[[ -s $CA_BUNDLE ]] && BUILD_SECRETS+=(--secret "id=ca.crt,src=$CA_BUNDLE")
[[ -s /etc/pip.conf ]] && BUILD_SECRETS+=(--secret "id=pip.conf,src=/etc/pip.conf")
PROXY_ARGS=()
for name in HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy; do
  [[ -n ${!name:-} ]] && PROXY_ARGS+=(--build-arg "$name")  # predefined: kept out of the history
done
build() {  # build TAG CONTEXT [ARGS...]: BuildKit, the host's network (its way to Debian and PyPI)
  local tag=$1 context=$2
  shift 2
  DOCKER_BUILDKIT=1 "$DOCKER" build --progress=plain --network host "${PROXY_ARGS[@]}" -t "$tag" "$@" "$context" \
    >"$WORK/build-${tag//[\/:]/_}.log" 2>&1 || { tail -n 40 "$WORK/build-${tag//[\/:]/_}.log"; die "docker build $tag failed"; }
}

step "base images: python:3.11-slim-bookworm and the official postgres, redis and nginx, or local builds"
PYTHON_IMAGE=python:3.11-slim-bookworm
if pull "$PYTHON_IMAGE"; then
  note "$PYTHON_IMAGE: pulled"
else
  # The recipe's hash is in the tag: a changed recipe makes a new image, an unchanged one is reused.
  MMDEBSTRAP_ARGS=(--variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias'
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright')
  recipe=$(printf '%s\n' "${MMDEBSTRAP_ARGS[@]}" "$(debian_sources)" | sha256sum | cut -c1-12)
  PYTHON_IMAGE=bnpl-local/python:3.11-bookworm-$recipe
  if [[ ${BNPL_SMOKE_REBUILD:-} == 1 ]] || ! "$DOCKER" image inspect "$PYTHON_IMAGE" >/dev/null 2>&1; then
    command -v mmdebstrap >/dev/null || apt_install mmdebstrap
    note "$PYTHON_IMAGE: mmdebstrap bookworm from $(debian_sources) | docker import"
    mmdebstrap --quiet "${MMDEBSTRAP_ARGS[@]}" bookworm - "$(debian_sources)" 2>"$WORK/mmdebstrap.log" \
      | "$DOCKER" import --change 'CMD ["python3"]' --change 'ENV LANG=C.UTF-8' - "$PYTHON_IMAGE" >/dev/null \
      || { tail -n 30 "$WORK/mmdebstrap.log"; die "mmdebstrap | docker import failed"; }
  else
    note "$PYTHON_IMAGE: made earlier from Debian packages, reused"
  fi
fi
# The compose file's defaults are the official images; a stand-in replaces one only if it cannot be pulled.
declare -A OFFICIAL=([POSTGRES_IMAGE]=postgres:15-alpine [REDIS_IMAGE]=redis:7-alpine [NGINX_IMAGE]=nginx:1.27-alpine)
declare -A STANDIN=([POSTGRES_IMAGE]=postgres [REDIS_IMAGE]=redis [NGINX_IMAGE]=nginx)
for var in POSTGRES_IMAGE REDIS_IMAGE NGINX_IMAGE; do
  if pull "${OFFICIAL[$var]}"; then
    export "$var=${OFFICIAL[$var]}"
    note "${OFFICIAL[$var]}: pulled"
  else
    export "$var=bnpl-local/${STANDIN[$var]}:standin"
    build "${!var}" "docker/${STANDIN[$var]}" --build-arg "BASE_IMAGE=$PYTHON_IMAGE"
    note "${OFFICIAL[$var]}: cannot be pulled; ${!var} built from Debian packages (docker/${STANDIN[$var]}/)"
  fi
done

# --- 3. the service image ------------------------------------------------------------------------
step "docker build: the service image (multi-stage, PYTHON_IMAGE=$PYTHON_IMAGE)"
export BNPL_IMAGE=bnpl-smoke:latest
VERSION=$(git describe --always --dirty 2>/dev/null || echo dev)
previous=$("$DOCKER" image inspect -f '{{.Id}}' "$BNPL_IMAGE" 2>/dev/null || true)
build "$BNPL_IMAGE" . --build-arg "PYTHON_IMAGE=$PYTHON_IMAGE" --build-arg "BNPL_VERSION=$VERSION" "${BUILD_SECRETS[@]}"
# The previous build, now untagged, would pile up run after run (its layers stay in the build cache).
[[ -z $previous || $previous == "$("$DOCKER" image inspect -f '{{.Id}}' "$BNPL_IMAGE")" ]] || "$DOCKER" rmi "$previous" >/dev/null 2>&1 || true
note "$BNPL_IMAGE ($VERSION): $("$DOCKER" image inspect -f '{{.Size}}' "$BNPL_IMAGE" | awk '{printf "%.0f MB", $1/1e6}'), $(grep -c CACHED "$WORK/build-${BNPL_IMAGE//[\/:]/_}.log") steps from cache"

# --- 4. the stack --------------------------------------------------------------------------------
step "docker-compose up -d: db, redis, migrate, web, worker, beat, certs, nginx"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
HTTP_PORT=$(free_port)
HTTPS_PORT=$(free_port)
secret() { python3 -c 'import secrets; print(secrets.token_urlsafe(40))'; }
DB_PASSWORD=$(secret)
ENV_FILE=$WORK/smoke.env
# Every value the compose file and the settings read; secrets fresh for this run only.
cat >"$ENV_FILE" <<EOF
COMPOSE_PROJECT_NAME=$PROJECT
DJANGO_SECRET_KEY=$(secret)
DJANGO_DEBUG=false
DJANGO_ALLOWED_HOSTS=localhost
DJANGO_CSRF_TRUSTED_ORIGINS=https://localhost:$HTTPS_PORT
CORS_ALLOWED_ORIGINS=
DATABASE_URL=postgres://bnpl:$DB_PASSWORD@db:5432/bnpl
REDIS_URL=redis://redis:6379/0
POSTGRES_DB=bnpl
POSTGRES_USER=bnpl
POSTGRES_PASSWORD=$DB_PASSWORD
BNPL_FIELD_ENCRYPTION_KEYS=$(python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')
BNPL_LOOKUP_HASH_KEY=$(secret)
BNPL_METRICS_TOKEN=$(secret)
BNPL_CURRENCY=UZS
BNPL_TIME_ZONE=Asia/Tashkent
BNPL_OVERDUE_SWEEP_SECONDS=10
LOG_LEVEL=INFO
WEB_CONCURRENCY=2
WORKER_CONCURRENCY=1
BNPL_VERSION=$VERSION
EOF
SECRET_NAMES=(DJANGO_SECRET_KEY DATABASE_URL POSTGRES_PASSWORD BNPL_FIELD_ENCRYPTION_KEYS BNPL_LOOKUP_HASH_KEY BNPL_METRICS_TOKEN)
export BNPL_ENV_FILE=$ENV_FILE PUBLISH_ADDRESS=127.0.0.1 HTTP_PORT HTTPS_PORT COMPOSE_PROJECT_NAME=$PROJECT
# --env-file: a developer's own .env is never read for the file's variables.
COMPOSE=("${COMPOSE_BIN[@]}" --project-name "$PROJECT" --project-directory "$ROOT" --file "$ROOT/docker-compose.yml" --env-file "$ENV_FILE")
# A run killed before its tear down (say, its dockerd stopped under it) leaves its containers and a
# db volume initialised with that run's password, which this run's web could not log in with.
"${COMPOSE[@]}" down -v --remove-orphans --timeout 5 >"$WORK/stale.log" 2>&1 || true
STACK_UP=1
"${COMPOSE[@]}" up -d --no-build --quiet-pull >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log"; die "docker-compose up failed"; }

step "wait for every healthcheck (db, redis, web, worker, beat, nginx) and the one-shot migrate and certs"
container() {  # by compose's labels: `docker-compose ps -q` costs seconds a call
  "$DOCKER" ps -aq --filter "label=com.docker.compose.project=$PROJECT" --filter "label=com.docker.compose.service=$1" | head -n 1
}
state() {  # healthy | unhealthy | starting | exited:CODE | running:0 (no healthcheck)
  "$DOCKER" inspect -f '{{if and .State.Health (eq .State.Status "running")}}{{.State.Health.Status}}{{else}}{{.State.Status}}:{{.State.ExitCode}}{{end}}' "$(container "$1")" 2>/dev/null
}
until=$(( $(date +%s) + DEADLINE_S ))
declare -A seen=()
while :; do
  pending=()
  for service in migrate certs db redis web worker beat nginx; do
    s=$(state "$service" || echo missing)
    if [[ ${seen[$service]:-} != "$s" ]]; then seen[$service]=$s; note "$(printf '%4ss %-8s %s' "$(elapsed)" "$service" "$s")"; fi
    case $service:$s in
      migrate:exited:0 | certs:exited:0 | *:healthy) ;;
      *:exited:* | *:unhealthy) die "$service is $s" ;;
      *) pending+=("$service") ;;
    esac
  done
  (( ${#pending[@]} == 0 )) && break
  (( $(date +%s) < until )) || die "not healthy within ${DEADLINE_S} s: ${pending[*]}"
  sleep 2
done

# --- 5. the journey through nginx ------------------------------------------------------------
step "journey through nginx: keys, user, plan, refund, signed webhook applied by the worker, health ok"
"$DOCKER" cp "$(container nginx):/etc/nginx/certs/fullchain.pem" "$WORK/stack-ca.pem" >/dev/null
SMOKE_HTTPS=https://localhost:$HTTPS_PORT SMOKE_HTTP=http://localhost:$HTTP_PORT SMOKE_CA=$WORK/stack-ca.pem \
  SMOKE_COMPOSE="${COMPOSE[*]}" SMOKE_DEADLINE_S=$DEADLINE_S python3 scripts/docker_smoke_journey.py

# --- 6. the image ---------------------------------------------------------------------------------
step "image checks: non-root web, no test tools, no secret in docker history, no build CA in any layer"
# One exec: the uid of the shell and of gunicorn (pid 1), test tools importable, a compiler on the PATH.
report=$("${COMPOSE[@]}" exec -T web sh -c '
  echo "uid $(id -u) $(awk "/^Uid:/ {print \$2}" /proc/1/status)"
  python -c "import importlib.util as u; print(\"tools\", *[m for m in (\"pytest\", \"pytest_django\", \"factory\", \"hypothesis\", \"ruff\", \"pip\") if u.find_spec(m)])"
  echo "compilers $(command -v gcc cc || true)"')
[[ $(grep '^uid ' <<<"$report") == "uid 10001 10001" ]] || die "the web container does not run as uid 10001: $report"
note "web runs as uid 10001 (the shell and gunicorn, pid 1), not root"
[[ $(grep '^tools' <<<"$report") == "tools" ]] || die "test tools in the runtime image: $(grep '^tools' <<<"$report")"
[[ $(grep '^compilers' <<<"$report") == "compilers " ]] || die "a compiler in the runtime image: $report"
note "no pytest, pytest-django, factory-boy, hypothesis, ruff, pip or compiler in the image"
"$DOCKER" history --no-trunc "$BNPL_IMAGE" >"$WORK/history.txt"
for name in "${SECRET_NAMES[@]}"; do
  value=$(grep "^$name=" "$ENV_FILE" | cut -d= -f2-)
  [[ -n $value ]] && ! grep -qF -- "$value" "$WORK/history.txt" || die "$name's value appears in docker history"
done
note "none of the .env secrets (${SECRET_NAMES[*]}) in docker history --no-trunc"
# The certificates the build was handed that Debian's bundle lacks (the proxy's): none in any layer.
if [[ -s $CA_BUNDLE ]]; then
  "$DOCKER" run --rm --entrypoint cat "$BNPL_IMAGE" /etc/ssl/certs/ca-certificates.crt >"$WORK/image-ca.crt"
  grep -vxFf "$WORK/image-ca.crt" "$CA_BUNDLE" | grep -E '^[A-Za-z0-9+/]{64}$' | head -n 50 >"$WORK/host-only-ca-lines" || true
  if [[ -s $WORK/host-only-ca-lines ]]; then
    cid=$("$DOCKER" create "$BNPL_IMAGE")
    hits=$("$DOCKER" export "$cid" | grep -acFf "$WORK/host-only-ca-lines" || true)
    "$DOCKER" rm "$cid" >/dev/null
    [[ $hits == 0 ]] || die "the build's CA certificates are in the image ($hits matching lines)"
    note "the $(wc -l <"$WORK/host-only-ca-lines") lines of the machine's own CA certificates match nothing in the image's files"
  fi
fi
