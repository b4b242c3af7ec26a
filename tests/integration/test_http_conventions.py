"""Every response carries a request id; every error has one JSON shape; logs are JSON lines
with the fields operators need and none of the secrets they must not see."""

from __future__ import annotations

import io
import json

import pytest
from fastapi import Query

from mimir.errors import Conflict
from mimir.logging import configure_logging

SECRET = "postgresql://mimir:sup3r-s3cret-password@db:5432/mimir"


@pytest.fixture
def log_lines():
    buffer = io.StringIO()
    configure_logging("INFO", stream=buffer)

    def lines() -> list[dict]:
        return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]

    yield lines
    configure_logging("INFO")


@pytest.fixture
def probe_routes(app):
    """Routes that exist only in this test, to provoke each kind of error."""

    async def conflict():
        raise Conflict("intent is accepted and cannot become rejected", details={"status": "accepted"})

    async def crash():
        raise RuntimeError(f"boom while talking to {SECRET}")

    async def typed(n: int = Query(ge=1)):
        return {"n": n}

    app.add_api_route("/_probe/conflict", conflict, methods=["GET"])
    app.add_api_route("/_probe/crash", crash, methods=["GET"])
    app.add_api_route("/_probe/typed", typed, methods=["GET"])
    return app


def _assert_error_shape(response, status: int, code: str) -> dict:
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "details", "request_id"}
    assert error["code"] == code
    assert error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    return error


class TestRequestId:
    async def test_incoming_request_id_is_returned(self, client):
        """A client's X-Request-ID comes back unchanged."""
        response = await client.get("/health", headers={"X-Request-ID": "trace-abc.123"})
        assert response.headers["x-request-id"] == "trace-abc.123"

    async def test_request_id_is_made_when_missing_or_unsafe(self, client):
        """Without one (or with an unsafe one) the server makes a fresh id per request."""
        first = await client.get("/health")
        second = await client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
        assert first.headers["x-request-id"] != second.headers["x-request-id"]
        assert " " not in second.headers["x-request-id"]


class TestErrorShape:
    async def test_unknown_route(self, client):
        """An unknown route is a 404 in the error shape."""
        error = _assert_error_shape(await client.get("/no/such/route"), 404, "not_found")
        assert "/no/such/route" in error["message"]

    async def test_wrong_method(self, client):
        """A known route with the wrong method is a 405 in the error shape."""
        _assert_error_shape(await client.delete("/health"), 405, "method_not_allowed")

    async def test_validation_error(self, client, probe_routes):
        """Invalid parameters are a 422 listing each problem and where it is."""
        error = _assert_error_shape(await client.get("/_probe/typed?n=zero"), 422, "invalid")
        assert error["details"]["errors"][0]["location"] == ["query", "n"]

    async def test_domain_error(self, client, probe_routes):
        """A domain error keeps its status, code, message and details."""
        error = _assert_error_shape(await client.get("/_probe/conflict"), 409, "conflict")
        assert error["details"] == {"status": "accepted"}

    async def test_unexpected_error_is_masked(self, client, probe_routes, log_lines):
        """An unexpected exception is a 500 that shows nothing of it; the log has the details
        (type, message, stack trace) with the credentials removed."""
        response = await client.get("/_probe/crash")
        error = _assert_error_shape(response, 500, "internal")
        assert "boom" not in response.text and "s3cret" not in response.text
        logged = [line for line in log_lines() if line.get("error_type") == "RuntimeError"]
        assert logged, "the crash was not logged"
        entry = logged[0]
        assert entry["request_id"] == error["request_id"]
        assert "Traceback" in entry["stack_trace"]
        assert "boom" in entry["error_message"]
        assert "s3cret" not in json.dumps(log_lines())


class TestRequestLog:
    async def test_request_line_fields(self, client, log_lines):
        """Each request is logged once as JSON with the fields operators filter on."""
        response = await client.get("/health", headers={"X-Request-ID": "req-42"})
        requests = [line for line in log_lines() if line.get("message") == "request"]
        assert len(requests) == 1
        line = requests[0]
        assert {"timestamp", "level", "logger", "message", "request_id", "method", "path",
                "status_code", "duration_ms", "client_ip"} <= set(line)
        assert line["request_id"] == "req-42"
        assert (line["method"], line["path"], line["status_code"]) == ("GET", "/health", 200)
        assert response.status_code == 200

    async def test_no_bodies_or_authorization_in_logs(self, client, log_lines):
        """Request bodies and Authorization headers never reach the log."""
        await client.post("/health", content=b'{"password": "body-secret-123"}',
                          headers={"Authorization": "Bearer header-secret-456"})
        text = json.dumps(log_lines())
        assert "body-secret-123" not in text
        assert "header-secret-456" not in text

    def test_secret_keys_and_url_credentials_redacted(self, log_lines):
        """Values under secret-looking keys, and passwords inside URLs, are redacted."""
        from mimir.logging import get_logger

        get_logger("mimir.test").info("connecting", database_url=SECRET, target=SECRET,
                                      api_key="k-123456")
        entry = [line for line in log_lines() if line.get("message") == "connecting"][0]
        assert entry["database_url"] == "[redacted]"
        assert entry["api_key"] == "[redacted]"
        assert "sup3r" not in entry["target"] and "db:5432/mimir" in entry["target"]


class TestBodyLimit:
    async def test_declared_oversize_body_is_413(self, db_conninfo):
        """A body whose Content-Length exceeds MIMIR_MAX_BODY_BYTES is refused with a 413."""
        import httpx

        from mimir.app import create_app
        from mimir.config import Settings
        from mimir.db.lifecycle import PreparedDatabase

        settings = Settings(_env_file=None, MIMIR_MAX_BODY_BYTES=2048)
        app = create_app(settings, PreparedDatabase(conninfo=db_conninfo), close_database=False)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=transport, base_url="http://t") as http:
            big = await http.post("/api/v1/artifacts", json={"kind": "note", "content": "x" * 5000})
            small = await http.post("/api/v1/artifacts", json={"kind": "note", "content": "x" * 50})

            async def chunks():
                for _ in range(10):
                    yield b" " * 500

            streamed = await http.post("/api/v1/artifacts", content=chunks(),
                                       headers={"content-type": "application/json"})
        _assert_error_shape(big, 413, "payload_too_large")
        assert small.status_code == 201
        _assert_error_shape(streamed, 413, "payload_too_large")
