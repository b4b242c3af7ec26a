"""RLS on against off for REST text search, in one process: two apps on one database
(MIMIR_DB_APP_ROLE true and false), each question sent to both one right after the other
(order alternating), so both see the same moment of a shared machine's load.

    PYTHONPATH=src python scripts/bench_rls_text.py /tmp/bench/scale/10000

The directory is an embedded server's data directory built by
`scripts/bench_scale.py --sizes 10000 --root /tmp/bench/scale --no-vectors`. Prints the p50
of the second of two passes over 100 dev-set questions, over everything and within one
conversation (`sources`), and the ratio on/off.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scale import questions

from mimir.app import create_app
from mimir.config import Settings
from mimir.db.embedded import EmbeddedPostgres
from mimir.db.lifecycle import PreparedDatabase


async def compare(conninfo: str, scratch: Path) -> None:
    asked = questions()[:100]
    database = PreparedDatabase(conninfo=conninfo)
    apps = {role: create_app(Settings(_env_file=None, MIMIR_WORKER="off",
                                      MIMIR_EMBEDDING_PROVIDER="none",
                                      MIMIR_DB_APP_ROLE=role == "on",
                                      MIMIR_DATA_DIR=str(scratch)),
                             database, close_database=False)
            for role in ("on", "off")}
    took: dict[tuple[str, bool], list[float]] = {
        (role, scoped): [] for role in apps for scoped in (False, True)}
    async with apps["on"].router.lifespan_context(apps["on"]), \
            apps["off"].router.lifespan_context(apps["off"]):
        clients = {role: httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                           base_url="http://m") for role, app in apps.items()}
        for rep in range(2):
            for i, question in enumerate(asked):
                for scoped in (False, True):
                    body: dict = {"query": question, "limit": 10}
                    if scoped:
                        body["sources"] = [f"conv-{(i * 7) % 16:05d}"]
                    for role in (("on", "off") if i % 2 else ("off", "on")):
                        started = time.perf_counter()
                        response = await clients[role].post("/api/v1/search/text", json=body)
                        response.raise_for_status()
                        if rep:
                            took[(role, scoped)].append((time.perf_counter() - started) * 1000)
        for client in clients.values():
            await client.aclose()
    for scoped in (False, True):
        on, off = (statistics.median(took[(role, scoped)]) for role in ("on", "off"))
        print(f"text {'one source' if scoped else 'everything'}: p50 on {on:.1f} ms, "
              f"off {off:.1f} ms, ratio {on / off:.2f}")


def main() -> None:
    data_dir = Path(sys.argv[1])
    server = EmbeddedPostgres(data_dir)
    conninfo = server.start()
    try:
        asyncio.run(compare(conninfo, data_dir.parent / "scratch"))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
