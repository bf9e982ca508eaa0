#!/bin/bash
# First start on an empty data folder: create the system tables, the database and the user from the
# environment (as the official image does), then run the server as the mysql user.
set -euo pipefail
if [ "${1:-}" = mariadbd ]; then
  shift
  chown -R mysql:mysql /var/lib/mysql /run/mysqld
  if [ ! -d /var/lib/mysql/mysql ]; then
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db >/dev/null
    mariadbd --user=mysql --skip-networking --socket=/run/mysqld/init.sock &
    pid=$!
    for _ in $(seq 1 60); do mariadb-admin --socket=/run/mysqld/init.sock ping >/dev/null 2>&1 && break; sleep 0.5; done
    sql="CREATE DATABASE IF NOT EXISTS \`${MARIADB_DATABASE:?}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
    sql+="CREATE USER '${MARIADB_USER:?}'@'%' IDENTIFIED BY '${MARIADB_PASSWORD:?}';"
    sql+="GRANT ALL ON \`${MARIADB_DATABASE}\`.* TO '${MARIADB_USER}'@'%';"
    mariadb --socket=/run/mysqld/init.sock -e "$sql"
    kill "$pid"
    wait "$pid" || true
  fi
  exec mariadbd --user=mysql --bind-address=0.0.0.0 --skip-name-resolve "$@"
fi
exec "$@"
