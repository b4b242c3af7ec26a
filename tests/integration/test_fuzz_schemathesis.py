"""schemathesis against a real `mimir serve` on loopback: every REST operation of
/openapi.json and every GraphQL query and mutation field, with a bounded, deterministic
number of generated requests.

REST: never a 5xx, every status documented, every body in its documented schema, content
type and headers. GraphQL: never a 5xx, data in the declared types, every error carrying one
of our client-error `extensions.code`s and none the masked `internal`. Neither run leaves an
error in the server's log.

The database is seeded through the API first (those responses are checked against the
schema too), and the generated ids are mixed with the seeded ones so that requests by id
also reach existing rows. schemathesis runs through its engine (the code behind `st run`):
its pytest plugin does not work with pytest 9.2. For a longer run outside CI raise the
examples per operation and phase, and to explore other inputs set a seed, e.g.
`MIMIR_FUZZ_EXAMPLES=150 MIMIR_FUZZ_SEED=7 .venv/bin/pytest -s
tests/integration/test_fuzz_schemathesis.py`.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import graphql
import httpx
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.engine import Status, events
from schemathesis.graphql import nodes
from schemathesis.specs.graphql import scalars

from tests.faults import Server, mimir_env

# Examples per operation and generation phase (the coverage phase, deterministic, does not
# depend on it). 15 keeps the module under a minute on two idle cores.
MAX_EXAMPLES = int(os.environ.get("MIMIR_FUZZ_EXAMPLES", "15"))
# GraphQL fields take more arguments, each of which can make a generated call invalid: 30
# examples per field let at least half the fields reach data (15-17 of 32 did with 20: the
# seeded ids differ from run to run, so the count moves; 15 fell short once `search` grew
# `offset` and `match`).
GRAPHQL_EXAMPLES = int(os.environ.get("MIMIR_FUZZ_GRAPHQL_EXAMPLES", "30"))
# One worker sends the requests in a fixed order, so every run meets the same database
# states and gets the same answers. (With two, schemathesis 4.32 on Python 3.11 can also
# fail inside Hypothesis: "AST constructor recursion depth mismatch".)
WORKERS = int(os.environ.get("MIMIR_FUZZ_WORKERS", "1"))
# Unset in CI: derandomized generation. A number explores other inputs, reproducibly.
SEED = os.environ.get("MIMIR_FUZZ_SEED")

REST_CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance",
               "response_headers_conformance", "response_schema_conformance"]
GRAPHQL_CHECKS = ["response_schema_conformance", "graphql_errors_are_coded"]

# The codes src/mimir/graphql/errors.py gives errors the client caused; `internal` is the
# masked unexpected error and is never acceptable here.
GRAPHQL_CLIENT_CODES = frozenset({"invalid", "invalid_query", "not_found", "conflict",
                                  "forbidden", "unauthorized", "payload_too_large",
                                  "rate_limited", "query_too_expensive",
                                  "response_too_large"})

# Reads of one row by id: with seeded ids mixed in, each must find a row at least once.
READS_BY_ID = ("GET /api/v1/artifacts/{artifact_id}",
               "GET /api/v1/artifacts/{artifact_id}/versions/{version_number}",
               "GET /api/v1/artifacts/{artifact_id}/relations",
               "GET /api/v1/spans/{span_id}", "GET /api/v1/intents/{intent_id}",
               "GET /api/v1/intents/groups/{group_id}", "GET /api/v1/decisions/{decision_id}",
               "GET /api/v1/decisions/{decision_id}/lineage",
               "GET /api/v1/relations/{relation_id}", "GET /api/v1/imports/{import_id}")

# Which seeded ids each parameter draws from, half of the time.
REST_BINDINGS = {
    "path.artifact_id": "artifact", "path.span_id": "span", "path.group_id": "group",
    "path.intent_id": "intent", "path.decision_id": "decision",
    "path.relation_id": "relation", "path.target_id": "any", "path.import_id": "import",
    "query.artifact_id": "artifact", "query.version_id": "version", "query.entity_id": "any",
    "query.artifact_version_id": "version", "query.from_id": "any",
    "body.version_id": "version", "body.artifact_id": "artifact", "body.group_id": "group",
    "body.artifact_version_id": "version", "body.intent_group_id": "group",
    "body.into": "group", "body.source_id": "any", "body.target_id": "any",
    "body.provenance.evidence_span_ids[*]": "span", "body.evidence_span_ids[*]": "span",
    "body.vectors[*].target_id": "any",
}


@dataclass
class Known:
    """Ids of the rows seeded before fuzzing, by kind, and the seeding responses."""

    ids: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    responses: list[httpx.Response] = field(default_factory=list)
    # An admin key made first: the fuzzer creates keys too (POST /api/v1/admin/keys), and
    # once one exists every request needs one.
    headers: dict[str, str] = field(default_factory=dict)

    def add(self, kind: str, ident: str) -> str:
        self.ids[kind].append(ident)
        return ident

    def every_id(self) -> list[str]:
        return [ident for kind in sorted(self.ids) for ident in self.ids[kind]]


@dataclass
class FuzzServer:
    base_url: str
    known: Known
    log_path: Path

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()

    def error_lines(self) -> list[str]:
        return [line for line in self.log_lines()
                if '"level":"ERROR"' in line or '"level":"CRITICAL"' in line]


@dataclass
class Report:
    """What one schemathesis run did: requests per operation and outcome, what failed."""

    suite: str
    outcomes: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    phases: Counter = field(default_factory=Counter)
    phase_seconds: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def requests(self) -> int:
        return sum(self.phases.values())

    def answered_2xx(self, operation: str) -> bool:
        return any(outcome.startswith("2") for outcome in self.outcomes.get(operation, ()))

    def summary(self) -> str:
        by_phase = ", ".join(f"{phase} {n} in {self.phase_seconds.get(phase, 0):.1f} s"
                             for phase, n in self.phases.items())
        head = (f"{self.suite}: {self.requests()} requests over {len(self.outcomes)} "
                f"operations in {self.seconds:.1f} s ({by_phase}); "
                f"{len(self.failures)} failures, {len(self.errors)} errors")
        return "\n".join([head] + [
            f"  {operation}: " + " ".join(f"{o}x{n}" for o, n in sorted(counter.items()))
            for operation, counter in sorted(self.outcomes.items())])


def _outcome(response) -> str:
    """The status code; for a GraphQL answer also `data` or the codes of its errors."""
    if response is None:
        return "network-error"
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict) and ("data" in payload or "errors" in payload):
        codes = sorted({str((e.get("extensions") or {}).get("code"))
                        for e in payload.get("errors") or []})
        return f"{response.status_code}:" + ("+".join(codes) if codes else "data")
    return str(response.status_code)


def run_schemathesis(schema, suite: str) -> Report:
    """Every phase the schema's config enables, through schemathesis' engine."""
    report = Report(suite)
    started: dict[str, float] = {}
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.PhaseStarted):
            started[str(event.phase.name)] = event.timestamp
        elif isinstance(event, events.PhaseFinished):
            name = str(event.phase.name)
            report.phase_seconds[name] = event.timestamp - started.get(name, event.timestamp)
        elif isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            for case_id, interaction in recorder.interactions.items():
                node = recorder.cases.get(case_id)
                operation = node.value.operation.label if node else recorder.label
                report.outcomes[operation][_outcome(interaction.response)] += 1
                report.phases[str(event.phase)] += 1
            for check_nodes in recorder.checks.values():
                for check in check_nodes:
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        failure = check.failure_info.failure
                        report.failures.append(
                            f"[{check.name}] {recorder.label}: {failure.title}\n"
                            f"{failure.message}\n{check.failure_info.code_sample}")
                    elif check.status == Status.ERROR:
                        report.errors.append(f"[{check.name}] {recorder.label}: check crashed")
        elif isinstance(event, events.NonFatalError):
            report.errors.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            raise event.exception
        elif isinstance(event, events.EngineFinished):
            report.seconds = event.running_time
    return report


def _config(server: FuzzServer, base_url: str, bindings: dict[str, str],
            checks: list[str], examples: int = MAX_EXAMPLES) -> schemathesis.Config:
    """Deterministic generation (no example database) unless MIMIR_FUZZ_SEED is set, valid
    and invalid data, the given checks only, and for each parameter in `bindings` seeded ids
    in half the values."""
    known = server.known
    dictionaries = {kind: {"values": ids} for kind, ids in known.ids.items()}
    dictionaries["any"] = {"values": known.every_id()}
    return schemathesis.Config.from_dict({
        **({"seed": int(SEED)} if SEED else {}),
        "base-url": base_url,
        "headers": known.headers,
        "request-timeout": 30,
        "workers": WORKERS,
        "continue-on-failure": True,
        "generation": {"max-examples": examples, "deterministic": not SEED,
                       "database": "none", "mode": "all"},
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True},
                   "fuzzing": {"enabled": True},
                   "stateful": {"enabled": True, "max-steps": 10}},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in checks}},
        "dictionaries": dictionaries,
        "parameters": {key: {"dictionary": kind, "probability": 0.5}
                       for key, kind in bindings.items()},
    })


def _seed(base_url: str) -> Known:
    """A few rows of every kind through the API: artifacts with two versions (emoji,
    combining marks, RTL), spans, intent groups (one merged), intents with provenance,
    decisions (one superseded), relations, provenance, an embedding space with a vector,
    and a queued import."""
    known = Known()

    def keep(response: httpx.Response) -> None:
        response.request.read()
        response.read()
        known.responses.append(response)

    with httpx.Client(base_url=base_url, timeout=30, event_hooks={"response": [keep]}) as http:
        def send(method: str, path: str, body: dict[str, Any], expect: int = 201) -> dict:
            response = http.request(method, path, json=body)
            assert response.status_code == expect, (method, path, response.text)
            return response.json()

        admin = send("POST", "/api/v1/admin/keys", {"name": "fuzzer", "scope": "admin"})
        known.headers["Authorization"] = f"Bearer {admin['key']}"
        http.headers.update(known.headers)

        texts = ["Hello world, this is the first note.",
                 "User: when do we ship?\nAssistant: Thursday 👋🏽 e\u0301",
                 "שלום עולם — mixed RTL text and 漢字"]
        for n, content in enumerate(texts):
            artifact = send("POST", "/api/v1/artifacts", {
                "kind": ["note", "conversation", "document"][n], "content": content,
                "title": f"seed {n}", "source": "fuzz", "external_id": f"seed-{n}",
                "metadata": {"project": "apollo", "n": n}})
            known.add("artifact", artifact["id"])
            known.add("version", artifact["versions"][0]["id"])
            version = send("POST", f"/api/v1/artifacts/{artifact['id']}/versions",
                           {"content": content + " And a second version."})
            known.add("version", version["id"])
            for start, end in ((0, 5), (6, 11)):
                known.add("span", send("POST", "/api/v1/spans", {
                    "version_id": version["id"], "start_offset": start, "end_offset": end,
                    "span_type": "quote", "label": f"seed {start}"})["id"])
        ids = known.ids
        for name in ("Meeting cadence", "Storage", "Absorbed"):
            known.add("group", send("POST", "/api/v1/intents/groups", {"name": name})["id"])
        for statement, group in (("Move the weekly sync to Thursdays", ids["group"][0]),
                                 ("Keep everything in PostgreSQL", ids["group"][1]),
                                 ("Try the new importer", None)):
            known.add("intent", send("POST", "/api/v1/intents", {
                "statement": statement, "group_id": group, "confidence": 0.8,
                "provenance": {"model": "seed", "evidence_span_ids": ids["span"][:2]}})["id"])
        send("POST", f"/api/v1/intents/groups/{ids['group'][2]}/merge",
             {"into": ids["group"][0]}, expect=200)
        for statement, status in (("Use PostgreSQL for the queue", "active"),
                                  ("Ship on Thursdays", "tentative")):
            known.add("decision", send("POST", "/api/v1/decisions", {
                "statement": statement, "status": status, "rationale": "seeded"})["id"])
        superseded = send("PATCH", f"/api/v1/decisions/{ids['decision'][0]}", {
            "supersede_with": {"statement": "Use PostgreSQL and SKIP LOCKED"}}, expect=200)
        known.add("decision", superseded["current"]["id"])
        for edge in (("intent", ids["intent"][0], "derived_from", "span", ids["span"][0]),
                     ("decision", ids["decision"][1], "supports", "intent", ids["intent"][1]),
                     ("span", ids["span"][0], "mentions", "artifact", ids["artifact"][0]),
                     ("intent", ids["intent"][1], "relates_to", "intent", ids["intent"][0])):
            known.add("relation", send("POST", "/api/v1/relations", dict(zip(
                ("source_type", "source_id", "relation_type", "target_type", "target_id"),
                edge, strict=True)))["id"])
        send("POST", "/api/v1/provenance", {"target_type": "decision",
                                            "target_id": ids["decision"][1], "model": "seed",
                                            "evidence_span_ids": ids["span"][:1]})
        send("POST", "/api/v1/embeddings/spaces",
             {"name": "fuzz-3d", "model": "seed", "dimensions": 3})
        send("POST", "/api/v1/embeddings", {"space": "fuzz-3d", "vectors": [
            {"target_type": "span", "target_id": ids["span"][0], "vector": [0.1, 0.2, 0.3]}]},
             expect=200)
        upload = http.post("/api/v1/imports", data={"kind": "chatgpt"},
                           files={"file": ("conversations.json", b"[]", "application/json")})
        assert upload.status_code == 202, upload.text
        known.add("import", upload.json()["id"])
        for path in ("/api/v1/artifacts", "/api/v1/spans?artifact_id=" + ids["artifact"][0],
                     f"/api/v1/relations/traverse?from_type=intent&from_id={ids['intent'][1]}",
                     f"/api/v1/provenance/decision/{ids['decision'][1]}"):
            assert http.get(path).status_code == 200, path
    return known


@pytest.fixture(scope="module")
def fuzz_server(pg_server, tmp_path_factory) -> Iterator[FuzzServer]:
    """`mimir serve` on loopback over a fresh migrated database, seeded through the API.
    No worker (imports stay queued), no rate limit (the fuzzer is one fast client)."""
    dbname = pg_server.create_database(template=pg_server.template)
    workdir = tmp_path_factory.mktemp("fuzz")
    env = mimir_env(pg_server.conninfo(dbname), MIMIR_AUTO_MIGRATE="false",
                    MIMIR_DATA_DIR=str(workdir / "data"), MIMIR_WORKER="off",
                    MIMIR_RATE_LIMIT_PER_MINUTE="0")
    # Its log goes to a file, not a pipe: a full pipe would stall the server mid-run.
    server = Server(env, workdir / "server.log")
    try:
        server.start(within_s=90)
        yield FuzzServer(base_url=server.base_url, known=_seed(server.base_url),
                         log_path=server.log_path)
    finally:
        server.stop()
        pg_server.drop_database(dbname)


def _graphql_value(value: Any) -> graphql.ValueNode:
    if isinstance(value, dict):
        return nodes.Object([graphql.ObjectFieldNode(name=graphql.NameNode(value=k),
                                                     value=_graphql_value(v))
                             for k, v in value.items()])
    if isinstance(value, list):
        return nodes.List([_graphql_value(v) for v in value])
    if value is None:
        return nodes.Null
    if isinstance(value, bool):
        return nodes.Boolean(value)
    if isinstance(value, int):
        return nodes.Int(value)
    if isinstance(value, float):
        return nodes.Float(value)
    return nodes.String(value)


# JSON arguments (metadata, parameters, filters): objects whose keys are GraphQL names, the
# REST filter keys among them, with text, integers beyond 64 bits, floats and nesting.
_json_keys = st.sampled_from(["status", "kind", "source", "title__icontains", "id",
                              "created_at__gte", "metadata__project", "metadata__contains",
                              "span_type", "relation_type__in", "project"]) | st.from_regex(
    r"[_A-Za-z][_0-9A-Za-z]{0,12}", fullmatch=True)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_json_keys, inner, max_size=3),
    max_leaves=8)
JSON_OBJECTS = st.dictionaries(_json_keys, _json_values, max_size=4).map(_graphql_value)


@schemathesis.check
def graphql_errors_are_coded(ctx, response, case) -> bool | None:
    """GraphQL: no 5xx, a GraphQL answer, and every error with one of our client-error
    codes (never the masked `internal`, never none)."""
    if case.operation.schema.specification.kind.value != "graphql":
        return None
    if response.status_code >= 500:
        raise AssertionError(f"HTTP {response.status_code}: {response.text[:300]}")
    payload = response.json()
    if not isinstance(payload, dict) or not ({"data", "errors"} & set(payload)):
        raise AssertionError(f"not a GraphQL answer: HTTP {response.status_code} "
                             f"{response.text[:300]}")
    for error in payload.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        if code not in GRAPHQL_CLIENT_CODES:
            raise AssertionError(f"GraphQL error with code {code!r}: {error.get('message')!r}")
    return None


@pytest.fixture
def graphql_scalars(fuzz_server) -> Iterator[None]:
    """UUID arguments: half seeded ids; JSON arguments: generated objects (schemathesis
    knows neither scalar's meaning). Restored afterwards: the registry is global."""
    saved = dict(scalars.CUSTOM_SCALARS)
    scalars.CUSTOM_SCALARS["UUID"] = (
        st.sampled_from(fuzz_server.known.every_id()) | st.uuids().map(str)).map(nodes.String)
    scalars.CUSTOM_SCALARS["JSON"] = JSON_OBJECTS
    yield
    scalars.CUSTOM_SCALARS.clear()
    scalars.CUSTOM_SCALARS.update(saved)


def _verdict(report: Report, new_errors: list[str]) -> str:
    return "\n\n".join([report.summary(), *report.errors, *report.failures,
                        "server errors:", *new_errors[-20:]])


def _fuzz_cleanly(schema: Any, label: str, fuzz_server: FuzzServer) -> tuple[Any, set[str]]:
    """Run schemathesis over every operation of `schema` and assert the run was clean: no
    failure, no engine error, no error logged by the server, every operation called.
    Returns the report and the operation labels."""
    logged_before = len(fuzz_server.error_lines())
    report = run_schemathesis(schema, label)
    print(report.summary())
    new_errors = fuzz_server.error_lines()[logged_before:]
    assert (report.failures, report.errors, new_errors) == ([], [], []), _verdict(
        report, new_errors)
    operations = {result.ok().label for result in schema.get_all_operations()}
    assert operations - set(report.outcomes) == set(), "operations never called"
    return report, operations


class TestFuzz:
    def test_rest_api(self, fuzz_server):
        """Every operation of /openapi.json with generated valid and invalid requests
        (examples, coverage, fuzzing, stateful links): never a 5xx, every status documented,
        every body, content type and header as documented, no error logged; the seeding
        responses match the schema; every read by id found a seeded row."""
        schema = schemathesis.openapi.from_url(
            f"{fuzz_server.base_url}/openapi.json",
            config=_config(fuzz_server, fuzz_server.base_url, REST_BINDINGS, REST_CHECKS))
        seed_problems = []
        for response in fuzz_server.known.responses:
            request = response.request
            operation = schema.find_operation_by_path(request.method, request.url.path)
            try:
                operation.validate_response(response)
            except (AssertionError, schemathesis.errors.FailureGroup) as exc:
                seed_problems.append(f"{request.method} {request.url.path}: {exc!r}")
        assert seed_problems == []
        report, _ = _fuzz_cleanly(schema, "REST", fuzz_server)
        assert [op for op in READS_BY_ID if not report.answered_2xx(op)] == []

    def test_graphql(self, fuzz_server, graphql_scalars):
        """Every query and mutation field with generated arguments and selections: never a
        5xx, data in the declared types, every error coded and none masked, no error
        logged; at least half the fields returned data at least once."""
        schema = schemathesis.graphql.from_url(
            f"{fuzz_server.base_url}/graphql",
            config=_config(fuzz_server, f"{fuzz_server.base_url}/graphql", {}, GRAPHQL_CHECKS,
                           examples=GRAPHQL_EXAMPLES))
        report, operations = _fuzz_cleanly(schema, "GraphQL", fuzz_server)
        assert sum(1 for counter in report.outcomes.values()
                   if any(o.endswith(":data") for o in counter)) >= len(operations) // 2


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()["error"]


class TestWhatTheFuzzersFound:
    """The failures schemathesis found, pinned as plain requests over real HTTP."""

    def test_metadata_beyond_64_bit_integers_is_invalid(self, fuzz_server):
        """An integer beyond 64 bits or nesting beyond 254 levels in metadata (or provenance
        parameters) is a 422 naming the field, not a 500; nothing is written."""
        deep: dict[str, Any] = {}
        for _ in range(300):
            deep = {"a": deep}
        with httpx.Client(base_url=fuzz_server.base_url, timeout=30,
                          headers=fuzz_server.known.headers) as http:
            before = http.get("/api/v1/artifacts", params={"source": "bigint"}).json()["items"]
            for body in ({"metadata": {"n": 2**64}},
                         {"metadata": {"n": [-(2**63) - 1]}},
                         {"version_metadata": deep},
                         {"provenance": {"parameters": {"seed": 10**30}}}):
                error = _error(http.post("/api/v1/artifacts", json={
                    "kind": "note", "content": "x", "source": "bigint", **body}), 422)
                assert error["code"] == "invalid"
                assert "cannot be stored" in str(error["details"]), error
            after = http.get("/api/v1/artifacts", params={"source": "bigint"}).json()["items"]
        assert before == after == []

    def test_empty_provenance_header_is_ignored(self, fuzz_server):
        """An empty X-Provenance-* header next to a filled one says nothing; the write
        succeeds with the filled one's provenance."""
        with httpx.Client(base_url=fuzz_server.base_url, timeout=30,
                          headers=fuzz_server.known.headers) as http:
            response = http.post("/api/v1/intents/groups", json={"name": "headers"},
                                 headers={"X-Provenance-Model": "", "X-Provenance-Pipeline": "p1"})
            assert response.status_code == 201, response.text
            records = http.get(f"/api/v1/provenance/intent_group/{response.json()['id']}").json()
        assert [(r["model"], r["pipeline_version"]) for r in records] == [(None, "p1")]

    def test_body_that_is_not_utf8_is_a_documented_400(self, fuzz_server):
        """A JSON body that is not UTF-8 is a 400 in the error shape (FastAPI cannot decode
        it), and 400 is documented on every operation that takes a body."""
        with httpx.Client(base_url=fuzz_server.base_url, timeout=30,
                          headers=fuzz_server.known.headers) as http:
            error = _error(http.post("/api/v1/relations", content=b"\xff\xfe{",
                                     headers={"Content-Type": "application/json"}), 400)
            spec = http.get("/openapi.json").json()
        assert error["code"] == "bad_request" and error["request_id"]
        undocumented = [f"{method.upper()} {path}" for path, item in spec["paths"].items()
                        for method, operation in item.items()
                        if "requestBody" in operation and "400" not in operation["responses"]]
        assert undocumented == []

    def test_longest_relation_types_reaches_mimir(self, fuzz_server):
        """relation_types at its documented maximum, in 4-byte characters (60 000 bytes
        once encoded), gets Mímir's JSON 422; one character more is FastAPI's 422 -- never
        the HTTP server's bare 400 for a request line over 64 KiB."""
        from mimir.relations.rest import RELATION_TYPES_MAX_CHARS

        intent = fuzz_server.known.ids["intent"][0]
        with httpx.Client(base_url=fuzz_server.base_url, timeout=30,
                          headers=fuzz_server.known.headers) as http:
            for length in (RELATION_TYPES_MAX_CHARS, RELATION_TYPES_MAX_CHARS + 1):
                error = _error(http.get("/api/v1/relations/traverse", params={
                    "from_type": "intent", "from_id": intent,
                    "relation_types": "\U0007b252" * length}), 422)
                assert error["code"] == "invalid"
