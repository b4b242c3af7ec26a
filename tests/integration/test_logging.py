"""The plan's logging (section 3.5): upper-case levels, a line when a request starts and one
when it ends, SQL statements at DEBUG without their parameter values, compact JSON or
indented JSON for a person."""

from __future__ import annotations

import io
import json
import logging

import pytest

from mimir.config import Settings
from mimir.db.pool import make_pool
from mimir.logging import configure_logging, get_logger

SECRET_VALUE = "Vq7#kT2z-never-logged-value"


@pytest.fixture
def capture():
    """configure_logging into a buffer; the function returns the buffer's text."""
    buffer = io.StringIO()

    def start(level: str = "INFO", *, pretty: bool = False) -> io.StringIO:
        configure_logging(level, stream=buffer, pretty=pretty)
        return buffer

    yield start
    configure_logging("INFO")


def _entries(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


class TestFormat:
    def test_levels_are_upper_case(self, capture):
        """structlog and stdlib loggers alike write the plan's level names."""
        buffer = capture("DEBUG")
        get_logger("mimir.test").warning("structlog line")
        logging.getLogger("uvicorn.error").error("stdlib line")
        levels = {entry["message"]: entry["level"] for entry in _entries(buffer)}
        assert levels == {"structlog line": "WARNING", "stdlib line": "ERROR"}

    def test_compact_is_one_object_a_line(self, capture):
        """The production format: each entry is one JSON object on one line."""
        buffer = capture()
        get_logger("mimir.test").info("compact", artifact_id="a-1")
        lines = buffer.getvalue().splitlines()
        assert len(lines) == 1
        assert json.loads(lines[0])["artifact_id"] == "a-1"

    def test_pretty_is_indented_json(self, capture):
        """The development format: the same entry, indented over several lines."""
        buffer = capture(pretty=True)
        get_logger("mimir.test").info("pretty", artifact_id="a-1")
        text = buffer.getvalue()
        assert text.count("\n") > 3 and '\n  "message": "pretty"' in text
        entry = json.loads(text)
        assert (entry["level"], entry["artifact_id"]) == ("INFO", "a-1")


class TestRequestLines:
    async def test_start_and_completion_lines(self, client, capture):
        """A request logs `request started` (INFO) then `request` with status and duration,
        both under the request's id."""
        buffer = capture()
        await client.get("/health", headers={"X-Request-ID": "req-start-1"})
        entries = [e for e in _entries(buffer) if e.get("request_id") == "req-start-1"]
        messages = [e["message"] for e in entries]
        assert messages[0] == "request started" and messages[-1] == "request"
        start, end = entries[0], entries[-1]
        assert (start["level"], start["method"], start["path"]) == ("INFO", "GET", "/health")
        assert "status_code" not in start and "duration_ms" not in start
        assert (end["level"], end["status_code"]) == ("INFO", 200)
        assert isinstance(end["duration_ms"], float)


class TestSqlAtDebug:
    async def _run(self, db_conninfo: str) -> None:
        pool = make_pool(db_conninfo, Settings(_env_file=None))
        await pool.open()
        try:
            async with pool.connection() as conn:
                await conn.execute("SELECT %s::text AS secret, %s::int AS n", (SECRET_VALUE, 7))
                async with conn.cursor() as cur:
                    await cur.executemany("SELECT %s::text", [(SECRET_VALUE,), ("x",)])
        finally:
            await pool.close()

    async def test_debug_logs_statements_without_values(self, db_conninfo, capture):
        """LOG_LEVEL=DEBUG logs each statement the pool runs with its parameter count; the
        bound values never appear."""
        buffer = capture("DEBUG")
        await self._run(db_conninfo)
        sql_entries = [e for e in _entries(buffer) if e.get("logger") == "mimir.sql"]
        single = [e for e in sql_entries if e["statement"] == "SELECT %s::text AS secret, %s::int AS n"]
        assert single and single[0]["parameter_count"] == 2 and single[0]["level"] == "DEBUG"
        many = [e for e in sql_entries if e["statement"] == "SELECT %s::text"]
        assert many and many[0]["executions"] == 2
        assert SECRET_VALUE not in buffer.getvalue()

    async def test_info_logs_no_statements(self, db_conninfo, capture):
        """At INFO no statement is logged."""
        buffer = capture("INFO")
        await self._run(db_conninfo)
        assert not [e for e in _entries(buffer) if e.get("logger") == "mimir.sql"]
