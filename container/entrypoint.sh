#!/bin/sh
# The container's command: api (gunicorn), worker (the notification worker) or init-db (schema and
# migrations, then exit). Anything else runs as given, e.g. `flask --app app1 gen-data --orders 1000`.
set -eu
role="${1:-api}"
[ "$#" -gt 0 ] && shift
# An env file's empty `WEB_CONCURRENCY=` means "the default" (one per core), but gunicorn itself reads it as a number.
[ -n "${WEB_CONCURRENCY:-}" ] || unset WEB_CONCURRENCY
# The HEALTHCHECK (container/healthcheck.py) reads the role to know what to check.
echo "$role" > /tmp/courier-role
case "$role" in
  api) exec gunicorn -c gunicorn.conf.py "$@" ;;
  worker) exec flask --app app1 worker "$@" ;;
  init-db) exec flask --app app1 init-db "$@" ;;
  *) exec "$role" "$@" ;;
esac
