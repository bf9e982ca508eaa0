#!/bin/bash
# Restore a backup made by ops/backup.sh into a database that is new or empty (never over live data):
#   ops/restore.sh DATABASE < courier-2026-12-01.sql.gz
# then point MYSQL_DB at it and run `flask --app app1 init-db --no-seed` (the init-db role of the image), which
# applies any migration newer than the backup.
set -euo pipefail
db="${1:?usage: ops/restore.sh DATABASE < backup.sql.gz}"
[[ "$db" =~ ^[A-Za-z0-9_]{1,64}$ ]] || { echo "not a database name: $db" >&2; exit 1; }
export MYSQL_PWD="${MYSQL_PASSWORD:-}"
client=(mariadb --host="${MYSQL_HOST:-127.0.0.1}" --port="${MYSQL_PORT:-3306}" --user="${MYSQL_USER:-root}")
tables="$("${client[@]}" -N -e "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '$db'")"
if [ "$tables" != "0" ]; then
  echo "database $db already has $tables tables: restore into a new or empty database" >&2
  exit 1
fi
"${client[@]}" -e "CREATE DATABASE IF NOT EXISTS \`$db\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
gunzip -c | "${client[@]}" --default-character-set=utf8mb4 "$db"
echo "restored into $db"
