"""Which errors mean that a replica's replay cancelled a read (a recovery conflict).

A hot standby cancels a query whose snapshot, locks or buffer pins stand in the way of
replaying the primary's WAL once `max_standby_streaming_delay` has passed (PostgreSQL 18,
src/backend/tcop/postgres.c and storage/ipc/standby.c):

- `40001` serialization_failure: "canceling statement due to conflict with recovery"
  (snapshot, lock, tablespace, buffer pin, logical slot), or the same code with FATAL,
  "terminating connection ...", when the session cannot be cancelled by an ERROR alone;
- `40P01` deadlock_detected: a buffer pin held by the query deadlocks with replay;
- `57P04` database_dropped: FATAL, the database is being dropped on the primary.

On a standby none of these codes has another cause a read could meet (serializable
transactions are refused there), so on a replica's connection the code is enough. A FATAL
that libpq reads while consuming input reaches psycopg without a code; its text still
names the conflict. Mímir's pool wraps the error of a lost connection (`DatabaseUnavailable`
from it), so the whole chain of causes is looked at.

A terminated session can also reach the client as a bare "server closed the connection
unexpectedly" (no code, no text of the conflict: the server's FATAL message is lost when
the connection is reset), seen under the integration test's lock conflicts. A replica
connection lost in the middle of a read is therefore treated the same way
(`replay_cancelled`): a read is safe to repeat, and a replica that really went away is
also best answered by the primary.
"""

from __future__ import annotations

import psycopg

CONFLICT_SQLSTATES = frozenset({"40001", "40P01", "57P04"})
_CONFLICT_TEXT = "conflict with recovery"


def is_recovery_conflict(exc: BaseException | None) -> bool:
    """`exc`, or an error it was raised from or while handling, is a recovery conflict."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, psycopg.Error):
            if exc.sqlstate in CONFLICT_SQLSTATES:
                return True
            if exc.sqlstate is None and _CONFLICT_TEXT in str(exc):
                return True
        exc = exc.__cause__ or exc.__context__
    return False


def lost_connection(exc: BaseException | None, conn_closed: bool) -> bool:
    """The connection is closed and a database error says so (no code: not a query error)."""
    if not conn_closed:
        return False
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, psycopg.OperationalError) and exc.sqlstate is None:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def replay_cancelled(exc: BaseException, conn_closed: bool) -> str | None:
    """Why a read on a replica connection may have been cancelled by replay: "conflict",
    "connection_lost", or None (another error: not retried)."""
    if is_recovery_conflict(exc):
        return "conflict"
    if lost_connection(exc, conn_closed):
        return "connection_lost"
    return None
