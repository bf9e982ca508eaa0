#!/bin/bash
# A consistent online backup of the database, gzipped to stdout:
#   ops/backup.sh [DATABASE] > courier-$(date +%F).sql.gz
# --single-transaction reads every InnoDB table from one snapshot without locking them, so the API and the
# worker keep running. Connection settings come from MYSQL_HOST / MYSQL_PORT / MYSQL_USER / MYSQL_PASSWORD
# (the app's own; the password goes through the environment, never the command line).
set -euo pipefail
db="${1:-${MYSQL_DB:-courier1}}"
export MYSQL_PWD="${MYSQL_PASSWORD:-}"
mariadb-dump --host="${MYSQL_HOST:-127.0.0.1}" --port="${MYSQL_PORT:-3306}" --user="${MYSQL_USER:-root}" \
  --single-transaction --quick --routines --triggers --events --hex-blob --default-character-set=utf8mb4 \
  "$db" | gzip
