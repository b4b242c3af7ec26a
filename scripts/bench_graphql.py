"""GraphQL read figures on a database seeded by scripts/seed_graphql.py:

    MIMIR_DATA_DIR=/tmp/mimir-gql-bench .venv/bin/python scripts/bench_graphql.py

Starts `mimir serve` on that data directory (LOG_LEVEL=WARNING) and loads POST /graphql
with the nested read "first 100 artifacts -> versions -> spans (with text)", without and
with each version's `content`, at each concurrency (default 1 and 8): a warm-up, then a
timed run with `wrk` when it is installed (Debian package `wrk`), else an asyncio httpx
loop. For each run it reports requests/s, p50 and p99 latency, the server's CPU time per
request (utime + stime from /proc of the mimir process and of every PostgreSQL process of
the data directory, including backends already reaped by the postmaster, measured from
idle to idle and divided by the requests served, counting the ones wrk left in flight when
it stopped), and the response size. SQL statements per request are counted once, in-process: the same query
through `create_app` + httpx ASGITransport against the same database, with psycopg's
`AsyncCursor.execute` wrapped to count (the bundled PostgreSQL has no pg_stat_statements).

With DATABASE_URL set, the server uses that database and only the mimir process's CPU is
counted (PostgreSQL's processes are not ours to see). The load generator runs on the same
machine and takes CPU too: on a small machine, compare numbers from one run only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx

NESTED = ("{ artifacts(first: 100) { edges { node { id title versions { versionNumber "
          "spans { startOffset endOffset text } } } } } }")
WITH_CONTENT = ("{ artifacts(first: 100) { edges { node { id title versions { versionNumber "
                "content spans { startOffset endOffset text } } } } } }")
VARIANTS = {"artifacts -> versions -> spans": NESTED,
            "... + version content": WITH_CONTENT}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[%(body)s]==]

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %%d, "duration_us": %%d, "bytes": %%d, "p50_us": %%d, ' ..
    '"p99_us": %%d, "errors": %%d}\\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50),
    latency:percentile(99), e.connect + e.read + e.write + e.status + e.timeout))
end
"""


@dataclass
class Run:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    in_flight: int  # requests still running on the server when the client stopped


# --- CPU accounting from /proc -------------------------------------------------------------

def _stat(pid: int) -> tuple[int, list[str]] | None:
    """(ppid, fields after the command name) of a process, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rsplit(")", 1)[1].split()  # the name may contain spaces and parentheses
    return int(fields[1]), fields


def _tree(root: int) -> list[int]:
    """`root` and all its descendants that are alive now."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            children.setdefault(stat[0], []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def cpu_seconds(root: int, *, reaped: bool) -> float:
    """utime + stime of `root` and its live descendants; with `reaped`, also of the
    children it has already waited for (cutime + cstime: exited PostgreSQL backends)."""
    ticks = 0
    for pid in _tree(root):
        stat = _stat(pid)
        if stat is None:
            continue
        fields = stat[1]  # fields[11..14] = utime, stime, cutime, cstime
        ticks += int(fields[11]) + int(fields[12])
        if reaped and pid == root:
            ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


class ServerCpu:
    """CPU seconds used so far by the mimir process and the PostgreSQL of its data dir."""

    def __init__(self, mimir_pid: int, pgdata: Path | None) -> None:
        self.mimir_pid = mimir_pid
        self.postmaster_pid = None
        if pgdata is not None and (pgdata / "postmaster.pid").exists():
            self.postmaster_pid = int((pgdata / "postmaster.pid").read_text().split()[0])

    def read(self) -> tuple[float, float]:
        mimir = cpu_seconds(self.mimir_pid, reaped=False)
        postgres = cpu_seconds(self.postmaster_pid, reaped=True) if self.postmaster_pid else 0.0
        return mimir, postgres

    def wait_idle(self, quiet: float = 0.3, timeout: float = 60) -> tuple[float, float]:
        """Wait until the server has used no CPU for `quiet` seconds (requests that wrk
        abandoned when it stopped still run to completion), then return `read()`."""
        deadline = time.monotonic() + timeout
        last = self.read()
        while time.monotonic() < deadline:
            time.sleep(quiet)
            now = self.read()
            if sum(now) - sum(last) < 1.5 / CLOCK_TICKS:
                return now
            last = now
        return last


# --- load generators -------------------------------------------------------------------------

def run_wrk(url: str, body: str, concurrency: int, seconds: float, commands: list[str]) -> Run:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="bench_graphql_",
                                     delete=False) as script:
        script.write(WRK_SCRIPT % {"body": body})
    try:
        threads = min(concurrency, os.cpu_count() or 1)
        command = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{seconds:g}s", "--timeout", "30s",
                   "-s", script.name, url]
        commands.append(shlex.join(command))
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script.name)
    match = re.search(r"^WRK_RESULT (\{.*\})$", output, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk printed no result:\n{output}")
    result = json.loads(match.group(1))
    return Run(requests=result["requests"], seconds=result["duration_us"] / 1e6,
               p50_ms=result["p50_us"] / 1000, p99_ms=result["p99_us"] / 1000,
               errors=result["errors"], in_flight=concurrency)


async def run_httpx(url: str, body: str, concurrency: int, seconds: float) -> Run:
    """Closed loop: `concurrency` workers, each sending the next request when one returns."""
    latencies: list[float] = []
    errors = 0

    async def worker(client: httpx.AsyncClient, deadline: float) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await client.post(url, content=body,
                                         headers={"Content-Type": "application/json"})
            latencies.append(time.perf_counter() - started)
            errors += response.status_code != 200

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*[worker(client, started + seconds) for _ in range(concurrency)])
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return Run(requests=len(ordered), seconds=elapsed, p50_ms=statistics.median(ordered) * 1000,
               p99_ms=ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] * 1000,
               errors=errors, in_flight=0)


# --- SQL statements per request, in-process --------------------------------------------------

async def count_statements(conninfo: str, queries: dict[str, str]) -> dict[str, Counter]:
    """Per query: the statements one request runs, by first line, counted by wrapping
    psycopg's AsyncCursor.execute. The pool's empty health-check statement is not counted."""
    import psycopg

    from mimir.app import create_app
    from mimir.config import load_settings
    from mimir.db.lifecycle import PreparedDatabase
    from mimir.logging import configure_logging

    configure_logging("WARNING")

    seen: Counter | None = None
    original = psycopg.AsyncCursor.execute

    async def counting_execute(self, query, params=None, **kwargs):
        text = query if isinstance(query, str) else query.as_string(self)
        if seen is not None and text.strip():
            seen[" ".join(text.split())[:90]] += 1
        return await original(self, query, params, **kwargs)

    app = create_app(load_settings(), PreparedDatabase(conninfo=conninfo), close_database=False)
    counts = {}
    psycopg.AsyncCursor.execute = counting_execute
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                for name, query in queries.items():
                    await client.post("/graphql", json={"query": query})  # warm the pool
                    seen = Counter()
                    response = await client.post("/graphql", json={"query": query})
                    response.raise_for_status()
                    counts[name], seen = seen, None
    finally:
        psycopg.AsyncCursor.execute = original
    return counts


# --- the benchmark ---------------------------------------------------------------------------

def check_response(body: bytes) -> tuple[int, int, int]:
    """(artifacts, versions, spans) in a response; raises on GraphQL errors."""
    payload = json.loads(body)
    if payload.get("errors"):
        raise RuntimeError(f"GraphQL errors: {payload['errors'][:2]}")
    nodes = [edge["node"] for edge in payload["data"]["artifacts"]["edges"]]
    versions = [v for node in nodes for v in node["versions"]]
    return len(nodes), len(versions), sum(len(v["spans"]) for v in versions)


def wait_until_up(base_url: str, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"mimir serve exited with {server.returncode}")
        try:
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("mimir serve did not answer /health in time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=38124)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--seconds", type=float, default=15, help="timed run per case")
    parser.add_argument("--warmup", type=float, default=3, help="warm-up per case")
    parser.add_argument("--tool", choices=["auto", "wrk", "httpx"], default="auto")
    args = parser.parse_args()
    tool = args.tool if args.tool != "auto" else ("wrk" if shutil.which("wrk") else "httpx")

    external = bool(os.environ.get("DATABASE_URL", "").strip())
    data_dir = Path(os.environ.get("MIMIR_DATA_DIR", "/tmp/mimir-gql-bench")).resolve()
    pgdata = None if external else data_dir / "pgdata"
    env = {**os.environ, "MIMIR_DATA_DIR": str(data_dir), "MIMIR_PORT": str(args.port),
           "LOG_LEVEL": "WARNING", "MIMIR_RATE_LIMIT_PER_MINUTE": "0"}
    base_url = f"http://127.0.0.1:{args.port}"
    url = f"{base_url}/graphql"
    bench_command = shlex.join([f"MIMIR_DATA_DIR={data_dir}", sys.executable, *sys.argv])
    server = subprocess.Popen([str(Path(sys.executable).parent / "mimir"), "serve"], env=env)
    rows, load_commands = [], []
    try:
        wait_until_up(base_url, server)
        if external:
            from mimir.config import load_settings
            from mimir.db.connection import resolve_external_conninfo

            conninfo = resolve_external_conninfo(load_settings())
        else:
            conninfo = f"host={pgdata} dbname=mimir user=postgres"
        statements = asyncio.run(count_statements(conninfo, VARIANTS))
        cpu = ServerCpu(server.pid, pgdata)
        print(f"server pid {server.pid}, postmaster pid {cpu.postmaster_pid}, load tool: {tool}, "
              f"{os.cpu_count()} CPUs", flush=True)

        for name, query in VARIANTS.items():
            body = json.dumps({"query": query})
            response = httpx.post(url, content=body, timeout=60,
                                  headers={"Content-Type": "application/json"})
            response.raise_for_status()
            artifacts, versions, spans = check_response(response.content)
            print(f"{name}: {artifacts} artifacts, {versions} versions, {spans} spans, "
                  f"{len(response.content) / 1024:.0f} KiB; SQL per request: "
                  f"{sum(statements[name].values())}", flush=True)
            for statement, n in statements[name].items():
                print(f"    {n} x {statement}")
            for concurrency in args.concurrency:
                def load(seconds: float, concurrency=concurrency, body=body) -> Run:
                    if tool == "wrk":
                        return run_wrk(url, body, concurrency, seconds, load_commands)
                    return asyncio.run(run_httpx(url, body, concurrency, seconds))

                load(args.warmup)
                before = cpu.wait_idle()
                run = load(args.seconds)
                after = cpu.wait_idle()
                # The window runs from idle to idle, so it also holds the requests that
                # were in flight when wrk stopped (one per connection): count them.
                served = max(run.requests + run.in_flight, 1)
                mimir_ms = (after[0] - before[0]) * 1000 / served
                postgres_ms = (after[1] - before[1]) * 1000 / served
                rows.append((name, concurrency, run, mimir_ms, postgres_ms,
                             len(response.content), sum(statements[name].values())))
                print(f"  c={concurrency}: {run.requests / run.seconds:.1f} req/s, p50 "
                      f"{run.p50_ms:.1f} ms, p99 {run.p99_ms:.1f} ms, errors {run.errors}",
                      flush=True)
            check_response(httpx.post(url, content=body, timeout=60,
                                      headers={"Content-Type": "application/json"}).content)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    print()
    print("| query | concurrency | requests | req/s | p50 ms | p99 ms | server CPU ms/req "
          "(mimir + postgres) | response KiB | SQL statements/req | errors |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, concurrency, run, mimir_ms, postgres_ms, size, sql in rows:
        postgres = "n/a" if external else f"{postgres_ms:.1f}"
        print(f"| {name} | {concurrency} | {run.requests} | {run.requests / run.seconds:.1f} | "
              f"{run.p50_ms:.1f} | {run.p99_ms:.1f} | {mimir_ms + postgres_ms:.1f} "
              f"({mimir_ms:.1f} + {postgres}) | {size / 1024:.0f} | {sql} | {run.errors} |")
    print()
    print(f"command: `{bench_command}`")
    print(f"load ({tool}, {args.warmup:g} s warm-up then {args.seconds:g} s per case):")
    for command in dict.fromkeys(load_commands):
        print(f"    {command}")
    if tool == "wrk":
        print("each /tmp/bench_graphql_*.lua (deleted after its run) is, for the first query:")
        print(WRK_SCRIPT % {"body": json.dumps({"query": NESTED})})
    print("query (first): " + NESTED)
    print("query (second): " + WITH_CONTENT)


if __name__ == "__main__":
    main()
