#!/bin/sh
# The official image builds Redis with protected mode off; Debian's keeps it on, so say it here.
set -eu
if [ "${1:-}" = redis-server ]; then
  shift
  set -- redis-server --protected-mode no "$@"
fi
exec "$@"
