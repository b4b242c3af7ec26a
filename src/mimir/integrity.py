"""The invariant checker: reads a live database and names every row that breaks one of
Mímir's rules, whatever wrote it (a bug, a crash mid-write, a hand edit, a restore).

Most rules are enforced when rows are written (constraints, triggers); the checker looks
again afterwards, so that a fault test, the soak test or an operator (`mimir check`) can
tell that nothing half-written or dangling was left behind:

- every artifact has a version 1, and its version numbers are exactly 1..n;
- every version belongs to an artifact and its content_hash is sha256(content);
- every span (chunk spans included) points at an existing version, within its content;
- every provenance record's target exists (polymorphic target_type/target_id), and so do
  its evidence spans;
- both ends of every relation exist; every embedding's target and space exist;
- an intent's group, a group's merge target and a decision's successor exist;
- imports still `queued`/`running` have a job that will finish them (a warning only: a
  killed worker's job is requeued once the worker is seen to be dead).

The queries are `integrity_*` in `sql/integrity.sql`; they run in one read-only
REPEATABLE READ transaction, so the report describes a single snapshot even while the
database is written to.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from mimir.db.queries import queries

Severity = Literal["error", "warning"]
DEFAULT_LIMIT = 20
# A worker that has not beaten for this long is taken for dead (procrastinate's default
# stalled-worker timeout, the one `mimir.jobs.worker` uses).
DEFAULT_STALE_AFTER_S = 30.0


@dataclass(frozen=True)
class Check:
    name: str
    description: str
    severity: Severity = "error"


CHECKS: tuple[Check, ...] = (
    Check("artifact_without_version_one", "artifacts without a version 1"),
    Check("version_number_gaps", "artifacts whose version numbers are not 1..n"),
    Check("version_without_artifact", "versions of an artifact that does not exist"),
    Check("version_hash_mismatch", "versions whose content_hash is not sha256(content)"),
    Check("span_without_version", "spans (chunks included) of a version that does not exist"),
    Check("span_outside_content", "spans whose offsets fall outside their version's content"),
    Check("provenance_without_target", "provenance records whose target does not exist"),
    Check("evidence_without_span", "provenance evidence citing a span that does not exist"),
    Check("evidence_without_provenance", "provenance evidence of a missing provenance record"),
    Check("relation_end_missing", "relations whose source or target does not exist"),
    Check("embedding_target_missing", "embeddings whose target does not exist"),
    Check("namespace_mismatch", "relations, provenance or embeddings whose entity is in "
          "another namespace"),
    Check("embedding_space_mismatch",
          "embeddings in a missing space or with the wrong number of dimensions"),
    Check("reference_missing",
          "intent groups, merge targets or decision successors that do not exist"),
    Check("search_postings_stale",
          "full-text postings that do not describe exactly the latest version of each artifact"),
    Check("search_stats_drift", "BM25 counters that disagree with the postings"),
    Check("imports_stalled", "imports queued or running with no live job to finish them",
          "warning"),
)


@dataclass
class Finding:
    """What one check found: how many rows break the rule, and the first few of them."""

    check: str
    description: str
    severity: Severity
    total: int
    rows: list[dict[str, str]]

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.check, "description": self.description,
                "severity": self.severity, "total": self.total, "rows": self.rows}


@dataclass
class IntegrityReport:
    findings: list[Finding] = field(default_factory=list)
    checks_run: int = 0
    seconds: float = 0.0

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        """No rule is broken (warnings allowed)."""
        return not self.errors

    @property
    def violations(self) -> int:
        return sum(f.total for f in self.errors)

    def by_check(self) -> dict[str, Finding]:
        return {f.check: f for f in self.findings}

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "violations": self.violations,
                "warnings": sum(f.total for f in self.warnings),
                "checks_run": self.checks_run, "seconds": round(self.seconds, 3),
                "findings": [f.as_dict() for f in self.findings]}

    def format_text(self) -> str:
        """A readable report: one block per broken rule, one line per offending row."""
        if not self.findings:
            return f"ok: {self.checks_run} checks, no violations ({self.seconds:.2f} s)"
        lines = []
        for finding in self.findings:
            label = "ERROR" if finding.severity == "error" else "WARNING"
            lines.append(f"{label} {finding.check}: {finding.total} {finding.description}")
            for row in finding.rows:
                lines.append(f"  {row['subject']}  {row['detail']}")
            if finding.total > len(finding.rows):
                lines.append(f"  ... and {finding.total - len(finding.rows)} more")
        verdict = ("ok (warnings only)" if self.ok
                   else f"{self.violations} violations of {len(self.errors)} rules")
        lines.append(f"{verdict}; {self.checks_run} checks ({self.seconds:.2f} s)")
        return "\n".join(lines)


async def check_database(conn: AsyncConnection, *, limit: int = DEFAULT_LIMIT,
                         stale_after_s: float = DEFAULT_STALE_AFTER_S) -> IntegrityReport:
    """Run every check on `conn` (autocommit, no transaction open) in one read-only
    snapshot; each finding lists at most `limit` rows and the total count."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    started = time.perf_counter()
    report = IntegrityReport()
    async with conn.transaction():
        await queries.database_begin_read_snapshot(conn)
        for check in CHECKS:
            query = getattr(queries, f"integrity_{check.name}")
            params: dict[str, Any] = {"limit": limit}
            if check.name == "imports_stalled":
                params["stale_after_s"] = stale_after_s
            rows = [row async for row in query(conn, **params)]
            report.checks_run += 1
            if rows:
                report.findings.append(Finding(
                    check.name, check.description, check.severity, int(rows[0]["total"]),
                    [{"subject": r["subject"], "detail": r["detail"]} for r in rows]))
    report.seconds = time.perf_counter() - started
    return report


async def check_conninfo(conninfo: str, **options: Any) -> IntegrityReport:
    """Connect to `conninfo`, check, disconnect."""
    async with await AsyncConnection.connect(conninfo, autocommit=True,
                                             row_factory=dict_row) as conn:
        return await check_database(conn, **options)
