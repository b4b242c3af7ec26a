"""Embedding spaces and indexing: chunk versions into spans, embed chunks, intents and
decisions, store the vectors with their provenance.

Each space gets its own partial HNSW index on `embedding::vector(dims)`, so spaces of
different dimensions live in one table. The provider call (slow, maybe remote) happens
outside any transaction; database writes are short transactions that are safe to repeat,
so a job retried after a crash finishes the work without duplicating it.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

import orjson
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from pydantic import Field

from mimir.db.queries import queries
from mimir.embeddings.chunking import chunk_offsets, chunker_description
from mimir.embeddings.provider import EmbeddingProvider
from mimir.entities import EntityType, ensure_exists
from mimir.errors import Conflict, Invalid, NotFound
from mimir.validation import Metadata, StrictModel, renamed_field

# Operator class and distance operator per space distance (pgvector).
OPERATOR_CLASS = {"cosine": "vector_cosine_ops", "l2": "vector_l2_ops",
                  "inner_product": "vector_ip_ops"}
DISTANCE_OPERATOR = {"cosine": "<=>", "l2": "<->", "inner_product": "<#>"}
HNSW_INDEX_PREFIX = "ix_embeddings_hnsw_"
MAX_VECTORS_PER_REQUEST = 1000


class SpaceCreate(StrictModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,62}$", description="Unique space name.",
                      examples=["openai-3-small"])
    model: str = renamed_field(
        "embedding_model", "model", min_length=1, max_length=200, description="Model the "
        "vectors come from (`model`, the old name, is accepted too).",
        examples=["text-embedding-3-small"])
    dimensions: int = Field(ge=1, le=2000, description="Vector length (HNSW indexes up to 2000).",
                            examples=[1536])
    distance: str = Field(default="cosine", pattern="^(cosine|l2|inner_product)$",
                          description="How vectors are compared.", examples=["cosine"])
    metadata: Metadata = Field(default_factory=dict, description="Free-form JSON object.",
                               examples=[{"owner": "search-team"}])


class VectorIn(StrictModel):
    target_type: EntityType = Field(description="What the vector represents.", examples=["span"])
    target_id: uuid.UUID = Field(description="Id of that entity.")
    vector: list[float] = Field(min_length=1, max_length=16000, description="The vector.",
                                examples=[[0.1, 0.2, 0.3]])
    metadata: Metadata = Field(default_factory=dict, description="Free-form JSON object "
                               "stored with the vector.", examples=[{"chunker": "mine-v2"}])


def hnsw_index_name(space_id: uuid.UUID) -> str:
    return f"{HNSW_INDEX_PREFIX}{space_id.hex}"


def vector_literal(vector: list[float]) -> str:
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


async def create_space_index(conn: AsyncConnection, space: dict[str, Any]) -> None:
    """The space's HNSW index (its name is `hnsw_index_name(space id)`), built by
    mimir_create_space_index (migration 0012) as the table's owner: the app role Mímir runs
    as may not create indexes."""
    await queries.embeddings_create_space_index(conn, space_id=space["id"])


async def register_space(conn: AsyncConnection, data: SpaceCreate) -> tuple[dict[str, Any], bool]:
    """Create a space and its HNSW index; the same definition again returns it (created
    False); the same name with another model, dimension or distance is a 409."""
    async with conn.transaction():
        space = await queries.embeddings_insert_space(
            conn, name=data.name, model=data.model, dimensions=data.dimensions,
            distance=data.distance, metadata=orjson.dumps(data.metadata).decode())
        created = space is not None
        if not created:
            space = await queries.embeddings_get_space_by_name(conn, name=data.name)
            wanted = (data.model, data.dimensions, data.distance)
            if (space["model"], space["dimensions"], space["distance"]) != wanted:
                raise Conflict(
                    f"embedding space {data.name!r} exists with model {space['model']!r}, "
                    f"{space['dimensions']} dimensions, {space['distance']} distance",
                    details={"space": data.name})
        await create_space_index(conn, space)
    return space, created


async def get_space(conn: AsyncConnection, name: str) -> dict[str, Any]:
    space = await queries.embeddings_get_space_by_name(conn, name=name)
    if space is None:
        raise NotFound(f"embedding space {name!r} does not exist", details={"space": name})
    return space


async def list_spaces(conn: AsyncConnection) -> list[dict[str, Any]]:
    return [row async for row in queries.embeddings_list_spaces(conn)]


def default_space_definition(provider: EmbeddingProvider) -> SpaceCreate:
    """The space a provider's vectors go to: named after provider and model."""
    slug = "".join(c if c.isalnum() else "-" for c in provider.model.lower()).strip("-")
    name = f"{provider.name}-{slug}"[:63].rstrip("-")
    return SpaceCreate(name=name, model=provider.model, dimensions=provider.dimensions,
                       distance=provider.distance)


# pgvector stores single-precision floats: larger magnitudes overflow.
FLOAT4_MAX = 3.4028234663852886e38


def check_vector(space: dict[str, Any], vector: list[float]) -> None:
    """Refuse a vector the space cannot store or compare: another dimension, a value that
    is not finite or beyond single precision (pgvector's float4), or all zeros in a cosine
    space (its direction, hence every distance, is undefined)."""
    if len(vector) != space["dimensions"]:
        raise Invalid(f"vector has {len(vector)} dimensions; space {space['name']!r} expects "
                      f"{space['dimensions']}", details={"space": space["name"],
                                                         "expected": space["dimensions"],
                                                         "got": len(vector)})
    for index, value in enumerate(vector):
        if not math.isfinite(value) or abs(value) > FLOAT4_MAX:
            raise Invalid(f"vector value {index} is not a finite single-precision number "
                          f"(|x| <= {FLOAT4_MAX:.4g}; NaN and Infinity are not allowed)",
                          details={"space": space["name"], "index": index})
    if space["distance"] == "cosine" and not any(vector):
        raise Invalid(f"a zero vector has no direction; space {space['name']!r} compares by "
                      "cosine distance", details={"space": space["name"]})


async def write_vectors(conn: AsyncConnection, space_name: str, vectors: list[VectorIn]
                        ) -> int:
    """Store client-made vectors (provider `none`): every target must exist and every
    vector must have the space's dimension; all or nothing."""
    if len(vectors) > MAX_VECTORS_PER_REQUEST:
        raise Invalid(f"at most {MAX_VECTORS_PER_REQUEST} vectors per request")
    async with conn.transaction():
        space = await get_space(conn, space_name)
        by_type: dict[EntityType, list[VectorIn]] = {}
        for item in vectors:
            check_vector(space, item.vector)
            await ensure_exists(conn, item.target_type, item.target_id, role="embedding target")
            by_type.setdefault(item.target_type, []).append(item)
        for target_type, items in by_type.items():
            await queries.embeddings_upsert_with_metadata(
                conn, space_id=space["id"], target_type=target_type.value,
                target_ids=[i.target_id for i in items],
                vectors=[vector_literal(i.vector) for i in items],
                metadata=[orjson.dumps(i.metadata).decode() for i in items])
    return len(vectors)


async def _store(pool: AsyncConnectionPool, space: dict[str, Any], target_type: str,
                 target_ids: list[uuid.UUID], vectors: list[list[float]], *,
                 model: str, pipeline: str) -> None:
    for vector in vectors:
        check_vector(space, vector)
    async with pool.connection() as conn, conn.transaction():
        missing = [row["target_id"] async for row in queries.embeddings_list_missing_targets(
            conn, space_id=space["id"], target_type=target_type, target_ids=target_ids)]
        await queries.embeddings_upsert_many(
            conn, space_id=space["id"], target_type=target_type, target_ids=target_ids,
            vectors=[vector_literal(v) for v in vectors])
        if missing:  # provenance once per target and space, also when a job is repeated
            await queries.embeddings_insert_provenance_many(
                conn, target_type=target_type, target_ids=missing, model=model,
                pipeline_version=pipeline,
                parameters=orjson.dumps({"embedding_space": space["name"]}).decode())


def passage_prefix(kind: str, title: str | None, content: str) -> str:
    """What is embedded before each passage of a document (never part of its span): its
    title, unless the text already starts with it, so a chunk from the middle of a long
    document keeps what the document is about. Notes and conversation messages get none:
    a speaker's name before every short message pulled all of that speaker's messages
    together and cost recall on the dev set (docs/search-quality.md)."""
    title = (title or "").strip()
    if kind != "document" or not title or content.lstrip().startswith(title):
        return ""
    return title[:200] + "\n"


def _passages(version: dict[str, Any], messages: list[dict[str, Any]], *, min_chars: int,
              max_chars: int) -> list[tuple[int, int, str]]:
    """(start, end, prefix) of each passage to embed: chunks of a conversation never cross
    a message; other texts are chunked whole."""
    content = version["content"]
    if not messages:
        prefix = passage_prefix(version["kind"], version["title"], content)
        return [(s, e, prefix) for s, e in chunk_offsets(content, min_chars=min_chars,
                                                         max_chars=max_chars)]
    passages = []
    for message in messages:
        start, end = message["start_offset"], message["end_offset"]
        for s, e in chunk_offsets(content[start:end], min_chars=min_chars, max_chars=max_chars):
            passages.append((start + s, start + e, ""))
    return passages


async def index_version(pool: AsyncConnectionPool, provider: EmbeddingProvider,
                        space: dict[str, Any], version_id: uuid.UUID, *,
                        min_chars: int, max_chars: int) -> int:
    """Split a version into passages, stored as chunk spans (once), and embed each (a
    document's with its title); returns the chunk count. A conversation's passages are its messages (long
    ones split), so a semantic hit is the message itself."""
    chunker = chunker_description(min_chars, max_chars)
    async with pool.connection() as conn, conn.transaction():
        version = await queries.embeddings_get_version_for_indexing(conn, id=version_id)
        if version is None:
            raise NotFound(f"artifact version {version_id} does not exist")
        # Lock the version's row set for chunking: two jobs for one version make one set.
        await queries.embeddings_lock_version(conn, version_id=str(version_id))
        messages = [row async for row in queries.embeddings_list_messages_of_version(
            conn, version_id=version_id)]
        passages = _passages(version, messages, min_chars=min_chars, max_chars=max_chars)
        chunks = [row async for row in queries.embeddings_list_chunks_of_version(conn, version_id=version_id)]
        if not chunks and passages:
            chunks = [row async for row in queries.embeddings_insert_chunks(
                conn, version_id=version_id, chunker=chunker,
                starts=[s for s, _, _ in passages], ends=[e for _, e, _ in passages])]
    if not chunks:
        return 0
    content = version["content"]
    prefixes = {(s, e): p for s, e, p in passages}
    texts = [prefixes.get((c["start_offset"], c["end_offset"]), "")
             + content[c["start_offset"]:c["end_offset"]] for c in chunks]
    vectors = await provider.embed_passages(texts)
    await _store(pool, space, "span", [c["id"] for c in chunks], vectors,
                 model=provider.model, pipeline=f"mimir chunk+embed; {chunker}; "
                 "a document's title before each passage")
    return len(chunks)


async def index_statement(pool: AsyncConnectionPool, provider: EmbeddingProvider,
                          space: dict[str, Any], entity_type: EntityType,
                          entity_id: uuid.UUID) -> bool:
    """Embed an intent's statement or a decision's statement and rationale."""
    query = {EntityType.INTENT: queries.embeddings_get_text_of_intent,
             EntityType.DECISION: queries.embeddings_get_text_of_decision}[entity_type]
    async with pool.connection() as conn:
        row = await query(conn, id=entity_id)
    if row is None:
        return False
    [vector] = await provider.embed_passages([row["text"]])
    await _store(pool, space, entity_type.value, [entity_id], [vector],
                 model=provider.model, pipeline="mimir embed statement")
    return True
