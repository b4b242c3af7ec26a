"""Per-request dataloaders: each batch of keys is one SQL statement (`= ANY(...)`), and
results come back in key order (None or [] for a key with nothing).

Loaders are created per request by `Loaders(pool)`, never at module level: a DataLoader
caches, and a shared one would leak one request's data into another's.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Hashable, Sequence
from typing import Any

from strawberry.dataloader import DataLoader

from mimir.db.namespaced import bind
from mimir.db.queries import queries
from mimir.graphql.model import TYPES, loader_types

Row = dict[str, Any]
EntityKey = tuple[str, uuid.UUID]


# Loader -> (its named query in sql/loaders.sql, the row key its results are matched to
# the requested keys by, one row or a list per key). tests/unit/test_read_model.py checks
# each query's columns and order against the read model (graphql/model.py).
LOADER_QUERIES: dict[str, tuple[str, str, bool]] = {
    "artifact": ("loaders_artifacts", "id", False),
    "version": ("loaders_versions", "id", False),
    "versions_of_artifact": ("loaders_versions_of_artifacts", "artifact_id", True),
    "version_content": ("loaders_version_contents", "id", False),
    "span": ("loaders_spans", "id", False),
    "spans_of_version": ("loaders_spans_of_versions", "artifact_version_id", True),
    "provenance": ("loaders_provenance", "id", False),
    "provenance_citing_span": ("loaders_provenance_citing_spans", "cited_span_id", True),
    "intent": ("loaders_intents", "id", False),
    "intents_of_group": ("loaders_intents_of_groups", "intent_group_id", True),
    "intent_group": ("loaders_intent_groups", "id", False),
    "decision": ("loaders_decisions", "id", False),
    "decision_superseded_by": ("loaders_decisions_superseded_by", "superseded_by_id", False),
    "relation": ("loaders_relations", "id", False),
}
# Loaders keyed by (entity_type, id) pairs.
ENTITY_LOADER_QUERIES = {"provenance_of": "loaders_provenance_of_targets",
                         "relations_of": "loaders_relations_of_entities"}


def statement(query_name: str, type_name: str | None) -> str:
    """A named query of sql/loaders.sql with the read model's select list of the type it
    returns in place of {columns} (SQL from the model, never from a request)."""
    sql = getattr(queries, query_name).sql
    return sql.replace("{columns}", TYPES[type_name].select_list()) if type_name else sql


_TYPES = loader_types()
STATEMENTS: dict[str, str] = {
    name: statement(query, _TYPES.get(name)) for name, query in
    [*((n, q) for n, (q, _, _) in LOADER_QUERIES.items()), *ENTITY_LOADER_QUERIES.items()]}


class Loaders:
    """Every loader one GraphQL request may use."""

    def __init__(self, pool: Any) -> None:  # the pool, or graphql.context.ReadPool
        self.pool = pool
        self.artifact = self._keyed("artifact")
        self.version = self._keyed("version")
        self.versions_of_artifact = self._keyed("versions_of_artifact")
        self.version_content = self._keyed("version_content")
        self.span = self._keyed("span")
        self.spans_of_version = self._keyed("spans_of_version")
        self.provenance = self._keyed("provenance")
        self.provenance_citing_span = self._keyed("provenance_citing_span")
        self.intent = self._keyed("intent")
        self.intents_of_group = self._keyed("intents_of_group")
        self.intent_group = self._keyed("intent_group")
        self.decision = self._keyed("decision")
        self.decision_superseded_by = self._keyed("decision_superseded_by")
        self.relation = self._keyed("relation")
        self.provenance_of = DataLoader(load_fn=self._provenance_of)
        self.relations_of = DataLoader(load_fn=self._relations_of)

    def _keyed(self, name: str) -> DataLoader:
        _, key, many = LOADER_QUERIES[name]
        return (self._many_per_key if many else self._one_per_key)(STATEMENTS[name], key)

    async def _rows(self, query: str, **params: Any) -> list[Row]:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(query, bind(conn, query, params))
            return await cursor.fetchall()

    def _one_per_key(self, query: str, key: str = "id") -> DataLoader:
        async def load(ids: Sequence[uuid.UUID]) -> list[Row | None]:
            by_key = {row[key]: row for row in await self._rows(query, ids=list(ids))}
            return [by_key.get(i) for i in ids]

        return DataLoader(load_fn=load)

    def _many_per_key(self, query: str, key: str) -> DataLoader:
        async def load(ids: Sequence[uuid.UUID]) -> list[list[Row]]:
            grouped: dict[Hashable, list[Row]] = defaultdict(list)
            for row in await self._rows(query, ids=list(ids)):
                grouped[row[key]].append(row)
            return [grouped.get(i, []) for i in ids]

        return DataLoader(load_fn=load)

    async def _provenance_of(self, keys: Sequence[EntityKey]) -> list[list[Row]]:
        rows = await self._rows(STATEMENTS["provenance_of"],
                                types=[k[0] for k in keys], ids=[k[1] for k in keys])
        grouped: dict[EntityKey, list[Row]] = defaultdict(list)
        for row in rows:
            grouped[(row["target_type"], row["target_id"])].append(row)
        return [grouped.get(k, []) for k in keys]

    async def _relations_of(self, keys: Sequence[EntityKey]) -> list[list[Row]]:
        rows = await self._rows(STATEMENTS["relations_of"],
                                types=[k[0] for k in keys], ids=[k[1] for k in keys])
        wanted = set(keys)
        grouped: dict[EntityKey, dict[uuid.UUID, Row]] = defaultdict(dict)
        for row in rows:
            for end in ((row["source_type"], row["source_id"]), (row["target_type"], row["target_id"])):
                if end in wanted:
                    grouped[end][row["id"]] = row
        return [list(grouped.get(k, {}).values()) for k in keys]
