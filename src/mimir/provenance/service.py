"""Provenance: which model, prompt and pipeline produced an entity, from which evidence.

`record_provenance` runs inside the caller's transaction, so an entity and its provenance
are written together or not at all.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import orjson
from psycopg import AsyncConnection
from pydantic import Field

from mimir.db.errors import translate_errors
from mimir.db.queries import queries
from mimir.entities import EntityType, ensure_exists
from mimir.errors import Invalid
from mimir.validation import Label, Metadata, StrictModel, renamed_field

MAX_EVIDENCE = 200


class ProvenanceIn(StrictModel):
    """How a derived entity was produced. Every field is optional."""

    model_id: Label | None = renamed_field(
        "model_id", "model", default=None, description="Model that produced it (`model`, "
        "the old name, is accepted too).", examples=["gpt-4o-2024-08-06"])
    prompt_version: Label | None = Field(default=None, description="Version of the prompt "
                                         "used.", examples=["intent-extract@3"])
    pipeline_version: Label | None = Field(default=None, description="Version of the "
                                           "pipeline that produced it.",
                                           examples=["mimir-extract 1.4.0"])
    evidence_span_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=MAX_EVIDENCE,
        description="Spans the entity was derived from, most important first.")
    metadata: Metadata = renamed_field(
        "metadata", "parameters", default_factory=dict,
        description="Free-form JSON object: settings (temperature, ...) and other properties "
        "(`parameters`, the old name, is accepted too).", examples=[{"temperature": 0.2}])

    def is_empty(self) -> bool:
        return not (self.model_id or self.prompt_version or self.pipeline_version
                    or self.evidence_span_ids or self.metadata)


BodyProvenance = Annotated[ProvenanceIn | None, Field(
    description="Optional provenance of what this request writes, recorded in the same "
    "transaction; its fields override the `X-Provenance-*` headers one by one.")]


def merge_provenance(headers: ProvenanceIn | None, body: ProvenanceIn | None) -> ProvenanceIn | None:
    """Body fields win over the X-Provenance-* headers; None when neither says anything."""
    if headers is None or headers.is_empty():
        return body if body is not None and not body.is_empty() else None
    if body is None:
        return headers
    merged = headers.model_dump()
    merged.update(body.model_dump(exclude_unset=True))
    return ProvenanceIn.model_validate(merged)


async def record_provenance(conn: AsyncConnection, target_type: EntityType, target_id: uuid.UUID,
                            provenance: ProvenanceIn | None) -> dict[str, Any] | None:
    """Write one provenance record with its evidence; call inside the entity's transaction."""
    if provenance is None or provenance.is_empty():
        return None
    evidence = list(dict.fromkeys(provenance.evidence_span_ids))  # keep order, drop repeats
    if evidence:
        found = {row["id"] async for row in queries.provenance_list_existing_span_ids(conn, ids=evidence)}
        missing = [str(i) for i in evidence if i not in found]
        if missing:
            raise Invalid(f"evidence span(s) do not exist: {', '.join(missing)}",
                          details={"missing_span_ids": missing})
    with translate_errors():
        record = await queries.provenance_insert(
            conn, target_type=target_type.value, target_id=target_id, model_id=provenance.model_id,
            prompt_version=provenance.prompt_version, pipeline_version=provenance.pipeline_version,
            metadata=orjson.dumps(provenance.metadata).decode())
        if evidence:
            await queries.provenance_insert_evidence(conn, [
                {"provenance_id": record["id"], "span_id": span_id, "position": position}
                for position, span_id in enumerate(evidence)])
    return {**record, "evidence_span_ids": evidence}


async def create_provenance(conn: AsyncConnection, target_type: EntityType, target_id: uuid.UUID,
                            provenance: ProvenanceIn) -> dict[str, Any]:
    """Record provenance for an existing entity (POST /provenance)."""
    if provenance.is_empty():
        raise Invalid("provenance needs at least one of model, prompt_version, "
                      "pipeline_version, evidence_span_ids, parameters")
    async with conn.transaction():
        await ensure_exists(conn, target_type, target_id, role="provenance target")
        return await record_provenance(conn, target_type, target_id, provenance)


async def provenance_for(conn: AsyncConnection, target_type: EntityType,
                         target_id: uuid.UUID) -> list[dict[str, Any]]:
    """All provenance of one entity, oldest first; NotFound when the entity does not exist."""
    await ensure_exists(conn, target_type, target_id)
    return [row async for row in queries.provenance_list_for_target(
        conn, target_type=target_type.value, target_id=target_id)]
