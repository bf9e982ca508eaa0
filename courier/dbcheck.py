"""`python -m courier.dbcheck`: exit 1 with instructions when MySQL cannot be reached (used by make)."""

import sys

import pymysql

from .config import from_env
from .db import connect_args, unreachable_message


def main():
    config = from_env()
    try:
        pymysql.connect(**connect_args(config, database=False)).close()
    except pymysql.err.OperationalError as err:
        print(unreachable_message(config, err), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
