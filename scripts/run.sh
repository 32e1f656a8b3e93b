#!/usr/bin/env bash
# Install, migrate and start the service. Ctrl-C (or SIGTERM) stops every child within 10 s.
#   REDIS_URL unset -> the embedded mode: SQLite unless DATABASE_URL is set, Celery tasks in-process,
#                      and beat's schedule run in-process (manage.py embedded_beat).
#   REDIS_URL set   -> a Celery worker and Celery beat run alongside. A Redis that is down only makes
#                      the service "degraded" until it returns; it never switches to the embedded mode.
# Logs are JSON lines (the application's access log; no gunicorn access log, which would print
# raw paths and query strings such as ?phone_number=).
set -euo pipefail
cd "$(dirname "$0")/.."
# BNPL_NO_BOOTSTRAP=1 skips the install step (the tests start this script against an installed .venv).
[ -n "${BNPL_NO_BOOTSTRAP:-}" ] || scripts/bootstrap.sh requirements.txt
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-bnpl.settings.local}"
PORT="${PORT:-8000}"
py=.venv/bin/python

$py manage.py migrate --noinput >/dev/null
$py manage.py collectstatic --noinput >/dev/null

pids=()
web_pid=""
stopping=0
# A child that has exited but is not reaped yet (a zombie) still answers `kill -0`: read its state.
alive() {
  local state
  if [ -r "/proc/$1/stat" ]; then
    read -r _ _ state _ < "/proc/$1/stat" 2>/dev/null || return 1
    [ "$state" != Z ]
  else
    kill -0 "$1" 2>/dev/null
  fi
}
stop_children() {
  [ "$stopping" = 1 ] && return 0
  stopping=1
  trap - INT TERM
  # gunicorn: INT is its quick shutdown; the others stop cleanly on TERM (the Celery worker's tasks
  # are acknowledged late, so one cut short by the SIGKILL below is delivered again).
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  [ -n "$web_pid" ] && kill -INT "$web_pid" 2>/dev/null || true
  # A clean exit gets about 5 s; then SIGKILL, so everything is gone well within 10 s.
  local deadline=$((SECONDS + 6)) pid running
  while [ "$SECONDS" -lt "$deadline" ]; do
    running=0
    for pid in "${pids[@]}"; do alive "$pid" && running=1; done
    [ "$running" = 0 ] && break
    sleep 0.1
  done
  # Children first (gunicorn's workers): once their master is gone they would be orphans nobody stops.
  for pid in "${pids[@]}"; do
    { command -v pkill >/dev/null && pkill -KILL -P "$pid"; } 2>/dev/null || true
    kill -KILL "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
trap 'stop_children; exit 130' INT
trap 'stop_children; exit 143' TERM
trap stop_children EXIT

if [ -n "${REDIS_URL:-}" ]; then
  # -q: no banner; the log lines are JSON (CELERY_WORKER_HIJACK_ROOT_LOGGER = False, LOGGING).
  .venv/bin/celery -A bnpl -q worker --loglevel=INFO --concurrency=2 &
  pids+=($!)
  .venv/bin/celery -A bnpl -q beat --loglevel=INFO --schedule="${TMPDIR:-/tmp}/bnpl-celerybeat-schedule" &
  pids+=($!)
  mode="PostgreSQL/Redis with a Celery worker and beat"
else
  mode="embedded (SQLite unless DATABASE_URL is set; Celery tasks in-process)"
  # No broker, so no beat: its schedule (the overdue sweep first, at once) runs in-process.
  $py manage.py embedded_beat &
  pids+=($!)
fi
[ -n "${DATABASE_URL:-}" ] || mode="${mode/PostgreSQL/SQLite}"

cat <<MSG >&2
BNPL service, $mode
  API        http://127.0.0.1:$PORT/api/v1/
  Swagger    http://127.0.0.1:$PORT/swagger/   (ReDoc: /redoc/, schema: /swagger.json)
  Health     http://127.0.0.1:$PORT/api/v1/health/
  Admin      http://127.0.0.1:$PORT/admin/     (.venv/bin/python manage.py createsuperuser)
  API key    .venv/bin/python manage.py create_api_key --role client --name my-app
  Demo data  .venv/bin/python manage.py seed_demo
MSG
# gunicorn.conf.py gives a worker 25 s to finish its request on a stop; here 4 s, inside the 10 s above
# (a worker forked as the signal arrives can miss it, and its master would otherwise wait the full time).
.venv/bin/gunicorn bnpl.wsgi:application --bind "0.0.0.0:$PORT" --workers "${WEB_CONCURRENCY:-2}" \
  --graceful-timeout "${GUNICORN_GRACEFUL_TIMEOUT:-4}" --env "DJANGO_SETTINGS_MODULE=$DJANGO_SETTINGS_MODULE" &
web_pid=$!
pids+=($!)
wait -n
