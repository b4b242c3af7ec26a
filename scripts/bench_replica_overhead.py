"""The per-request cost of read-replica routing, side by side in one run (issue 17).

    PYTHONPATH=src:. .venv/bin/python scripts/bench_replica_overhead.py

Starts a primary and a streaming standby (tests/streaming_replica.py), then two apps on
the same primary database in one process: one without replicas, one with the standby in
MIMIR_DATABASE_REPLICA_URLS. Interleaved (the order alternates each round), N writes
(POST /api/v1/artifacts; with the replica: plus the X-Mimir-Read-After position) and N
reads of those artifacts by another client (GET by id; with the replica: served by it).
Prints medians, their ratio and the load average. In-process ASGI calls, one at a time:
it measures the routing's cost per request, not throughput (primary and standby share
this machine's cores).
"""
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from mimir.app import create_app
from mimir.config import Settings
from mimir.db.lifecycle import PreparedDatabase
from tests.streaming_replica import StreamingPair

N = 500  # requests of each kind per app
DB = "bench_replica"
WITHOUT, WITH = "primary only", "with replica"


def client(app, address: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 1)),
                             base_url="http://mimir.bench")


async def timed(times: list[float], call) -> httpx.Response:
    started = time.perf_counter()
    response = await call
    times.append(time.perf_counter() - started)
    return response


async def measure(pair: StreamingPair) -> None:
    base = dict(_env_file=None, MIMIR_DATA_DIR=str(Path(tempfile.gettempdir()) / "mimir-bench"),
                MIMIR_WORKER="off", MIMIR_EMBEDDING_PROVIDER="none", LOG_LEVEL="WARNING",
                MIMIR_RATE_LIMIT_PER_MINUTE="0")
    primary = PreparedDatabase(conninfo=pair.primary.conninfo(DB))
    apps = {WITHOUT: create_app(Settings(**base), primary, close_database=False),
            WITH: create_app(Settings(**base, MIMIR_DATABASE_REPLICA_URLS=pair.standby.url(DB)),
                             primary, close_database=False)}
    times: dict[tuple[str, str], list[float]] = {(k, op): [] for k in apps
                                                 for op in ("write", "read")}
    async with apps[WITHOUT].router.lifespan_context(apps[WITHOUT]), \
            apps[WITH].router.lifespan_context(apps[WITH]):
        writers = {k: client(app, "10.9.0.1") for k, app in apps.items()}
        readers = {k: client(app, "10.9.0.2") for k, app in apps.items()}
        ids: dict[str, list[str]] = {k: [] for k in apps}
        for i in range(N):
            for k in (list(apps) if i % 2 == 0 else list(reversed(apps))):
                response = await timed(times[(k, "write")], writers[k].post(
                    "/api/v1/artifacts", json={"kind": "note", "title": f"t{i}",
                                               "content": f"c {i} {uuid.uuid4()}"}))
                assert response.status_code == 201, response.text
                ids[k].append(response.json()["id"])
        await asyncio.to_thread(pair.wait_replayed)
        for i in range(N):
            for k in (list(apps) if i % 2 == 0 else list(reversed(apps))):
                response = await timed(times[(k, "read")],
                                       readers[k].get(f"/api/v1/artifacts/{ids[k][i]}"))
                assert response.status_code == 200, response.text
    for op in ("write", "read"):
        without = statistics.median(times[(WITHOUT, op)])
        with_replica = statistics.median(times[(WITH, op)])
        print(f"{op}: median {WITHOUT} {without * 1000:.2f} ms, {WITH} "
              f"{with_replica * 1000:.2f} ms, ratio {with_replica / without:.2f}")
    print("load average", " ".join(f"{x:.2f}" for x in os.getloadavg()))


def main() -> None:
    pair = StreamingPair()
    try:
        pair.start(DB)
        asyncio.run(measure(pair))
    finally:
        pair.stop()


if __name__ == "__main__":
    main()
