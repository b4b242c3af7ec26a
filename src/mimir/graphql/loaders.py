"""Per-request dataloaders: each batch of keys is one SQL statement (`= ANY(...)`), and
results come back in key order (None or [] for a key with nothing).

Loaders are created per request by `Loaders(pool)`, never at module level: a DataLoader
caches, and a shared one would leak one request's data into another's.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from strawberry.dataloader import DataLoader

from mimir.db.queries import queries

Row = dict[str, Any]
EntityKey = tuple[str, uuid.UUID]


class Loaders:
    """Every loader one GraphQL request may use."""

    def __init__(self, pool: Any) -> None:  # the pool, or graphql.context.ReadPool
        self.pool = pool
        one, many = self._one_per_key, self._many_per_key
        self.artifact = one(queries.load_artifacts)
        self.version = one(queries.load_versions)
        self.versions_of_artifact = many(queries.load_versions_of_artifacts, "artifact_id")
        self.version_content = one(queries.load_version_contents)
        self.span = one(queries.load_spans)
        self.spans_of_version = many(queries.load_spans_of_versions, "version_id")
        self.provenance = one(queries.load_provenance)
        self.provenance_citing_span = many(queries.load_provenance_citing_spans, "cited_span_id")
        self.intent = one(queries.load_intents)
        self.intents_of_group = many(queries.load_intents_of_groups, "group_id")
        self.intent_group = one(queries.load_intent_groups)
        self.decision = one(queries.load_decisions)
        self.decision_superseded_by = one(queries.load_decisions_superseded_by, "superseded_by_id")
        self.relation = one(queries.load_relations)
        self.provenance_of = DataLoader(load_fn=self._provenance_of)
        self.relations_of = DataLoader(load_fn=self._relations_of)

    async def _rows(self, query: Callable, **params: Any) -> list[Row]:
        async with self.pool.connection() as conn:
            return [row async for row in query(conn, **params)]

    def _one_per_key(self, query: Callable, key: str = "id") -> DataLoader:
        async def load(ids: Sequence[uuid.UUID]) -> list[Row | None]:
            by_key = {row[key]: row for row in await self._rows(query, ids=list(ids))}
            return [by_key.get(i) for i in ids]

        return DataLoader(load_fn=load)

    def _many_per_key(self, query: Callable, key: str) -> DataLoader:
        async def load(ids: Sequence[uuid.UUID]) -> list[list[Row]]:
            grouped: dict[Hashable, list[Row]] = defaultdict(list)
            for row in await self._rows(query, ids=list(ids)):
                grouped[row[key]].append(row)
            return [grouped.get(i, []) for i in ids]

        return DataLoader(load_fn=load)

    async def _provenance_of(self, keys: Sequence[EntityKey]) -> list[list[Row]]:
        rows = await self._rows(queries.load_provenance_of_targets,
                                types=[k[0] for k in keys], ids=[k[1] for k in keys])
        grouped: dict[EntityKey, list[Row]] = defaultdict(list)
        for row in rows:
            grouped[(row["target_type"], row["target_id"])].append(row)
        return [grouped.get(k, []) for k in keys]

    async def _relations_of(self, keys: Sequence[EntityKey]) -> list[list[Row]]:
        rows = await self._rows(queries.load_relations_of_entities,
                                types=[k[0] for k in keys], ids=[k[1] for k in keys])
        wanted = set(keys)
        grouped: dict[EntityKey, dict[uuid.UUID, Row]] = defaultdict(dict)
        for row in rows:
            for end in ((row["source_type"], row["source_id"]), (row["target_type"], row["target_id"])):
                if end in wanted:
                    grouped[end][row["id"]] = row
        return [list(grouped.get(k, {}).values()) for k in keys]
