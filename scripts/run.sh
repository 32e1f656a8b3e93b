#!/usr/bin/env bash
# Install, migrate and start the service.
#   no DATABASE_URL -> SQLite; no reachable REDIS_URL -> Celery tasks run in-process.
#   both set        -> PostgreSQL + Redis, and a Celery worker and beat run alongside.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh requirements.txt
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-bnpl.settings.local}"
PORT="${PORT:-8000}"
py=.venv/bin/python

$py manage.py migrate --noinput >/dev/null
$py manage.py collectstatic --noinput >/dev/null

pids=()
cleanup() { for pid in "${pids[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

if [ -n "${REDIS_URL:-}" ] && $py -c "import sys; from bnpl.settings.env import redis_reachable as r; sys.exit(0 if r('$REDIS_URL') else 1)"; then
  .venv/bin/celery -A bnpl worker --loglevel=INFO --concurrency=2 &
  pids+=($!)
  .venv/bin/celery -A bnpl beat --loglevel=INFO --schedule=/tmp/bnpl-celerybeat-schedule &
  pids+=($!)
  mode="PostgreSQL/Redis with a Celery worker and beat"
else
  mode="embedded (SQLite unless DATABASE_URL is set; Celery tasks in-process)"
  # No beat without a broker: the same overdue sweep service, on the same schedule, from a loop.
  (while sleep "${BNPL_OVERDUE_SWEEP_SECONDS:-300}"; do $py manage.py sweep_overdue >/dev/null || true; done) &
  pids+=($!)
fi
[ -n "${DATABASE_URL:-}" ] || mode="${mode/PostgreSQL/SQLite}"

cat <<MSG
BNPL service, $mode
  API        http://127.0.0.1:$PORT/api/v1/
  Swagger    http://127.0.0.1:$PORT/swagger/   (ReDoc: /redoc/, schema: /swagger.json)
  Health     http://127.0.0.1:$PORT/api/v1/health/
  Admin      http://127.0.0.1:$PORT/admin/     (.venv/bin/python manage.py createsuperuser)
  API key    .venv/bin/python manage.py create_api_key --role client --name my-app
  Demo data  .venv/bin/python manage.py seed_demo
MSG
.venv/bin/gunicorn bnpl.wsgi:application --bind "0.0.0.0:$PORT" --workers "${WEB_CONCURRENCY:-2}" \
  --access-logfile - --env "DJANGO_SETTINGS_MODULE=$DJANGO_SETTINGS_MODULE" &
pids+=($!)
wait -n
