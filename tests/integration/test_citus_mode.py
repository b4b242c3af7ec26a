"""The pool's Citus mode and Citus connections of their own, on plain PostgreSQL: SET LOCAL
behaves the same there, so what the workers would see is checked on one server."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row

from mimir.db import citus
from mimir.db.pool import make_pool
from mimir.db.session import connect_app
from mimir.namespaces import context as namespace_context

SETTING = "SELECT current_setting('mimir.namespace', true) AS ns"


async def _setting(conn) -> str | None:
    return (await (await conn.execute(SETTING)).fetchone())["ns"]


async def test_plain_mode_keeps_autocommit_and_the_session_setting(db_conninfo, settings):
    pool = make_pool(db_conninfo, settings.model_copy(update={"db_citus": "off"}))
    await pool.open(wait=True)
    try:
        with namespace_context.use("default"):
            async with pool.connection() as conn:
                assert conn.info.transaction_status == TransactionStatus.IDLE
                assert await _setting(conn) == "default"
        assert pool.citus is False
    finally:
        await pool.close()


async def test_citus_mode_runs_each_checkout_in_one_transaction_in_its_namespace(
        db_conninfo, settings):
    pool = make_pool(db_conninfo, settings.model_copy(update={"db_citus": "on"}))
    await pool.open(wait=True)
    try:
        with namespace_context.use("default"):
            async with pool.connection() as conn:
                assert conn.info.transaction_status == TransactionStatus.INTRANS
                assert await _setting(conn) == "default"
                # A service's own transaction is a savepoint inside it.
                async with conn.transaction():
                    assert await _setting(conn) == "default"
                count = (await (await conn.execute(
                    "SELECT count(*) AS n FROM artifacts")).fetchone())["n"]
                assert count == 0
            async with pool.connection() as conn:
                # SET LOCAL ended with the checkout's transaction: nothing leaks into the next.
                await conn.execute("COMMIT")
                assert await _setting(conn) in (None, "")
    finally:
        await pool.close()


async def test_auto_mode_finds_no_citus_on_plain_postgresql(db_conninfo, settings):
    pool = make_pool(db_conninfo, settings.model_copy(update={"db_citus": "auto"}))
    await pool.open(wait=True)
    try:
        assert pool.citus is None
        with namespace_context.use("default"):
            async with pool.connection() as conn:
                assert conn.info.transaction_status == TransactionStatus.IDLE
        assert pool.citus is False
    finally:
        await pool.close()


async def test_a_citus_connection_puts_every_statement_and_transaction_in_its_namespace(
        db_conninfo):
    conn = await citus.CitusConnection.connect(db_conninfo, autocommit=True, row_factory=dict_row,
                                               cursor_factory=citus.CitusCursor)
    try:
        setattr(conn, citus.CONNECTION_MARK, "default")
        # Outside a transaction: a transaction of its own, committed, rows still readable.
        assert await _setting(conn) == "default"
        assert conn.info.transaction_status == TransactionStatus.IDLE
        async with conn.transaction():
            assert await _setting(conn) == "default"
        setattr(conn, citus.CONNECTION_MARK, "")
        assert await _setting(conn) == ""
    finally:
        await conn.close()


async def test_connect_app_remembers_that_plain_postgresql_is_not_citus(db_conninfo):
    async with await connect_app(db_conninfo, "default") as conn:
        assert type(conn) is psycopg.AsyncConnection
        assert await _setting(conn) == "default"
    assert citus.known(db_conninfo) is False


@pytest.fixture(autouse=True)
def _forget_citus_lookups():
    yield
    citus._KNOWN.clear()


async def test_set_local_sets_each_setting_for_the_transaction_only(db_conninfo):
    async with await psycopg.AsyncConnection.connect(db_conninfo, autocommit=True,
                                                     row_factory=dict_row) as conn:
        async with conn.transaction():
            await citus.set_local(conn, {"hnsw.ef_search": 123,
                                         "hnsw.iterative_scan": "relaxed_order"})
            row = await (await conn.execute(
                "SELECT current_setting('hnsw.ef_search') AS ef, "
                "current_setting('hnsw.iterative_scan') AS scan")).fetchone()
            assert row == {"ef": "123", "scan": "relaxed_order"}
        row = await (await conn.execute(
            "SELECT current_setting('hnsw.ef_search', true) AS ef")).fetchone()
        assert row["ef"] != "123"
