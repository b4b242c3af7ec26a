"""Helpers for fault tests that run `mimir` as real processes against a test's own
database: the environment to give them, and a `mimir serve` that can be killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, urlencode

from psycopg.conninfo import conninfo_to_dict

from tests.process import free_port, terminate, wait_healthy

MIMIR = str(Path(sys.executable).parent / "mimir")


def database_url(conninfo: str) -> str:
    """A postgresql:// URL for a libpq conninfo (DATABASE_URL takes URLs only); a socket
    directory goes into the `host` query parameter."""
    params = conninfo_to_dict(conninfo)
    user = quote(params.pop("user", "postgres"), safe="")
    password = params.pop("password", None)
    host = params.pop("host", "") or ""
    port = params.pop("port", None)
    dbname = quote(params.pop("dbname", ""), safe="")
    params.pop("application_name", None)
    auth = user + (f":{quote(password, safe='')}" if password else "")
    if host.startswith("/"):
        params["host"] = host
        netloc = f"{auth}@"
    else:
        netloc = f"{auth}@{host or 'localhost'}" + (f":{port}" if port else "")
        port = None
    if port:
        params["port"] = port
    query = f"?{urlencode(params)}" if params else ""
    return f"postgresql://{netloc}/{dbname}{query}"


def mimir_env(conninfo: str | None = None, **extra: str) -> dict[str, str]:
    """This process's environment for a `mimir` child, on `conninfo` when given."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "POSTGRES_PASSWORD", "MIMIR_TEST_DATABASE_URL",
                        "MIMIR_REQUIRE_AUTH", "ENVIRONMENT"}}
    if conninfo is not None:
        env["DATABASE_URL"] = database_url(conninfo)
    env.setdefault("LOG_LEVEL", "WARNING")
    env.setdefault("MIMIR_LOG_FORMAT", "json")  # one entry a line, for tests that read the log
    env.update(extra)
    return env


class Server:
    """`mimir serve` as a child process on a free loopback port."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, within_s: float = 60) -> Server:
        log = open(self.log_path, "ab")
        env = {**self.env, "MIMIR_HOST": "127.0.0.1", "MIMIR_PORT": str(self.port)}
        self.proc = subprocess.Popen([MIMIR, "serve"], env=env, stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()
        try:
            wait_healthy(self.base_url, self.proc, within_s, log_path=self.log_path)
        except AssertionError as exc:
            self.stop()
            raise AssertionError(f"{exc}\n{self.log_tail()}") from None
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
