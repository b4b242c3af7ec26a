"""Getting a database ready before serving: embedded or external, reachable, migrated."""

from __future__ import annotations

from dataclasses import dataclass, field

from mimir.config import Settings
from mimir.db import migrate
from mimir.db.connection import resolve_external_conninfo, wait_for_database
from mimir.db.embedded import EmbeddedPostgres
from mimir.logging import get_logger

log = get_logger("mimir.db")


@dataclass
class PreparedDatabase:
    conninfo: str
    embedded: EmbeddedPostgres | None = field(default=None)

    @property
    def is_embedded(self) -> bool:
        return self.embedded is not None

    def close(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()
            self.embedded = None


def prepare_database(
    settings: Settings, *, run_migrations: bool | None = None, keep_running: bool = False
) -> PreparedDatabase:
    """Start the embedded server when no DATABASE_URL is set, wait for the database
    (bounded retry with backoff), and migrate it to head unless told not to.

    Raises `DatabaseUnreachable` with a one-line, credential-free message.
    """
    embedded = None
    if settings.is_embedded:
        embedded = EmbeddedPostgres(settings.data_dir, keep_running=keep_running)
        log.info("starting embedded PostgreSQL", data_dir=str(embedded.pgdata))
        conninfo = embedded.start()
    else:
        conninfo = resolve_external_conninfo(settings)
    prepared = PreparedDatabase(conninfo=conninfo, embedded=embedded)
    try:
        wait_for_database(conninfo, settings.db_connect_timeout_s)
        if settings.auto_migrate if run_migrations is None else run_migrations:
            migrate.upgrade(conninfo)
            log.info("database migrated", revision=migrate.head_revision())
    except BaseException:
        prepared.close()
        raise
    return prepared
