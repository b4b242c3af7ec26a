"""The read model: the one description of what GraphQL reads, from which both read paths
work. Per object type: its table, its stored fields (GraphQL name, column, how the value
renders), its links (target type, join condition, order, one or many, and the dataloader
the Strawberry resolver reads), the fields a compiler handler renders, and the fields only
resolvers serve. Then the root connections, lookups and lists, and the cursor rule.

Who reads it: `graphql/types.py` declares each type's stored fields from it
(`stored_fields`), builds the type from a row (`FromRow`) and follows links through their
loaders (`follow`); `graphql/loaders.py` puts each type's select list into
the statements of `sql/loaders.sql`; `graphql/query.py` pages root connections with the
listing query and filters named here; `graphql/compiler.py` renders stored fields, links,
connections and cursors from it. `tests/unit/test_read_model.py` checks it covers the
schema. A stored field is one entry here (plus its migration); a link is one entry here
and a one-line resolver that gives it its GraphQL type. docs/read-model.md says how.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Any

from mimir.artifacts.service import ARTIFACT_FILTERS, ArtifactKind
from mimir.decisions.service import DECISION_FILTERS, DecisionStatus
from mimir.entities import BY_GRAPHQL_TYPE, EntityType
from mimir.graphql.enums import EmbeddingDistance
from mimir.intents.service import GROUP_FILTERS, INTENT_FILTERS, IntentGroupStatus, IntentStatus
from mimir.query.filters import FilterSet
from mimir.query.pagination import KEYSET
from mimir.relations.service import RELATION_FILTERS


@dataclass(frozen=True)
class Stored:
    """A field read from a row. `column` is the table's column (and the loader row's key);
    `kind` how it renders as JSON (compiler._RENDER) and converts in from_row; `enum` the
    enum of an enum field. `on_version`: the column is the span's version row's (a span's
    artifactId). `derived`: the loader computes it and a compiler handler renders it."""

    name: str
    column: str
    kind: str  # uuid | text | int | float | time | enum | json | uuid_list
    enum: type[Enum] | None = None
    on_version: bool = False
    derived: bool = False
    sql: str = ""  # a derived value's SQL in the loaders: {a} the row, {v} a span's version
    null: bool = False  # the GraphQL field is nullable
    description: str | None = None
    deprecated: str | None = None  # an old name of another field: the deprecation reason

    def select(self) -> str:
        """This field in a loader's select list (the row is `a`, a span's version `v`)."""
        if self.derived:
            return f"{self.sql.replace('{a}', 'a').replace('{v}', 'v')} AS {self.column}"
        return f"{'v' if self.on_version else 'a'}.{self.column}"

    @cached_property
    def attribute(self) -> str:
        """The Strawberry attribute: the GraphQL name in snake case."""
        return "".join(f"_{c.lower()}" if c.isupper() else c for c in self.name)

    def convert(self, value: Any) -> Any:
        if self.enum is not None:
            return self.enum(value)
        if self.kind == "uuid_list":
            return list(value)
        return value


@dataclass(frozen=True)
class Link:
    """A field that is rows of another type. In `where`, {a} is the linked row, {p} the row
    it hangs from, {v} that row's version (for spans) and {e} its entity_type value. `order`
    is the order of the loader's rows for one key (and of the compiled list). `pick`: all
    rows (a list), the one row, the last row in `order`, or (`match`) the row the resolver
    picks from the loader's rows itself. `loader`/`key`: the dataloader and the parent's
    attribute it is keyed by ("entity" for (entity_type, id))."""

    target: str
    where: str
    loader: str
    key: str = "id"
    order: str = ""
    pick: str = "one"  # all | one | last | match

    @property
    def many(self) -> bool:
        return self.pick == "all"


@dataclass(frozen=True)
class ObjectType:
    name: str
    table: str
    stored: tuple[Stored, ...]
    links: dict[str, Link] = field(default_factory=dict)
    handled: tuple[str, ...] = ()  # rendered by the compiler handler of that name
    resolver_only: dict[str, str] = field(default_factory=dict)  # field -> why
    loader: str | None = None  # the by-id loader of a type that is not an entity

    @property
    def entity_type(self) -> EntityType | None:
        entity = BY_GRAPHQL_TYPE.get(self.name)
        return entity.type if entity else None

    @property
    def handlers(self) -> tuple[str, ...]:
        """Fields a compiler handler renders (links with arguments or joins among them)."""
        return self.handled + (LINKED_HANDLED if self.entity_type is not None else ())

    @property
    def by_id_loader(self) -> str | None:
        entity = BY_GRAPHQL_TYPE.get(self.name)
        return entity.loader if entity else self.loader

    @cached_property
    def columns(self) -> dict[str, Stored]:
        """Stored fields by GraphQL name."""
        return {s.name: s for s in self.stored}

    def select_list(self) -> str:
        """The select list of every loader statement of this type (`{columns}` in
        sql/loaders.sql)."""
        return ", ".join(dict.fromkeys(s.select() for s in self.stored))

    def table_columns(self) -> list[str]:
        """The columns of this type's own table that its fields read."""
        return list(dict.fromkeys(s.column for s in self.stored
                                  if not (s.derived or s.on_version)))


def _common(*fields: Stored, updated: bool = False,
            last: tuple[Stored, ...] = ()) -> tuple[Stored, ...]:
    """id, the type's fields, then metadata, createdAt and updatedAt (when it has it),
    then `last`: the schema's field order. Every type has metadata (provenance's since
    migration 0009 named it so)."""
    tail = (Stored("metadata", "metadata", "json"), Stored("createdAt", "created_at", "time"))
    if updated:
        tail += (Stored("updatedAt", "updated_at", "time"),)
    return (Stored("id", "id", "uuid"), *fields, *tail, *last)


def _old_name(name: str, field: Stored) -> Stored:
    """`name`, the old name of `field`: the same column, deprecated in favour of the field
    (the plan's name, issue 13), kept so that existing clients keep working."""
    return Stored(name, field.column, field.kind, field.enum, field.on_version, null=field.null,
                  description=field.description, deprecated=f"use {field.name}")


_ARTIFACT_TYPE = Stored("artifactType", "artifact_type", "enum", ArtifactKind)
_ARTIFACT_VERSION_ID = Stored("artifactVersionId", "artifact_version_id", "uuid")
_INTENT_GROUP_ID = Stored("intentGroupId", "intent_group_id", "uuid", null=True)
_MODEL_ID = Stored("modelId", "model_id", "text", null=True)
_OLDEST_FIRST = "{a}.created_at, {a}.id"

# Links every entity type has (the `Linked` interface).
LINKED: dict[str, Link] = {
    "relations": Link("Relation", "", "relations_of", "entity", _OLDEST_FIRST, "all"),
    "provenance": Link("Provenance", "{a}.target_type = '{e}' AND {a}.target_id = {p}.id",
                       "provenance_of", "entity", _OLDEST_FIRST, "all"),
}
# A span's text: characters [start, end) of its version's content, as Python slices them;
# null once the version is erased ({v}: the span's version row). The compiler substitutes
# its own copy of the content for {content}.
SPAN_TEXT = ("CASE WHEN {v}.erasure_id IS NULL THEN "
             "substr({content}, {a}.start_offset + 1, {a}.end_offset - {a}.start_offset) END")
LINKED_HANDLED = ("relations",)  # filtered by direction and relation types
_VERSIONS = "{a}.artifact_id = {p}.artifact_id AND {a}.version_number = {p}.version_number"

TYPES: dict[str, ObjectType] = {t.name: t for t in (
    ObjectType("Artifact", "artifacts", _common(
        _ARTIFACT_TYPE, _old_name("kind", _ARTIFACT_TYPE),
        Stored("title", "title", "text", null=True),
        Stored("source", "source", "text"), Stored("externalId", "external_id", "text", null=True)),
        links={"versions": Link("ArtifactVersion", "{a}.artifact_id = {p}.id",
                                "versions_of_artifact", "id", "{a}.version_number", "all"),
               "latestVersion": Link("ArtifactVersion", "{a}.artifact_id = {p}.id",
                                     "versions_of_artifact", "id", "{a}.version_number", "last")},
        handled=("versionAt",)),
    ObjectType("ArtifactVersion", "artifact_versions", _common(
        Stored("artifactId", "artifact_id", "uuid"),
        Stored("versionNumber", "version_number", "int"),
        Stored("contentHash", "content_hash", "text",
               description="SHA-256 of the UTF-8 content, hex."),
        Stored("contentLength", "content_length", "int",
               description="Length in Unicode code points."),
        Stored("createdBy", "created_by", "text", null=True,
               description="Who wrote this version: a user or a system."),
        Stored("erasureId", "erasure_id", "uuid", null=True,
               description="Set when the version was erased: the erasure record's id. Its "
                           "content is then empty (a tombstone)."),
        Stored("erasedContentLength", "erased_content_length", "int", null=True,
               description="An erased version's length before erasure (code points): its "
                           "spans' offsets refer to it.")),
        links={"artifact": Link("Artifact", "{a}.id = {p}.artifact_id", "artifact", "artifact_id"),
               "previous": Link("ArtifactVersion", _VERSIONS + " - 1", "versions_of_artifact",
                                "artifact_id", pick="match"),
               "next": Link("ArtifactVersion", _VERSIONS + " + 1", "versions_of_artifact",
                            "artifact_id", pick="match"),
               "spans": Link("Span", "{a}.artifact_version_id = {p}.id", "spans_of_version", "id",
                             "{a}.start_offset, {a}.end_offset, {a}.id", "all")},
        handled=("content", "spans")),
    ObjectType("Span", "spans", _common(
        _ARTIFACT_VERSION_ID, _old_name("versionId", _ARTIFACT_VERSION_ID),
        Stored("artifactId", "artifact_id", "uuid", on_version=True),
        Stored("startOffset", "start_offset", "int",
               description="First character (Unicode code points)."),
        Stored("endOffset", "end_offset", "int", description="End, exclusive (code points)."),
        Stored("spanType", "span_type", "text"), Stored("label", "label", "text", null=True),
        last=(Stored("text", "text", "text", derived=True, null=True,
                     sql=SPAN_TEXT.replace("{content}", "{v}.content"),
                     description="The covered text: content[startOffset:endOffset]; null "
                                 "when the version's content was erased."),)),
        links={"version": Link("ArtifactVersion", "{a}.id = {p}.artifact_version_id", "version",
                               "artifact_version_id"),
               "artifact": Link("Artifact", "{a}.id = {v}.artifact_id", "artifact", "artifact_id"),
               "citedBy": Link("Provenance", "{a}.id IN (SELECT e.provenance_id FROM "
                               "provenance_evidence e WHERE e.span_id = {p}.id "
                               "AND e.namespace = %(namespace)s)",
                               "provenance_citing_span", "id", _OLDEST_FIRST, "all")},
        handled=("text",)),
    ObjectType("Intent", "intents", _common(
        Stored("statement", "statement", "text"),
        Stored("status", "status", "enum", IntentStatus),
        _INTENT_GROUP_ID, _old_name("groupId", _INTENT_GROUP_ID),
        Stored("confidence", "confidence", "float", null=True),
        Stored("proposedBy", "proposed_by", "text", null=True,
               description="Who proposed it: `human` or a model identifier."), updated=True),
        links={"group": Link("IntentGroup", "{a}.id = {p}.intent_group_id", "intent_group",
                             "intent_group_id")}),
    ObjectType("IntentGroup", "intent_groups", _common(
        Stored("name", "name", "text"), Stored("description", "description", "text", null=True),
        Stored("status", "status", "enum", IntentGroupStatus),
        Stored("mergedIntoId", "merged_into_id", "uuid", null=True), updated=True),
        links={"intents": Link("Intent", "{a}.intent_group_id = {p}.id", "intents_of_group", "id",
                               _OLDEST_FIRST, "all"),
               "mergedInto": Link("IntentGroup", "{a}.id = {p}.merged_into_id", "intent_group",
                                  "merged_into_id")}),
    ObjectType("Decision", "decisions", _common(
        Stored("statement", "statement", "text"), Stored("rationale", "rationale", "text", null=True),
        Stored("status", "status", "enum", DecisionStatus),
        Stored("supersededById", "superseded_by_id", "uuid", null=True), updated=True),
        links={"supersededBy": Link("Decision", "{a}.id = {p}.superseded_by_id", "decision",
                                    "superseded_by_id"),
               "supersedes": Link("Decision", "{a}.superseded_by_id = {p}.id",
                                  "decision_superseded_by", "id", "{a}.id")},
        resolver_only={"lineage": "a recursive walk (decisions.service.lineage)"}),
    ObjectType("Relation", "relations", _common(
        Stored("relationType", "relation_type", "text"),
        Stored("sourceType", "source_type", "enum", EntityType),
        Stored("sourceId", "source_id", "uuid"),
        Stored("targetType", "target_type", "enum", EntityType),
        Stored("targetId", "target_id", "uuid")),
        handled=("source", "target")),
    ObjectType("Provenance", "provenance", _common(
        Stored("targetType", "target_type", "enum", EntityType),
        Stored("targetId", "target_id", "uuid"), _MODEL_ID, _old_name("model", _MODEL_ID),
        Stored("promptVersion", "prompt_version", "text", null=True),
        Stored("pipelineVersion", "pipeline_version", "text", null=True),
        _old_name("parameters", Stored("metadata", "metadata", "json")),
        Stored("evidenceSpanIds", "evidence_span_ids", "uuid_list", derived=True,
               sql="coalesce((SELECT array_agg(x.span_id ORDER BY x.position) FROM "
                   "provenance_evidence x WHERE x.provenance_id = {a}.id "
                   "AND x.namespace = %(namespace)s), '{}')")),
        handled=("target", "evidence", "evidenceSpanIds"), loader="provenance"),
    ObjectType("EmbeddingSpace", "embedding_spaces", _common(
        Stored("name", "name", "text"), Stored("model", "model", "text"),
        Stored("dimensions", "dimensions", "int"),
        Stored("distance", "distance", "enum", EmbeddingDistance))),
)}
for _type in TYPES.values():
    if _type.entity_type is not None:
        _type.links.update(LINKED)


@dataclass(frozen=True)
class RootConnection:
    """A Relay connection on the query root: its node type, the named listing query it pages
    (sql/*.sql) and the filters it takes (the REST listing's)."""

    node: str
    listing_query: str
    filters: FilterSet


CONNECTIONS: dict[str, RootConnection] = {
    "artifacts": RootConnection("Artifact", "artifacts_list", ARTIFACT_FILTERS),
    "intents": RootConnection("Intent", "intents_list", INTENT_FILTERS),
    "intentGroups": RootConnection("IntentGroup", "intents_list_groups", GROUP_FILTERS),
    "decisions": RootConnection("Decision", "decisions_list", DECISION_FILTERS),
    "relations": RootConnection("Relation", "relations_list", RELATION_FILTERS),
}
# Root lookups by id: field -> type. Every entity type, and provenance.
BY_ID: dict[str, str] = {
    "artifact": "Artifact", "artifactVersion": "ArtifactVersion", "span": "Span",
    "intent": "Intent", "intentGroup": "IntentGroup", "decision": "Decision",
    "relation": "Relation", "provenance": "Provenance",
}
# Root lists: field -> (type, order). Compiled; the resolver reads the named loader query.
ROOT_LISTS: dict[str, tuple[str, str, str]] = {
    "embeddingSpaces": ("EmbeddingSpace", "{a}.name", "loaders_embedding_spaces"),
}
# Root fields only the Strawberry path serves, and why.
ROOT_RESOLVER_ONLY: dict[str, str] = {
    "search": "ranking runs in Python (BM25, fusion, embeddings)",
    "traverse": "a recursive walk with cycle and work limits (relations.service.traverse)",
    "provenanceChain": "a breadth-first walk over provenance and evidence",
    "context": "search, merging and token counting run in Python (context.service)",
}

# Types only resolver-only root fields reach: type -> the root field.
RESOLVER_ONLY_TYPES: dict[str, str] = {
    "SearchHit": "search", "TextMatch": "search", "Traversal": "traverse",
    "TraversalPath": "traverse", "ProvenanceStep": "provenanceChain",
    "ContextResult": "context", "ContextPiece": "context", "ContextTokenizer": "context",
    "ContextLeftOut": "context",
}
# Fields of the page types (every XConnection, XEdge and PageInfo) that the compiler renders.
PAGE_FIELDS: dict[str, tuple[str, ...]] = {
    "Connection": ("edges", "pageInfo"), "Edge": ("node", "cursor"),
    "PageInfo": ("hasNextPage", "endCursor"),
}



def loader_types() -> dict[str, str]:
    """Dataloader -> the type whose rows it returns: the by-id loaders and the links'."""
    produced = {m.by_id_loader: m.name for m in TYPES.values() if m.by_id_loader}
    for model in TYPES.values():
        for link in model.links.values():
            if produced.setdefault(link.loader, link.target) != link.target:
                raise ValueError(f"loader {link.loader} returns two types")
    return produced


# Keyset pagination: pages are ordered by these columns, and a cursor encodes their values
# (query/pagination.py in Python, compiler._CURSOR in SQL).
CURSOR_COLUMNS = KEYSET
