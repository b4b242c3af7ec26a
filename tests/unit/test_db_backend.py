"""The integration tests' database backend: testcontainers when a Docker engine answers, the
embedded server otherwise (detection mocked: no engine is needed or used here)."""

from __future__ import annotations

import pytest

from tests.db_backend import DOCKER, EMBEDDED, EXTERNAL, choose_backend, docker_engine_problem


def _engine(problem: str | None):
    calls = []

    def detect() -> str | None:
        calls.append(1)
        return problem

    return detect, calls


def test_reachable_engine_selects_testcontainers():
    detect, calls = _engine(None)
    backend = choose_backend({}, detect)
    assert backend.kind == DOCKER and calls == [1]
    assert "testcontainers" in backend.header() and "docker/postgres/Dockerfile" in backend.header()


def test_unreachable_engine_falls_back_to_embedded_with_the_reason():
    detect, _ = _engine("no DOCKER_HOST and no /var/run/docker.sock")
    backend = choose_backend({}, detect)
    assert backend.kind == EMBEDDED
    assert "embedded" in backend.header() and "/var/run/docker.sock" in backend.header()


def test_external_url_wins_without_asking_docker():
    detect, calls = _engine(None)
    backend = choose_backend({"MIMIR_TEST_DATABASE_URL": "postgresql://x@h/db"}, detect)
    assert backend.kind == EXTERNAL and calls == []


def test_forced_embedded_skips_detection():
    detect, calls = _engine(None)
    assert choose_backend({"MIMIR_TEST_BACKEND": "embedded"}, detect).kind == EMBEDDED
    assert calls == []


def test_forced_docker_without_engine_fails_loudly():
    detect, _ = _engine("the Docker engine does not answer (ConnectionError)")
    with pytest.raises(RuntimeError, match="MIMIR_TEST_BACKEND=docker"):
        choose_backend({"MIMIR_TEST_BACKEND": "docker"}, detect)


def test_unknown_forced_backend_is_refused():
    with pytest.raises(ValueError, match="MIMIR_TEST_BACKEND"):
        choose_backend({"MIMIR_TEST_BACKEND": "sqlite"}, _engine(None)[0])


def test_detection_without_socket_or_host_is_immediate(monkeypatch, tmp_path):
    """No DOCKER_HOST and no socket: not reachable, without importing or calling docker."""
    import tests.db_backend as module

    monkeypatch.delenv("DOCKER_HOST", raising=False)
    real_path = module.Path
    monkeypatch.setattr(module, "Path", lambda p: tmp_path / "absent.sock"
                        if p == "/var/run/docker.sock" else real_path(p))
    assert "no DOCKER_HOST" in (docker_engine_problem() or "")


def test_detection_with_a_dead_host_reports_it(monkeypatch):
    """DOCKER_HOST pointing nowhere: the ping fails and the reason names the failure."""
    pytest.importorskip("docker")
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")
    assert "does not answer" in (docker_engine_problem() or "")


def test_this_session_prints_its_choice(pytestconfig):
    """The header hook names the chosen backend (here, with no engine: the embedded one)."""
    from tests.conftest import pytest_report_header, session_backend

    assert pytest_report_header(pytestconfig) == session_backend().header()
    assert session_backend().header().startswith("mimir test database: ")
