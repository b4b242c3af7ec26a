"""SQLAlchemy Core description of the schema, used only by Alembic's autogenerate
comparison (a test fails when it and the migrations disagree). Queries are raw SQL in
`sql/`; nothing here runs at request time. Trigger-enforced rules live in the migration.
"""

from __future__ import annotations

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    Double,
    Enum,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TIMESTAMP, TSVECTOR, UUID

from mimir.entities import EntityType

NAMING_CONVENTION = {
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

ENTITY_TYPES = tuple(entity.value for entity in EntityType)
artifact_kind = Enum("conversation", "document", "note", name="artifact_kind")
entity_type = Enum(*ENTITY_TYPES, name="entity_type")
intent_status = Enum("proposed", "accepted", "rejected", name="intent_status")
intent_group_status = Enum("active", "deprecated", "merged", name="intent_group_status")
decision_status = Enum("tentative", "active", "superseded", name="decision_status")
embedding_distance = Enum("cosine", "l2", "inner_product", name="embedding_distance")


def _id() -> Column:
    return Column("id", UUID(as_uuid=True), nullable=False, server_default=text("gen_random_uuid()"))


def _metadata(name: str = "metadata") -> Column:
    return Column(name, JSONB, nullable=False, server_default=text("'{}'::jsonb"))


def _timestamp(name: str) -> Column:
    return Column(name, TIMESTAMP(timezone=True), nullable=False, server_default=text("now()"))


def _is_object(name: str = "metadata") -> CheckConstraint:
    return CheckConstraint(f"jsonb_typeof({name}) = 'object'", name=f"{name}_is_object")


artifacts = Table(
    "artifacts", metadata,
    _id(),
    Column("artifact_type", artifact_kind, nullable=False),
    Column("title", Text),
    Column("source", Text, nullable=False, server_default=text("'api'")),
    Column("external_id", Text),
    _metadata(),
    _timestamp("created_at"),
    PrimaryKeyConstraint("id"),
    CheckConstraint("source ~ '\\S'", name="source_not_blank"),
    CheckConstraint("external_id ~ '\\S'", name="external_id_not_blank"),
    _is_object(),
    Index(None, "created_at", "id"),
    Index(None, "metadata", postgresql_using="gin", postgresql_ops={"metadata": "jsonb_path_ops"}),
    Index(None, "source", "created_at", "id"),
)

artifact_versions = Table(
    "artifact_versions", metadata,
    _id(),
    Column("artifact_id", UUID(as_uuid=True), nullable=False),
    Column("version_number", Integer, nullable=False),
    Column("content", Text, nullable=False),
    Column("content_hash", Text, nullable=False),
    Column("content_length", Integer, Computed("char_length(content)", persisted=True)),
    Column("search_vector", TSVECTOR,
           Computed("to_tsvector('english'::regconfig, content)", persisted=True)),
    _metadata(),
    _timestamp("created_at"),
    Column("created_by", Text),
    # A tombstone (migration 0011): the erasure that emptied the version, and its length
    # before, so that spans keep meaningful offsets.
    Column("erasure_id", UUID(as_uuid=True)),  # -> erasures (id, namespace), below
    Column("erased_content_length", Integer),
    PrimaryKeyConstraint("id"),
    CheckConstraint("version_number >= 1", name="version_number_positive"),
    CheckConstraint("content_hash = encode(sha256(convert_to(content, 'UTF8')), 'hex')",
                    name="content_hash_is_sha256"),
    _is_object(),
    CheckConstraint("(erasure_id IS NULL) = (erased_content_length IS NULL) "
                    "AND (erasure_id IS NULL OR content = '')", name="tombstone"),
    Index(None, "search_vector", postgresql_using="gin"),
    Index(None, "erasure_id"),
)

spans = Table(
    "spans", metadata,
    _id(),
    Column("artifact_version_id", UUID(as_uuid=True), nullable=False),
    Column("start_offset", Integer, nullable=False),
    Column("end_offset", Integer, nullable=False),
    Column("span_type", Text, nullable=False, server_default=text("'generic'")),
    Column("label", Text),
    _metadata(),
    _timestamp("created_at"),
    PrimaryKeyConstraint("id"),
    CheckConstraint("start_offset >= 0 AND start_offset < end_offset", name="offsets_ordered"),
    CheckConstraint("span_type ~ '^[a-z][a-z0-9_]{0,63}$'", name="span_type_format"),
    _is_object(),
    Index(None, "artifact_version_id", "start_offset"),
)

intent_groups = Table(
    "intent_groups", metadata,
    _id(),
    Column("name", Text, nullable=False),
    Column("description", Text),
    Column("status", intent_group_status, nullable=False, server_default=text("'active'")),
    Column("merged_into_id", UUID(as_uuid=True)),
    _metadata(),
    _timestamp("created_at"),
    _timestamp("updated_at"),
    PrimaryKeyConstraint("id"),
    CheckConstraint("merged_into_id <> id", name="no_self_merge"),
    CheckConstraint("(status = 'merged') = (merged_into_id IS NOT NULL)", name="merged_has_target"),
    CheckConstraint("name ~ '\\S'", name="name_not_blank"),
    _is_object(),
    Index(None, "merged_into_id"),
    Index(None, "created_at", "id"),
)

intents = Table(
    "intents", metadata,
    _id(),
    Column("statement", Text, nullable=False),
    Column("status", intent_status, nullable=False, server_default=text("'proposed'")),
    Column("intent_group_id", UUID(as_uuid=True)),
    Column("confidence", Double),
    _metadata(),
    _timestamp("created_at"),
    _timestamp("updated_at"),
    Column("proposed_by", Text),
    PrimaryKeyConstraint("id"),
    CheckConstraint("confidence >= 0 AND confidence <= 1", name="confidence_range"),
    CheckConstraint("statement ~ '\\S'", name="statement_not_blank"),
    _is_object(),
    Index(None, "intent_group_id"),
    Index(None, "created_at", "id"),
    Index(None, "metadata", postgresql_using="gin", postgresql_ops={"metadata": "jsonb_path_ops"}),
)

decisions = Table(
    "decisions", metadata,
    _id(),
    Column("statement", Text, nullable=False),
    Column("rationale", Text),
    Column("status", decision_status, nullable=False, server_default=text("'active'")),
    Column("superseded_by_id", UUID(as_uuid=True)),
    _metadata(),
    _timestamp("created_at"),
    _timestamp("updated_at"),
    PrimaryKeyConstraint("id"),
    CheckConstraint("superseded_by_id <> id", name="not_self_superseded"),
    CheckConstraint("(status = 'superseded') = (superseded_by_id IS NOT NULL)",
                    name="superseded_has_successor"),
    CheckConstraint("statement ~ '\\S'", name="statement_not_blank"),
    _is_object(),
    Index(None, "created_at", "id"),
    Index(None, "metadata", postgresql_using="gin", postgresql_ops={"metadata": "jsonb_path_ops"}),
)

relations = Table(
    "relations", metadata,
    _id(),
    Column("source_type", entity_type, nullable=False),
    Column("source_id", UUID(as_uuid=True), nullable=False),
    Column("relation_type", Text, nullable=False),
    Column("target_type", entity_type, nullable=False),
    Column("target_id", UUID(as_uuid=True), nullable=False),
    _metadata(),
    _timestamp("created_at"),
    PrimaryKeyConstraint("id"),
    CheckConstraint("relation_type ~ '^[a-z][a-z0-9_]{0,63}$'", name="relation_type_format"),
    CheckConstraint("NOT (source_type = target_type AND source_id = target_id)", name="not_self_loop"),
    _is_object(),
    Index("ix_relations_target", "target_type", "target_id", "relation_type"),
    Index(None, "created_at", "id"),
)

provenance = Table(
    "provenance", metadata,
    _id(),
    Column("target_type", entity_type, nullable=False),
    Column("target_id", UUID(as_uuid=True), nullable=False),
    Column("model_id", Text),
    Column("prompt_version", Text),
    Column("pipeline_version", Text),
    _metadata(),
    _timestamp("created_at"),
    PrimaryKeyConstraint("id"),
    _is_object(),
    Index("ix_provenance_target", "target_type", "target_id", "created_at"),
)

provenance_evidence = Table(
    "provenance_evidence", metadata,
    Column("provenance_id", UUID(as_uuid=True), nullable=False),
    Column("span_id", UUID(as_uuid=True), nullable=False),
    Column("position", Integer, nullable=False, server_default=text("0")),
    # Set when the cited span's content was erased (migration 0011).
    Column("erasure_id", UUID(as_uuid=True)),  # -> erasures (id, namespace), below
    Index(None, "span_id"),
)

embedding_spaces = Table(
    "embedding_spaces", metadata,
    _id(),
    Column("name", Text, nullable=False),
    Column("model", Text, nullable=False),
    Column("dimensions", Integer, nullable=False),
    Column("distance", embedding_distance, nullable=False, server_default=text("'cosine'")),
    _metadata(),
    _timestamp("created_at"),
    PrimaryKeyConstraint("id"),
    UniqueConstraint("name"),
    CheckConstraint("dimensions BETWEEN 1 AND 16000", name="dimensions_range"),
    CheckConstraint("name ~ '^[a-z][a-z0-9_-]{0,62}$'", name="name_format"),
    _is_object(),
)

embeddings = Table(
    "embeddings", metadata,
    _id(),
    Column("space_id", UUID(as_uuid=True), ForeignKey("embedding_spaces.id", ondelete="RESTRICT"), nullable=False),
    Column("target_type", entity_type, nullable=False),
    Column("target_id", UUID(as_uuid=True), nullable=False),
    Column("embedding", Vector(), nullable=False),
    _timestamp("created_at"),
    _metadata(),
    PrimaryKeyConstraint("id"),
    _is_object(),
    Index("ix_embeddings_target", "target_type", "target_id"),
)


# Full-text postings of the latest version of each artifact, and collection statistics for
# BM25, maintained by the trigger of migration 0007 (search/text.py reads them).
search_postings = Table(
    "search_postings", metadata,
    Column("lexeme", Text, nullable=False),
    Column("version_id", UUID(as_uuid=True), nullable=False),
    Column("tf", Integer, nullable=False),
    Column("dl", Integer, nullable=False),
    Index(None, "version_id"),
)

search_stats = Table(
    "search_stats", metadata,
    Column("shard", SmallInteger, nullable=False),
    Column("docs", BigInteger, nullable=False, server_default=text("0")),
    Column("total_len", BigInteger, nullable=False, server_default=text("0")),
    CheckConstraint("shard BETWEEN 0 AND 15", name="shard"),
)


# The job queue's tables (procrastinate_*) are procrastinate's, applied by migration 0002 and
# left out of the autogenerate comparison; this one is Mímir's: the error of each failed
# attempt. No foreign key to procrastinate_jobs (the prune task removes orphans).
job_errors = Table(
    "job_errors", metadata,
    _id(),
    Column("job_id", BigInteger, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("error_type", Text, nullable=False),
    Column("message", Text, nullable=False),
    _timestamp("created_at"),
    PrimaryKeyConstraint("id"),
    Index(None, "job_id", "attempt"),
    Index(None, "created_at", "id"),
)


# Imports uploaded over HTTP (`POST /api/v1/imports`), each run by the job `imports.run`.
imports = Table(
    "imports", metadata,
    _id(),
    Column("kind", Text, nullable=False),
    Column("status", Text, nullable=False, server_default=text("'queued'")),
    Column("filename", Text, nullable=False),
    Column("file_path", Text, nullable=False),
    Column("progress", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("summary", JSONB),
    Column("error", Text),
    _timestamp("created_at"),
    Column("started_at", TIMESTAMP(timezone=True)),
    Column("finished_at", TIMESTAMP(timezone=True)),
    PrimaryKeyConstraint("id"),
    CheckConstraint("kind IN ('chatgpt', 'mimir')", name="kind"),
    CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')", name="status"),
    Index(None, "created_at", "id"),
)

api_keys = Table(
    "api_keys", metadata,
    _id(),
    Column("name", Text, nullable=False),
    Column("scope", Text, nullable=False),
    Column("key_hash", Text, nullable=False),
    Column("key_prefix", Text, nullable=False),
    _timestamp("created_at"),
    Column("revoked_at", TIMESTAMP(timezone=True)),
    PrimaryKeyConstraint("id"),
    UniqueConstraint("key_hash"),
    CheckConstraint("scope IN ('read', 'write', 'admin')", name="scope"),
    CheckConstraint("name ~ '\\S'", name="name_not_blank"),
    # The namespaces a key may use (migration 0012): NULL for admin keys (all).
    Column("namespaces", ARRAY(Text)),
    CheckConstraint("(scope = 'admin') = (namespaces IS NULL) AND cardinality(namespaces) > 0",
                    name="namespaces"),
)


# The rate limit shared by every API process (migration 0013): a token bucket per caller,
# UNLOGGED (lost on a crash, every caller then starts full; not replicated).
rate_limit_buckets = Table(
    "rate_limit_buckets", metadata,
    Column("caller", Text, nullable=False),
    Column("tokens", Double, nullable=False),
    Column("counted_at", TIMESTAMP(timezone=True), nullable=False),
    Column("granted", Boolean, nullable=False),
    PrimaryKeyConstraint("caller"),
    prefixes=["UNLOGGED"],
)

# Erasure (migration 0011): one row per erasure request; a tombstoned version points at it.
erasure_scope = Enum("artifact", "version", "source", "namespace", name="erasure_scope")

erasures = Table(
    "erasures", metadata,
    _id(),
    Column("scope", erasure_scope, nullable=False),
    Column("target", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("erased_by", Text, nullable=False),
    Column("counts", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("derived", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    _timestamp("erased_at"),
    PrimaryKeyConstraint("id"),
    CheckConstraint("reason ~ '\\S'", name="reason_not_blank"),
    CheckConstraint("erased_by ~ '\\S'", name="erased_by_not_blank"),
    _is_object("counts"),
    _is_object("derived"),
    Index(None, "erased_at", "id"),
)

# Admin actions: erasures now, key and namespace changes later.
audit_log = Table(
    "audit_log", metadata,
    _id(),
    Column("action", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("subject", Text),
    _metadata("details"),
    Column("namespace", Text),
    _timestamp("created_at"),
    PrimaryKeyConstraint("id"),
    CheckConstraint("action ~ '^[a-z][a-z0-9_.]{0,63}$'", name="action_format"),
    _is_object("details"),
    Index(None, "created_at", "id"),
)


# Namespaces (migration 0012). Every table of memory content has a `namespace` column that
# defaults to the session's `mimir.namespace` and that row-level security filters on (the
# policies live in the migration; autogenerate does not compare them). Parents and children
# share a namespace through composite foreign keys.
namespaces = Table(
    "namespaces", metadata,
    Column("name", Text, nullable=False),
    Column("description", Text),
    Column("created_by", Text),
    _timestamp("created_at"),
    PrimaryKeyConstraint("name"),
    CheckConstraint("name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'", name="name_format"),
)

NAMESPACED = (artifacts, artifact_versions, spans, intent_groups, intents, decisions, relations,
              provenance, provenance_evidence, embeddings, search_postings, search_stats, imports,
              erasures)
# (child, column, parent, ON DELETE) of every same-namespace link.
NAMESPACE_LINKS = (
    (artifact_versions, "artifact_id", artifacts, "RESTRICT"),
    (spans, "artifact_version_id", artifact_versions, "RESTRICT"),
    (intents, "intent_group_id", intent_groups, "RESTRICT"),  # SET NULL before 0014
    (intent_groups, "merged_into_id", intent_groups, "RESTRICT"),
    (decisions, "superseded_by_id", decisions, "RESTRICT"),
    (provenance_evidence, "provenance_id", provenance, "CASCADE"),
    (provenance_evidence, "span_id", spans, "RESTRICT"),
    (search_postings, "version_id", artifact_versions, "CASCADE"),
)

for _table in NAMESPACED:
    _table.append_column(Column(
        "namespace", Text, ForeignKey("namespaces.name", ondelete="RESTRICT"), nullable=False,
        server_default=text(
            "COALESCE(NULLIF(current_setting('mimir.namespace'::text, true), ''::text), "
            "'default'::text)")))
for _table in {parent for _, _, parent, _ in NAMESPACE_LINKS}:
    _table.append_constraint(UniqueConstraint("id", "namespace"))
for _child, _column, _parent, _action in NAMESPACE_LINKS:
    _child.append_constraint(ForeignKeyConstraint(
        [_column, "namespace"], [f"{_parent.name}.id", f"{_parent.name}.namespace"],
        name=f"fk_{_child.name}_{_column}_{_parent.name}", ondelete=_action))
search_postings.append_constraint(
    PrimaryKeyConstraint("namespace", "lexeme", "version_id", postgresql_include=["tf", "dl"]))
search_stats.append_constraint(PrimaryKeyConstraint("namespace", "shard"))
artifacts.append_constraint(Index("uq_artifacts_namespace_source_external_id", "namespace", "source",
                                  "external_id", unique=True,
                                  postgresql_where=text("external_id IS NOT NULL")))
intent_groups.append_constraint(UniqueConstraint("namespace", "name"))

# Migration 0014: every primary key and unique constraint contains `namespace` (a distributed
# table's distribution column on Citus), and the keys to erasures are composite.
for _table in (artifacts, artifact_versions, spans, intent_groups, intents, decisions, relations,
               provenance, embeddings, imports, erasures):
    _table.c.id.primary_key = False  # replaced by the composite key
    _table.append_constraint(PrimaryKeyConstraint("id", "namespace", name=f"pk_{_table.name}"))
provenance_evidence.append_constraint(
    PrimaryKeyConstraint("provenance_id", "span_id", "namespace", name="pk_provenance_evidence"))
artifact_versions.append_constraint(UniqueConstraint(
    "artifact_id", "version_number", "namespace",
    name="uq_artifact_versions_artifact_id_version_number"))
decisions.append_constraint(UniqueConstraint("superseded_by_id", "namespace",
                                             name="uq_decisions_superseded_by_id"))
relations.append_constraint(UniqueConstraint(
    "source_type", "source_id", "relation_type", "target_type", "target_id", "namespace",
    name="uq_relations_edge"))
embeddings.append_constraint(UniqueConstraint(
    "space_id", "target_type", "target_id", "namespace",
    name="uq_embeddings_space_id_target_type_target_id"))
for _table in (artifact_versions, provenance_evidence):
    _table.append_constraint(ForeignKeyConstraint(
        ["erasure_id", "namespace"], ["erasures.id", "erasures.namespace"],
        name=f"fk_{_table.name}_erasure_id_erasures", ondelete="RESTRICT"))
