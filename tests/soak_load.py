"""The soak load: N concurrent clients over real HTTP mixing reads (lists, gets, a nested
GraphQL read, full-text search) and writes (artifacts, appended versions, spans, relations,
provenance), recording every acknowledged (2xx) write; then a verification that each
acknowledged write is present and the invariant checker's verdict.

One copy of the logic: `scripts/soak.py` (the long run, `--clients 8 --duration 180`) and
`tests/integration/test_soak.py` (a short bounded run) both import this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx

# Read-your-writes with read replicas (mimir.rest.read_routing): a write's response carries
# the primary's WAL position; a read that sends it back sees that write.
READ_AFTER = "X-Mimir-Read-After"

WORDS = (
    "memory river thursday sync decision intent budget garden orbit lantern harbor quartz "
    "velvet meadow signal archive compass ember falcon glacier horizon island jasmine kernel "
    "ledger mosaic nectar oracle pepper quiver rhythm saffron timber umbrella vessel willow "
    "yonder zephyr anchor beacon cobalt delta echo fable granite hollow ivory juniper kettle "
    "lumen marble nimbus opal prism quill raven summit tundra unity vertex wander yarrow zenith"
).split()
RELATION_TYPES = ("mentions", "follows", "supports", "cites", "refines")

# Operation kinds and their weights (reads about 60 %, writes about 40 %).
MIX: dict[str, int] = {
    "create_artifact": 8, "append_version": 8, "create_span": 10, "create_relation": 7,
    "create_provenance": 6,
    "list_artifacts": 10, "get_artifact": 12, "get_version": 8, "list_spans": 6,
    "graphql_nested": 12, "search_text": 13,
}
WRITES = frozenset({"create_artifact", "append_version", "create_span", "create_relation",
                    "create_provenance"})

GRAPHQL_NESTED = """
query Soak($id: UUID!) {
  artifact(id: $id) {
    id title kind
    latestVersion { versionNumber contentLength }
    versions { id versionNumber spans { id startOffset endOffset text } }
    relations { id relationType }
    provenance { id model }
  }
}
"""


@dataclass
class Acked:
    """Every write the server acknowledged with a 2xx, by kind."""

    artifacts: set[str] = field(default_factory=set)
    versions: set[tuple[str, str, int]] = field(default_factory=set)  # (id, artifact, number)
    spans: set[str] = field(default_factory=set)
    relations: set[str] = field(default_factory=set)
    provenance: set[str] = field(default_factory=set)

    def total(self) -> int:
        return sum(len(getattr(self, kind)) for kind in
                   ("artifacts", "versions", "spans", "relations", "provenance"))


@dataclass
class SoakResult:
    clients: int
    duration_s: float
    elapsed_s: float = 0.0
    requests: int = 0
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    transport_errors: Counter = field(default_factory=Counter)
    graphql_errors: int = 0  # errors inside a 200 GraphQL answer
    failures: list[str] = field(default_factory=list)  # a few sample error bodies
    acked: Acked = field(default_factory=Acked)
    lost: dict[str, int] = field(default_factory=dict)
    checker: dict[str, Any] | None = None
    # (started, ended, what) of every transport error and 5xx, on the monotonic clock; and
    # when API processes were killed (SIGKILL) on purpose, to tell their errors apart.
    error_events: list[tuple[float, float, str]] = field(default_factory=list)
    kills: list[float] = field(default_factory=list)
    kill_grace_s: float = 1.0
    jobs: dict[str, Any] | None = None
    # Reads that missed a write they carried the position of (404, or an older version):
    # the client's own writes read back at once (`own_reads` of them), and entities other
    # clients wrote, read with the writer's position.
    own_reads: int = 0
    stale_reads: int = 0
    replica: dict[str, Any] | None = None  # what the replica served, lost on it (soak.py)

    @property
    def errors_by_status(self) -> Counter:
        """Non-2xx answers by status (429s are throttling and listed too)."""
        counts: Counter = Counter()
        for per_op in self.statuses.values():
            for status, n in per_op.items():
                if not 200 <= status < 300:
                    counts[status] += n
        return counts

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.errors_by_status.items() if status >= 500)

    def of_killed_processes(self) -> Counter:
        """503s and transport errors of requests in flight when an API process was killed,
        or sent within `kill_grace_s` after (on a kept-alive connection to it): the errors
        a SIGKILL explains. Any other error stays unexplained."""
        counts: Counter = Counter()
        for started, ended, what in self.error_events:
            if what not in ("503",) and not what.startswith("transport:"):
                continue
            if any(started <= kill + self.kill_grace_s and ended >= kill
                   for kill in self.kills):
                counts[what] += 1
        return counts

    @property
    def unexplained_server_errors(self) -> int:
        explained = sum(n for what, n in self.of_killed_processes().items() if what == "503")
        return self.server_errors - explained

    @property
    def unexplained_transport_errors(self) -> int:
        explained = sum(n for what, n in self.of_killed_processes().items()
                        if what.startswith("transport:"))
        return sum(self.transport_errors.values()) - explained

    @property
    def lost_writes(self) -> int:
        return sum(self.lost.values())

    def percentiles(self) -> dict[str, dict[str, float]]:
        out = {}
        for op, values in sorted(self.latencies_ms.items()):
            ordered = sorted(values)
            out[op] = {"count": len(ordered), "p50_ms": _quantile(ordered, 0.50),
                       "p99_ms": _quantile(ordered, 0.99)}
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"clients": self.clients, "duration_s": self.duration_s,
                "elapsed_s": round(self.elapsed_s, 2), "requests": self.requests,
                "requests_per_s": round(self.requests / self.elapsed_s, 1) if self.elapsed_s else 0,
                "errors_by_status": {str(k): v for k, v in sorted(self.errors_by_status.items())},
                "transport_errors": dict(self.transport_errors),
                "graphql_errors": self.graphql_errors,
                "acknowledged_writes": self.acked.total(), "lost_writes": self.lost,
                "latency": self.percentiles(), "checker": self.checker,
                "failure_samples": self.failures,
                "api_processes_killed": len(self.kills),
                "errors_of_killed_processes": dict(self.of_killed_processes()),
                "unexplained_server_errors": self.unexplained_server_errors,
                "unexplained_transport_errors": self.unexplained_transport_errors,
                "jobs": self.jobs, "own_reads": self.own_reads,
                "stale_reads": self.stale_reads, "replica": self.replica}

    def format_text(self) -> str:
        rate = self.requests / self.elapsed_s if self.elapsed_s else 0.0
        errors = ", ".join(f"{s}: {n}" for s, n in sorted(self.errors_by_status.items()))
        lines = [
            f"soak: {self.clients} clients for {self.elapsed_s:.1f} s",
            f"requests: {self.requests} total, {rate:.1f} req/s sustained",
            f"errors by status: {errors or 'none'}; transport errors: "
            f"{sum(self.transport_errors.values())}; GraphQL errors: {self.graphql_errors}",
            f"acknowledged writes: {self.acked.total()} (artifacts {len(self.acked.artifacts)}, "
            f"versions {len(self.acked.versions)}, spans {len(self.acked.spans)}, relations "
            f"{len(self.acked.relations)}, provenance {len(self.acked.provenance)}); "
            f"lost: {self.lost_writes}" + (f" {self.lost}" if self.lost_writes else ""),
            f"{'operation':<18} {'count':>7} {'p50 ms':>8} {'p99 ms':>8}",
        ]
        if self.kills:
            killed = ", ".join(f"{w}: {n}" for w, n in sorted(self.of_killed_processes().items()))
            lines.insert(3, f"API processes killed: {len(self.kills)}; their in-flight errors: "
                         f"{killed or 'none'}; other 5xx: {self.unexplained_server_errors}, "
                         f"other transport errors: {self.unexplained_transport_errors}")
        if self.jobs is not None:
            lines.insert(3, f"jobs: {self.jobs}")
        lines.insert(3, f"stale reads (a write's position sent, the write not seen): "
                     f"{self.stale_reads}; own writes read back at once: {self.own_reads}")
        if self.replica is not None:
            lines.insert(3, f"replica: {self.replica}")
        for op, stats in self.percentiles().items():
            lines.append(f"{op:<18} {stats['count']:>7} {stats['p50_ms']:>8.1f} "
                         f"{stats['p99_ms']:>8.1f}")
        if self.checker is None:
            lines.append("invariant checker: not run (no database connection given)")
        else:
            verdict = "clean" if self.checker["ok"] and not self.checker["findings"] else (
                f"{self.checker['violations']} violations, {self.checker['warnings']} warnings")
            lines.append(f"invariant checker: {verdict} ({self.checker['checks_run']} checks, "
                         f"{self.checker['seconds']} s)")
        return "\n".join(lines)


def _quantile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return round(ordered[index], 2)


@dataclass
class _Pool:
    """What the clients have written so far (acknowledged), to read and link to."""

    artifacts: list[str] = field(default_factory=list)
    latest: dict[str, tuple[int, str]] = field(default_factory=dict)  # artifact -> (n, content)
    versions: list[tuple[str, str, int, int]] = field(default_factory=list)  # id, art, n, len
    spans: list[str] = field(default_factory=list)
    relations: list[str] = field(default_factory=list)
    edges: set[tuple[str, str, str]] = field(default_factory=set)
    appending: set[str] = field(default_factory=set)
    # The X-Mimir-Read-After of the write that made each entity (by id), handed on to the
    # clients that read it, as a real client passes it on with the id.
    positions: dict[str, str] = field(default_factory=dict)


class _Client:
    def __init__(self, number: int, http: httpx.AsyncClient, pool: _Pool, result: SoakResult,
                 rng: random.Random, read_back: bool = False) -> None:
        self.number = number
        self.http = http
        self.pool = pool
        self.result = result
        self.rng = rng
        self.read_back = read_back  # read each created entity back at once
        self.read_after: str | None = None  # the position of this client's last write
        self.written: str | None = None  # that of the write just acknowledged

    def _positions(self, *ids: str) -> list[tuple[str, str]]:
        """The positions a read echoes: this client's last write's, and those of the
        entities it reads (written by any client)."""
        found = {self.read_after, *(self.pool.positions.get(i) for i in ids)}
        return [(READ_AFTER, p) for p in sorted(x for x in found if x)]

    def _text(self, low: int, high: int) -> str:
        return " ".join(self.rng.choice(WORDS) for _ in range(self.rng.randint(low, high)))

    async def _call(self, op: str, method: str, url: str, *, reads: tuple[str, ...] = (),
                    **kwargs: Any) -> dict | None:
        """One request, timed and counted; the JSON body of a 2xx, else None. A 429 is
        honoured (its Retry-After is slept) and counted, not retried. It echoes the
        positions of this client's last write and of the entities `reads` names; a write's
        position is kept (`read_after`, `written`)."""
        started = time.perf_counter()
        began = time.monotonic()
        self.written = None
        try:
            response = await self.http.request(method, url, headers=self._positions(*reads),
                                               **kwargs)
        except httpx.TransportError as exc:
            self.result.transport_errors[type(exc).__name__] += 1
            self.result.error_events.append((began, time.monotonic(),
                                             f"transport:{type(exc).__name__}"))
            self.result.requests += 1
            await asyncio.sleep(0.1)
            return None
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.result.requests += 1
        self.result.latencies_ms[op].append(elapsed_ms)
        self.result.statuses[op][response.status_code] += 1
        if response.status_code >= 500:
            self.result.error_events.append((began, time.monotonic(), str(response.status_code)))
        if response.status_code == 429:
            await asyncio.sleep(min(float(response.headers.get("Retry-After", "1")), 5))
            return None
        if response.status_code == 404 and reads:
            self.result.stale_reads += 1
        if not response.is_success:
            if len(self.result.failures) < 20:
                self.result.failures.append(
                    f"{op} {method} {url}: {response.status_code} {response.text[:300]}")
            return None
        if response.headers.get(READ_AFTER):
            self.read_after = self.written = response.headers[READ_AFTER]
        if op == "graphql_nested":
            body = response.json()
            if body.get("errors"):
                self.result.graphql_errors += 1
                if len(self.result.failures) < 20:
                    self.result.failures.append(f"graphql: {str(body['errors'])[:300]}")
                return None
            if reads and not (body.get("data") or {}).get("artifact"):
                self.result.stale_reads += 1
            return body
        return response.json() if response.content else {}

    def _made(self, *ids: str) -> None:
        """Entities the last (acknowledged) write made: remember its position for them."""
        if self.written:
            for entity in ids:
                self.pool.positions[entity] = self.written

    async def _read_own(self, artifact: str, number: int) -> None:
        """Read the artifact back at once (its latest version at least `number`), echoing
        only this client's last write's position."""
        self.result.own_reads += 1
        body = await self._call("read_own_write", "GET", f"/api/v1/artifacts/{artifact}",
                                reads=(artifact,))
        if body is not None and body["latest_version_number"] < number:
            self.result.stale_reads += 1  # a 404 was counted by _call

    async def run(self, deadline: float) -> None:
        ops, weights = list(MIX), list(MIX.values())
        while time.monotonic() < deadline:
            op = self.rng.choices(ops, weights)[0]
            if not self.pool.artifacts and op != "create_artifact":
                op = "create_artifact"
            await getattr(self, op)()

    # Writes ---------------------------------------------------------------------------

    async def create_artifact(self) -> None:
        content = self._text(20, 120)
        body = await self._call("create_artifact", "POST", "/api/v1/artifacts", json={
            "kind": self.rng.choice(["note", "document", "conversation"]),
            "title": f"soak {self.number} {self._text(1, 3)}", "content": content,
            "metadata": {"client": self.number},
            "provenance": {"model": "soak", "pipeline_version": "soak@1"}})
        if body is None:
            return
        artifact, version = body["id"], body["versions"][0]
        self._made(artifact, version["id"])
        self.result.acked.artifacts.add(artifact)
        self.result.acked.versions.add((version["id"], artifact, 1))
        self.pool.artifacts.append(artifact)
        self.pool.latest[artifact] = (1, content)
        self.pool.versions.append((version["id"], artifact, 1, len(content)))
        if self.read_back:
            await self._read_own(artifact, 1)

    async def append_version(self) -> None:
        candidates = [a for a in self.rng.sample(self.pool.artifacts,
                                                 min(5, len(self.pool.artifacts)))
                      if a not in self.pool.appending]
        if not candidates:
            return
        artifact = candidates[0]
        number, content = self.pool.latest[artifact]
        content = f"{content} {self._text(3, 30)}"
        self.pool.appending.add(artifact)
        try:
            body = await self._call("append_version", "POST",
                                    f"/api/v1/artifacts/{artifact}/versions",
                                    json={"content": content, "metadata": {"edit": number}})
        finally:
            self.pool.appending.discard(artifact)
        if body is None:
            return
        self._made(body["id"])
        self.result.acked.versions.add((body["id"], artifact, body["version_number"]))
        if body["version_number"] > self.pool.latest[artifact][0]:
            self.pool.latest[artifact] = (body["version_number"], content)
        self.pool.versions.append((body["id"], artifact, body["version_number"],
                                   body["content_length"]))
        if self.read_back:
            await self._read_own(artifact, body["version_number"])

    async def create_span(self) -> None:
        version, _, _, length = self.rng.choice(self.pool.versions)
        start = self.rng.randrange(0, length)
        end = self.rng.randint(start + 1, min(length, start + 80))
        body = await self._call("create_span", "POST", "/api/v1/spans", json={
            "version_id": version, "start_offset": start, "end_offset": end,
            "span_type": self.rng.choice(["quote", "claim", "generic"]),
            "label": self._text(1, 2), "provenance": {"model": "soak"}})
        if body is not None:
            self._made(body["id"])
            self.result.acked.spans.add(body["id"])
            self.pool.spans.append(body["id"])

    def _entity(self) -> tuple[str, str]:
        kinds = [("artifact", self.pool.artifacts),
                 ("artifact_version", [v[0] for v in self.pool.versions[-200:]]),
                 ("span", self.pool.spans), ("relation", self.pool.relations)]
        kind, ids = self.rng.choice([k for k in kinds if k[1]])
        return kind, self.rng.choice(ids)

    async def create_relation(self) -> None:
        for _ in range(5):
            (source_type, source), (target_type, target) = self._entity(), self._entity()
            relation_type = self.rng.choice(RELATION_TYPES)
            edge = (f"{source_type}:{source}", relation_type, f"{target_type}:{target}")
            if source != target and edge not in self.pool.edges:
                break
        else:
            return
        self.pool.edges.add(edge)
        body = await self._call("create_relation", "POST", "/api/v1/relations", json={
            "source_type": source_type, "source_id": source, "relation_type": relation_type,
            "target_type": target_type, "target_id": target, "metadata": {"w": 1}})
        if body is not None:
            self._made(body["id"])
            self.result.acked.relations.add(body["id"])
            self.pool.relations.append(body["id"])

    async def create_provenance(self) -> None:
        target_type, target = self._entity()
        evidence = self.rng.sample(self.pool.spans, min(len(self.pool.spans),
                                                        self.rng.randint(0, 2)))
        body = await self._call("create_provenance", "POST", "/api/v1/provenance", json={
            "target_type": target_type, "target_id": target, "model": "soak",
            "prompt_version": "soak@1", "evidence_span_ids": evidence,
            "parameters": {"temperature": 0.2}})
        if body is not None:
            self.result.acked.provenance.add(body["id"])

    # Reads ----------------------------------------------------------------------------

    async def list_artifacts(self) -> None:
        params: dict[str, Any] = {"limit": 20}
        if self.rng.random() < 0.5:
            params["kind"] = self.rng.choice(["note", "document", "conversation"])
        await self._call("list_artifacts", "GET", "/api/v1/artifacts", params=params)

    async def get_artifact(self) -> None:
        artifact = self.rng.choice(self.pool.artifacts)
        await self._call("get_artifact", "GET", f"/api/v1/artifacts/{artifact}",
                         reads=(artifact,))

    async def get_version(self) -> None:
        version, artifact, number, _ = self.rng.choice(self.pool.versions)
        await self._call("get_version", "GET", f"/api/v1/artifacts/{artifact}/versions/{number}",
                         reads=(version,))

    async def list_spans(self) -> None:
        version = self.rng.choice(self.pool.versions)[0]
        await self._call("list_spans", "GET", "/api/v1/spans", reads=(version,),
                         params={"version_id": version, "include_text": "true", "limit": 50})

    async def graphql_nested(self) -> None:
        artifact = self.rng.choice(self.pool.artifacts)
        await self._call("graphql_nested", "POST", "/graphql", reads=(artifact,),
                         json={"query": GRAPHQL_NESTED, "variables": {"id": artifact}})

    async def search_text(self) -> None:
        query = " ".join(self.rng.sample(WORDS, self.rng.randint(1, 2)))
        await self._call("search_text", "POST", "/api/v1/search/text",
                         json={"query": query, "match": self.rng.choice(["all", "any"]),
                               "limit": 10})


async def run_load(base_url: str, *, clients: int = 8, duration_s: float = 180,
                   seed: int = 7, api_key: str | None = None,
                   timeout_s: float = 30, during=None, read_back: bool = False,
                   own_addresses: bool = False) -> SoakResult:
    """Run `clients` concurrent clients against `base_url` for `duration_s` seconds;
    `during(result)`, a coroutine function, runs alongside (e.g. killing processes).
    `read_back`: each client reads every artifact or version it created back at once.
    `own_addresses` (a loopback server only): client n connects from 127.0.0.(n + 2), so
    the server tells the clients apart without keys (as it would real clients), e.g. for
    the write positions it remembers per caller."""
    result = SoakResult(clients=clients, duration_s=duration_s)
    pool = _Pool()
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    async with contextlib.AsyncExitStack() as stack:
        def http_client(connections: int, address: str | None = None) -> httpx.AsyncClient:
            limits = httpx.Limits(max_connections=connections,
                                  max_keepalive_connections=connections)
            transport = httpx.AsyncHTTPTransport(limits=limits, local_address=address)
            return httpx.AsyncClient(base_url=base_url, timeout=timeout_s, headers=headers,
                                     transport=transport)

        if own_addresses:
            https = [await stack.enter_async_context(http_client(2, f"127.0.0.{n % 250 + 2}"))
                     for n in range(clients)]
        else:
            https = [await stack.enter_async_context(http_client(clients * 2))] * clients
        started = time.monotonic()
        deadline = started + duration_s
        workers = [_Client(n, https[n], pool, result, random.Random(seed * 1000 + n),
                           read_back) for n in range(clients)]
        side = [during(result)] if during is not None else []
        await asyncio.gather(*(worker.run(deadline) for worker in workers), *side)
        result.elapsed_s = time.monotonic() - started
    return result


# Verification -------------------------------------------------------------------------


async def verify_in_database(result: SoakResult, conninfo: str) -> None:
    """Count the acknowledged writes missing from the database, and run the invariant
    checker; both go into `result` (`lost`, `checker`)."""
    from mimir.integrity import check_conninfo

    result.lost = await lost_writes(result.acked, conninfo)
    result.checker = (await check_conninfo(conninfo)).as_dict()


async def lost_writes(acked: Acked, conninfo: str) -> dict[str, int]:
    """The acknowledged writes missing from the database at `conninfo`, by kind (only the
    kinds with some missing): the primary, or after the load a replica that caught up."""
    import psycopg

    lost: dict[str, int] = {}
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        for kind, table in (("artifacts", "artifacts"), ("spans", "spans"),
                            ("relations", "relations"), ("provenance", "provenance")):
            ids = sorted(getattr(acked, kind))
            cursor = await conn.execute(
                f"SELECT count(*) FROM {table} WHERE id = ANY(%s::uuid[])", (ids,))
            lost[kind] = len(ids) - (await cursor.fetchone())[0]
        cursor = await conn.execute(
            "SELECT id::text, artifact_id::text, version_number FROM artifact_versions "
            "WHERE id = ANY(%s::uuid[])", ([v[0] for v in acked.versions],))
        present = {tuple(row) for row in await cursor.fetchall()}
        lost["versions"] = len(acked.versions - present)
    return {kind: n for kind, n in lost.items() if n}


async def drain_jobs(result: SoakResult, conninfo: str, *, within_s: float = 120) -> None:
    """Wait (up to `within_s`) until no job is queued or running, then put the queue's
    counts by status, and how many jobs started more than once (a killed worker's jobs are
    requeued and run again), into `result.jobs`."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        deadline = time.monotonic() + within_s
        while True:
            cursor = await conn.execute("SELECT status::text, count(*) FROM procrastinate_jobs "
                                        "GROUP BY 1")
            counts = dict(await cursor.fetchall())
            if not counts.get("todo") and not counts.get("doing") or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        cursor = await conn.execute(
            "SELECT count(*) FROM (SELECT job_id FROM procrastinate_events WHERE type = "
            "'started' GROUP BY job_id HAVING count(*) > 1) AS again")
        again = (await cursor.fetchone())[0]
    result.jobs = {"by_status": counts, "started_more_than_once": again,
                   "drained": not counts.get("todo") and not counts.get("doing")}


async def verify_over_http(result: SoakResult, base_url: str, *, api_key: str | None = None,
                           concurrency: int = 8) -> None:
    """Without database access: look each acknowledged write up through the API."""
    acked = result.acked
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    lost: Counter = Counter()
    semaphore = asyncio.Semaphore(concurrency)
    latest: dict[str, int] = defaultdict(int)
    for _, artifact, number in acked.versions:
        latest[artifact] = max(latest[artifact], number)

    async with httpx.AsyncClient(base_url=base_url, timeout=30, headers=headers) as http:
        async def present(kind: str, url: str, check=None) -> None:
            async with semaphore:
                response = await http.get(url)
            if response.status_code != 200 or (check and not check(response.json())):
                lost[kind] += 1

        async def graphql_present(provenance: str) -> None:
            async with semaphore:
                response = await http.post("/graphql", json={
                    "query": "query($id: UUID!) { provenance(id: $id) { id } }",
                    "variables": {"id": provenance}})
            if response.status_code != 200 or not (response.json().get("data") or {}).get(
                    "provenance"):
                lost["provenance"] += 1

        jobs = [present("artifacts", f"/api/v1/artifacts/{a}") for a in acked.artifacts]
        jobs += [present("versions", f"/api/v1/artifacts/{a}",
                         lambda body, n=n: body["latest_version_number"] >= n)
                 for a, n in latest.items()]
        jobs += [present("spans", f"/api/v1/spans/{s}") for s in acked.spans]
        jobs += [present("relations", f"/api/v1/relations/{r}") for r in acked.relations]
        jobs += [graphql_present(p) for p in acked.provenance]
        await asyncio.gather(*jobs)
    result.lost = dict(lost)
