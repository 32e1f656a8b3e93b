#!/usr/bin/env bash
# The whole test suite against the real PostgreSQL and Redis on 127.0.0.1, then the money tests
# (marked `money`) a second time on SQLite, the embedded default, where amounts must be exact too.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh requirements-dev.txt
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/bnpl}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/15}"
.venv/bin/python - <<'PY'
import os, sys
from urllib.parse import urlparse
import psycopg2, redis
db = urlparse(os.environ["DATABASE_URL"])
try:
    psycopg2.connect(host=db.hostname, port=db.port or 5432, user=db.username or "postgres",
                     password=db.password, dbname="postgres", connect_timeout=3).close()
except Exception as exc:
    sys.exit(f"PostgreSQL is not reachable at {db.hostname}:{db.port or 5432} ({type(exc).__name__}). "
             "Start it (see README) or set DATABASE_URL.")
try:
    redis.Redis.from_url(os.environ["REDIS_URL"], socket_connect_timeout=3).ping()
except Exception as exc:
    sys.exit(f"Redis is not reachable at {os.environ['REDIS_URL']} ({type(exc).__name__}). "
             "Start it (see README) or set REDIS_URL.")
PY
.venv/bin/pytest "$@"
echo "--- the money tests again, on SQLite (BNPL_TEST_DB=sqlite) ---"
BNPL_TEST_DB=sqlite exec .venv/bin/pytest -m money "$@"
