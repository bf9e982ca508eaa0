#!/bin/sh
# healthcheck.sh --connect --innodb_initialized: the server answers on its socket with InnoDB up.
exec mariadb --protocol=socket -N -e "SELECT 1 FROM information_schema.ENGINES WHERE ENGINE = 'InnoDB' AND SUPPORT IN ('YES', 'DEFAULT')" >/dev/null
