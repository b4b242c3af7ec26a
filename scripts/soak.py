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

Prints requests sustained (total, req/s), errors by status, p50/p99 per operation and
the checker's verdict; --json PATH writes the same as JSON. Exit status 0 when there was
no 5xx, no transport error, no lost write and the checker is clean; 1 otherwise.
The load itself lives in tests/soak_load.py (shared with tests/integration/test_soak.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.faults import Server, mimir_env  # noqa: E402
from tests.soak_load import SoakResult, run_load, verify_in_database, verify_over_http  # noqa: E402


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
    args = parser.parse_args(argv)
    if args.clients < 1 or args.duration <= 0:
        parser.error("--clients must be at least 1 and --duration positive")
    return args


def _embedded_conninfo(data_dir: Path) -> str:
    """The embedded server of `mimir serve` in `data_dir` (its socket directory)."""
    return f"host={data_dir / 'pgdata'} dbname=mimir user=postgres"


def _conninfo_of(url: str) -> str:
    from psycopg.conninfo import make_conninfo

    return make_conninfo(url)


async def _soak(args: argparse.Namespace, base_url: str, conninfo: str | None) -> SoakResult:
    result = await run_load(base_url, clients=args.clients, duration_s=args.duration,
                            seed=args.seed, api_key=args.api_key)
    if conninfo is not None:
        await verify_in_database(result, conninfo)
    else:
        await verify_over_http(result, base_url, api_key=args.api_key)
    return result


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    server = None
    scratch = None
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
                   MIMIR_EMBEDDING_PROVIDER=args.embedding_provider, MIMIR_WORKER="inprocess",
                   LOG_LEVEL="INFO")
        log_path = (scratch or data_dir) / "soak-serve.log"
        print(f"starting mimir serve ({'DATABASE_URL' if args.database_url else 'embedded'}"
              f" database, log {log_path})", file=sys.stderr)
        server = Server(env, log_path).start(within_s=300)
        base_url = server.base_url
    print(f"soaking {base_url}: {args.clients} clients for {args.duration:g} s",
          file=sys.stderr)
    try:
        result = asyncio.run(_soak(args, base_url, conninfo))
        crashed = server is not None and server.proc.poll() is not None
    finally:
        if server is not None:
            server.stop()
        if scratch is not None and not args.keep_data:
            shutil.rmtree(scratch, ignore_errors=True)
    print(result.format_text())
    for sample in result.failures[:5]:
        print(f"  e.g. {sample}")
    if crashed:
        print("the server exited during the soak")
    if args.json:
        args.json.write_text(json.dumps(result.as_dict(), indent=2))
    clean = (result.server_errors == 0 and not result.transport_errors
             and result.graphql_errors == 0 and result.lost_writes == 0 and not crashed
             and (result.checker is None or (result.checker["ok"]
                                             and not result.checker["findings"])))
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
