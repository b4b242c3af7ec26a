"""Soak Mímir: N concurrent clients over loopback HTTP for a while, then prove nothing was
lost and nothing is broken.

    python scripts/soak.py --clients 8 --duration 180        # starts its own `mimir serve`
    python scripts/soak.py --url http://127.0.0.1:38000 \\
        --database-url postgresql://...                        # against a running server

Without --url it starts `mimir serve` on a free loopback port: on the embedded PostgreSQL
in a scratch MIMIR_DATA_DIR (removed afterwards unless --keep-data), or on --database-url.
That server has no rate limit (MIMIR_RATE_LIMIT_PER_MINUTE=0: the soak measures Mímir, not
the limiter), no embedding provider unless --embedding-provider says so, and its job
worker in-process. Clients mix reads (artifact lists and gets, versions, span lists, a
nested GraphQL read, full-text search) with writes (artifacts, appended versions, spans,
relations, provenance) and record every acknowledged (2xx) write. Afterwards each
acknowledged write is looked up (in the database when reachable, else over HTTP) and the
invariant checker runs (it needs the database).

Several processes (issue 17): `--api-processes 2` serves with `mimir serve --workers 2`,
`--worker-processes 2` runs two `mimir worker` processes (the servers then run no job
worker), and `--kill-after S` SIGKILLs one API process and one worker process S seconds
into the load. The errors of requests in flight on the killed API process (503s,
connection resets) are counted apart; any other 5xx or transport error fails the run.
With worker processes the job queue is drained afterwards: nothing queued or running may
remain, none failed. `--server-env KEY=VALUE` passes settings to every started process
(the hook for a read replica: its URL setting goes there).

    python scripts/soak.py --api-processes 2 --worker-processes 2 --kill-after 30 \
        --embedding-provider local --duration 90

With a read replica (issue 17): `--replica` starts a primary and a streaming standby
(tests/streaming_replica.py: initdb, pg_basebackup -R, from the embedded server's
binaries), migrates the primary, and gives every started process DATABASE_URL (the
primary) and MIMIR_DATABASE_REPLICA_URLS (the standby). Its clients then connect from
loopback addresses of their own (127.0.0.2, .3, ...: the server tells them apart, as it
would real clients), echo the X-Mimir-Read-After of their last write and of the entities
they read (handed on with the ids), and read every artifact or version they create back at
once: any read that misses a write whose position it sent is a stale read and fails the
run. `--replica-delay-ms` sets recovery_min_apply_delay on the standby for the load;
`--replica-pause S` pauses its replay for S seconds out of every 2 S. The standby runs with
hot_standby_feedback = on (`--no-hot-standby-feedback`: off; replay then cancels
conflicting replica queries; Mímir runs those reads again on the primary, and the
processes log how many: `conflict_retries_logged`). Afterwards the
standby's transactions during the load (less the replica monitors' idle rate) show what it
served, and once it has replayed everything every acknowledged write is looked up on it
too.

    python scripts/soak.py --replica --api-processes 2 --worker-processes 2 \
        --kill-after 40 --duration 120

Prints requests sustained (total, req/s), errors by status, p50/p99 per operation and
the checker's verdict; --json PATH writes the same as JSON. Exit status 0 when there was
no 5xx, no transport error, no lost write and the checker is clean; 1 otherwise.
The load itself lives in tests/soak_load.py (shared with tests/integration/test_soak.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.faults import Server, database_url, mimir_env  # noqa: E402
from tests.serve_processes import WorkerProcess, api_processes  # noqa: E402
from tests.soak_load import (  # noqa: E402
    SoakResult,
    drain_jobs,
    run_load,
    verify_in_database,
    verify_over_http,
)
from tests.soak_replica import SoakReplica  # noqa: E402


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (8)")
    parser.add_argument("--duration", type=float, default=180, help="seconds of load (180)")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the mix (7)")
    parser.add_argument("--url", help="a running Mímir to soak instead of starting one")
    parser.add_argument("--database-url", help="PostgreSQL URL: the started server's "
                        "database, and the one the checker reads (with --url)")
    parser.add_argument("--api-key", help="Bearer key for a server that requires one")
    parser.add_argument("--data-dir", type=Path, help="MIMIR_DATA_DIR for the started server "
                        "(default: a scratch directory)")
    parser.add_argument("--keep-data", action="store_true", help="keep the scratch directory")
    parser.add_argument("--embedding-provider", default="none",
                        help="MIMIR_EMBEDDING_PROVIDER of the started server (none)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--api-processes", type=int, default=1,
                        help="API processes of the started server (`serve --workers`, 1)")
    parser.add_argument("--worker-processes", type=int, default=0,
                        help="`mimir worker` processes to start (0: the server's own worker)")
    parser.add_argument("--kill-after", type=float, help="seconds into the load to SIGKILL "
                        "one API process (with --api-processes >= 2) and one worker process")
    parser.add_argument("--drain-timeout", type=float, default=600,
                        help="seconds to wait for the job queue to empty afterwards (600)")
    parser.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting for every started process (repeatable)")
    parser.add_argument("--replica", action="store_true", help="start a primary and a "
                        "streaming standby and serve with the standby as read replica")
    parser.add_argument("--replica-delay-ms", type=int, default=0,
                        help="recovery_min_apply_delay on the standby during the load (0)")
    parser.add_argument("--replica-pause", type=float, default=0, metavar="S",
                        help="pause the standby's replay S seconds out of every 2 S (0: never)")
    parser.add_argument("--no-hot-standby-feedback", action="store_true",
                        help="run the standby without hot_standby_feedback (replay then "
                        "cancels conflicting replica queries, which Mímir retries on the primary)")
    args = parser.parse_args(argv)
    if (args.replica_delay_ms or args.replica_pause or args.no_hot_standby_feedback) \
            and not args.replica:
        parser.error("--replica-delay-ms, --replica-pause and --no-hot-standby-feedback "
                     "need --replica")
    if args.replica and (args.url or args.database_url):
        parser.error("--replica starts its own primary: not with --url or --database-url")
    if args.clients < 1 or args.duration <= 0:
        parser.error("--clients must be at least 1 and --duration positive")
    if args.url and (args.api_processes > 1 or args.worker_processes or args.kill_after):
        parser.error("--api-processes, --worker-processes and --kill-after start processes: "
                     "not with --url")
    if any("=" not in pair for pair in args.server_env):
        parser.error("--server-env takes KEY=VALUE")
    return args


def _embedded_conninfo(data_dir: Path) -> str:
    """The embedded server of `mimir serve` in `data_dir` (its socket directory)."""
    return f"host={data_dir / 'pgdata'} dbname=mimir user=postgres"


def _conninfo_of(url: str) -> str:
    from psycopg.conninfo import make_conninfo

    return make_conninfo(url)


def _alongside(*tasks):
    """One side task of the load running `tasks` (None: nothing to run)."""
    tasks = [task for task in tasks if task is not None]
    if not tasks:
        return None

    async def run(result: SoakResult) -> None:
        await asyncio.gather(*(task(result) for task in tasks))

    return run


def _killer(args: argparse.Namespace, server, workers: list):
    """The side task of the load: at --kill-after, SIGKILL one API process and one worker."""
    if args.kill_after is None:
        return None

    async def kill(result: SoakResult) -> None:
        await asyncio.sleep(args.kill_after)
        api = api_processes(server.proc.pid)
        if len(api) >= 2:
            os.kill(api[0], signal.SIGKILL)
            result.kills.append(time.monotonic())
            print(f"killed API process {api[0]} at {args.kill_after:g} s", file=sys.stderr)
        if workers:
            workers[0].kill()
            print(f"killed worker process {workers[0].proc.pid}", file=sys.stderr)

    return kill


async def _soak(args: argparse.Namespace, base_url: str, conninfo: str | None,
                during=None, replica: SoakReplica | None = None) -> SoakResult:
    result = await run_load(base_url, clients=args.clients, duration_s=args.duration,
                            seed=args.seed, api_key=args.api_key, during=during,
                            read_back=replica is not None, own_addresses=replica is not None)
    if replica is not None:
        await replica.report(result)
    if conninfo is not None and args.worker_processes:
        await drain_jobs(result, conninfo, within_s=args.drain_timeout)
    if conninfo is not None:
        await verify_in_database(result, conninfo)
    else:
        await verify_over_http(result, base_url, api_key=args.api_key)
    return result


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    server = None
    scratch = None
    workers: list[WorkerProcess] = []
    replica = None
    if args.replica:
        print("starting a primary and a streaming standby", file=sys.stderr)
        replica = SoakReplica(args.replica_delay_ms, args.replica_pause,
                              feedback=not args.no_hot_standby_feedback).start()
        args.database_url = replica.primary_url
        args.server_env.append(f"MIMIR_DATABASE_REPLICA_URLS={replica.standby_url}")
    if args.url:
        base_url = args.url.rstrip("/")
        conninfo = _conninfo_of(args.database_url) if args.database_url else None
    else:
        if args.database_url:
            data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="mimir-soak-"))
            conninfo = _conninfo_of(args.database_url)
            env = mimir_env(conninfo)
        else:
            data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="mimir-soak-")) / "data"
            conninfo = _embedded_conninfo(data_dir)
            env = mimir_env()
        if args.data_dir is None:
            scratch = data_dir if args.database_url else data_dir.parent
        data_dir.mkdir(parents=True, exist_ok=True)
        env.update(MIMIR_DATA_DIR=str(data_dir), MIMIR_RATE_LIMIT_PER_MINUTE="0",
                   MIMIR_EMBEDDING_PROVIDER=args.embedding_provider,
                   MIMIR_WORKER="off" if args.worker_processes else "inprocess",
                   MIMIR_WORKERS=str(args.api_processes), LOG_LEVEL="INFO")
        env.update(pair.split("=", 1) for pair in args.server_env)
        log_path = (scratch or data_dir) / "soak-serve.log"
        print(f"starting mimir serve ({'DATABASE_URL' if args.database_url else 'embedded'}"
              f" database, {args.api_processes} API processes, log {log_path})",
              file=sys.stderr)
        server = Server(env, log_path).start(within_s=300)
        base_url = server.base_url
        worker_env = {**env, "DATABASE_URL": database_url(conninfo),
                      "MIMIR_AUTO_MIGRATE": "false"}
        for n in range(args.worker_processes):
            workers.append(WorkerProcess(worker_env, log_path.with_name(f"soak-worker{n}.log"))
                           .start())
        for worker in workers:
            worker.wait_started()
    if replica is not None:
        replica.measure_idle()
    print(f"soaking {base_url}: {args.clients} clients for {args.duration:g} s",
          file=sys.stderr)
    result = None
    try:
        during = _alongside(_killer(args, server, workers),
                            replica.during() if replica is not None else None)
        result = asyncio.run(_soak(args, base_url, conninfo, during, replica))
        crashed = server is not None and server.proc.poll() is not None
    finally:
        for worker in workers:
            worker.stop()
        if server is not None:
            server.stop()
        if replica is not None:
            replica.stop()
        if result is not None and replica is not None and server is not None:
            replica.reads_logged(result, server.log_path)
        if scratch is not None and not args.keep_data:
            shutil.rmtree(scratch, ignore_errors=True)
    print(result.format_text())
    for sample in result.failures[:5]:
        print(f"  e.g. {sample}")
    if crashed:
        print("the server exited during the soak")
    if args.json:
        args.json.write_text(json.dumps(result.as_dict(), indent=2))
    jobs_ok = result.jobs is None or (result.jobs["drained"]
                                      and not result.jobs["by_status"].get("failed"))
    clean = (result.unexplained_server_errors == 0 and result.unexplained_transport_errors == 0
             and result.graphql_errors == 0 and jobs_ok and result.lost_writes == 0 and not crashed
             and result.stale_reads == 0
             and (result.replica is None or not result.replica["lost_on_standby"])
             and (result.checker is None or (result.checker["ok"]
                                             and not result.checker["findings"])))
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
