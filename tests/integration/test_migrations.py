"""The migrations build exactly the schema that mimir.db.tables declares, and run both ways."""

from __future__ import annotations

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, pool

from mimir.db import migrate
from mimir.db.connection import sqlalchemy_creator
from mimir.db.tables import metadata

JOB_QUEUE_PREFIX = "procrastinate_"  # as in migrations/env.py


def _include_name(name, type_, parent_names) -> bool:
    """The filter of migrations/env.py: procrastinate's tables are not in tables.py."""
    return not (type_ == "table" and name is not None and name.startswith(JOB_QUEUE_PREFIX))


DOMAIN_TABLES = {
    "artifacts", "artifact_versions", "spans", "intents", "intent_groups", "decisions",
    "relations", "provenance", "provenance_evidence", "embedding_spaces", "embeddings",
}


def _tables(conninfo: str) -> set[str]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {r[0] for r in rows}


def _schema_diff(conninfo: str) -> list:
    engine = create_engine("postgresql+psycopg://", creator=sqlalchemy_creator(conninfo),
                           poolclass=pool.NullPool)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                          "compare_server_default": True,
                                                          "include_name": _include_name})
        diff = compare_metadata(context, metadata)
    engine.dispose()
    return diff


class TestMigrations:
    def test_schema_matches_declared_metadata(self, db_conninfo):
        """Alembic's autogenerate finds no difference between the database and tables.py."""
        assert _schema_diff(db_conninfo) == []

    def test_comparison_detects_a_difference(self, db_conninfo):
        """The comparison is not blind: an extra index in the database shows up."""
        with psycopg.connect(db_conninfo, autocommit=True) as conn:
            conn.execute("CREATE INDEX ix_extra ON intents (status)")
        diff = _schema_diff(db_conninfo)
        assert any(d[0] == "remove_index" and d[1].name == "ix_extra" for d in diff)

    def test_upgrade_from_empty_and_downgrade_to_base(self, empty_db_conninfo):
        """Upgrade builds every domain table; downgrade removes them all; upgrade again works."""
        assert migrate.current_revision(empty_db_conninfo) is None
        migrate.upgrade(empty_db_conninfo)
        assert migrate.current_revision(empty_db_conninfo) == migrate.head_revision()
        assert DOMAIN_TABLES <= _tables(empty_db_conninfo)

        migrate.downgrade(empty_db_conninfo, "base")
        assert _tables(empty_db_conninfo) & DOMAIN_TABLES == set()
        with psycopg.connect(empty_db_conninfo) as conn:
            types = conn.execute(
                "SELECT typname FROM pg_type WHERE typname IN ('entity_type', 'artifact_kind')"
            ).fetchall()
        assert types == []

        migrate.upgrade(empty_db_conninfo)
        assert DOMAIN_TABLES <= _tables(empty_db_conninfo)

    def test_vector_extension_installed(self, db_conninfo):
        """pgvector is created by the first migration."""
        with psycopg.connect(db_conninfo) as conn:
            row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        assert row is not None


class TestPlanFieldsMigration:
    def test_duplicate_group_names_are_suffixed_and_data_kept(self, empty_db_conninfo):
        """0008 keeps every row: the oldest group of a repeated name keeps it, later ones
        (a merged one too) become `<name> (<id>)`; the new columns start empty; downgrade
        drops them and upgrade runs again."""
        migrate.upgrade(empty_db_conninfo, "0007")
        with psycopg.connect(empty_db_conninfo, autocommit=True) as conn:
            first, second, third = (conn.execute(
                "INSERT INTO intent_groups (name, created_at) VALUES ('dup', now() + %s) "
                "RETURNING id", (f"{i} seconds",)).fetchone()[0] for i in range(3))
            conn.execute("UPDATE intent_groups SET status = 'merged', merged_into_id = %s "
                         "WHERE id = %s", (first, third))
            artifact = conn.execute("INSERT INTO artifacts (kind) VALUES ('note') "
                                    "RETURNING id").fetchone()[0]
            conn.execute("INSERT INTO artifact_versions (artifact_id, version_number, content, "
                         "content_hash) VALUES (%s, 1, 'x', encode(sha256('x'), 'hex'))",
                         (artifact,))
        migrate.upgrade(empty_db_conninfo)
        with psycopg.connect(empty_db_conninfo) as conn:
            names = dict(conn.execute("SELECT id, name FROM intent_groups").fetchall())
            created_by = conn.execute("SELECT created_by FROM artifact_versions").fetchone()[0]
            status = conn.execute("SELECT status FROM intent_groups WHERE id = %s",
                                  (third,)).fetchone()[0]
        assert names == {first: "dup", second: f"dup ({second})", third: f"dup ({third})"}
        assert status == "merged"
        assert created_by is None
        migrate.downgrade(empty_db_conninfo, "0007")
        with psycopg.connect(empty_db_conninfo) as conn:
            columns = {r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name IN ('artifact_versions', 'intents', 'embeddings')")}
        assert not {"created_by", "proposed_by"} & columns
        migrate.upgrade(empty_db_conninfo)
        assert migrate.current_revision(empty_db_conninfo) == migrate.head_revision()


class TestPlanColumnNamesMigration:
    RENAMED = {("artifacts", "artifact_type"), ("spans", "artifact_version_id"),
               ("intents", "intent_group_id"), ("provenance", "model_id"),
               ("provenance", "metadata")}
    OLD = {("artifacts", "kind"), ("spans", "version_id"), ("intents", "group_id"),
           ("provenance", "model"), ("provenance", "parameters")}

    @staticmethod
    def _columns(conn) -> set[tuple[str, str]]:
        return set(conn.execute(
            "SELECT table_name::text, column_name::text FROM information_schema.columns "
            "WHERE table_name IN ('artifacts', 'spans', 'intents', 'provenance')").fetchall())

    @staticmethod
    def _span_past_the_end_is_refused(conn, version_column: str, version_id) -> None:
        with pytest.raises(psycopg.errors.CheckViolation, match="outside its version"):
            with conn.transaction():
                conn.execute(f"INSERT INTO spans ({version_column}, start_offset, end_offset) "
                             "VALUES (%s, 0, 99)", (version_id,))

    def test_renames_keep_data_and_the_span_trigger(self, empty_db_conninfo):
        """0009 renames the columns with their data; the span trigger (a PL/pgSQL body that
        names the version column) works after upgrade and after downgrade; constraint and
        index names follow; downgrade restores the old names with the data."""
        migrate.upgrade(empty_db_conninfo, "0008")
        with psycopg.connect(empty_db_conninfo, autocommit=True) as conn:
            artifact = conn.execute("INSERT INTO artifacts (kind) VALUES ('document') "
                                    "RETURNING id").fetchone()[0]
            version = conn.execute(
                "INSERT INTO artifact_versions (artifact_id, version_number, content, "
                "content_hash) VALUES (%s, 1, 'hello', encode(sha256('hello'), 'hex')) "
                "RETURNING id", (artifact,)).fetchone()[0]
            span = conn.execute("INSERT INTO spans (version_id, start_offset, end_offset) "
                                "VALUES (%s, 0, 5) RETURNING id", (version,)).fetchone()[0]
            group = conn.execute("INSERT INTO intent_groups (name) VALUES ('g') "
                                 "RETURNING id").fetchone()[0]
            intent = conn.execute("INSERT INTO intents (statement, group_id) VALUES ('x', %s) "
                                  "RETURNING id", (group,)).fetchone()[0]
            conn.execute("INSERT INTO provenance (target_type, target_id, model, parameters) "
                         "VALUES ('intent', %s, 'gpt-4-turbo', '{\"t\": 1}')", (intent,))
        migrate.upgrade(empty_db_conninfo)
        with psycopg.connect(empty_db_conninfo, autocommit=True) as conn:
            columns = self._columns(conn)
            assert self.RENAMED <= columns and not self.OLD & columns
            stored = conn.execute(
                "SELECT a.artifact_type::text, s.artifact_version_id, i.intent_group_id, "
                "p.model_id, p.metadata FROM artifacts a, spans s, intents i, provenance p"
            ).fetchone()
            assert stored == ("document", version, group, "gpt-4-turbo", {"t": 1})
            self._span_past_the_end_is_refused(conn, "artifact_version_id", version)
            names = {r[0] for r in conn.execute(
                "SELECT conname::text FROM pg_constraint UNION SELECT indexname::text "
                "FROM pg_indexes WHERE schemaname = 'public'")}
            assert {"fk_spans_artifact_version_id_artifact_versions",
                    "ix_spans_artifact_version_id_start_offset",
                    "fk_intents_intent_group_id_intent_groups", "ix_intents_intent_group_id",
                    "ck_provenance_metadata_is_object"} <= names
            assert not {n for n in names if "_version_id_" in n and "artifact_version" not in n
                        and n.startswith(("fk_spans", "ix_spans"))}
        migrate.downgrade(empty_db_conninfo, "0008")
        with psycopg.connect(empty_db_conninfo, autocommit=True) as conn:
            columns = self._columns(conn)
            assert self.OLD <= columns and not self.RENAMED - {("provenance", "metadata")} & columns
            assert ("provenance", "metadata") not in columns
            stored = conn.execute(
                "SELECT a.kind::text, s.version_id, i.group_id, p.model, p.parameters "
                "FROM artifacts a, spans s, intents i, provenance p WHERE s.id = %s",
                (span,)).fetchone()
            assert stored == ("document", version, group, "gpt-4-turbo", {"t": 1})
            self._span_past_the_end_is_refused(conn, "version_id", version)
        migrate.upgrade(empty_db_conninfo)
        assert migrate.current_revision(empty_db_conninfo) == migrate.head_revision()
