"""The mutation root: every REST write, through the same service function REST calls.

Each input is turned into the service's pydantic model (`model_validate` on a snake_case
dict of the fields the client gave), so every rule, length limit and message is the
service's; a pydantic error comes back with code `invalid`. Fields the client leaves out
stay out of that dict, so "not given" and "null" keep their REST meanings (e.g.
`updateIntent(input: {intentGroupId: null})` removes the intent from its group).

Input fields carry the plan's names (camelCase); the old names stay accepted as deprecated
aliases (`_old_name`), with the REST rule: both given with different values is `invalid`.
"""

from __future__ import annotations

import dataclasses
import uuid
from enum import Enum
from typing import Annotated, Any

import strawberry
from pydantic import BaseModel
from strawberry.scalars import JSON

from mimir.artifacts import service as artifacts
from mimir.artifacts.service import ArtifactCreate, VersionAppend
from mimir.decisions import service as decisions
from mimir.decisions.service import DecisionCreate, DecisionSuccessor, DecisionUpdate
from mimir.erasure.graphql import EraseInput, Erasure
from mimir.erasure.graphql import erase as erase_content
from mimir.errors import Invalid
from mimir.graphql.context import Info
from mimir.graphql.enums import ArtifactKind, DecisionStatus, IntentGroupStatus, IntentStatus
from mimir.graphql.inputs import EntityRef
from mimir.graphql.loaders import Loaders
from mimir.graphql.types import (
    Artifact,
    ArtifactVersion,
    Decision,
    Intent,
    IntentGroup,
    Provenance,
    Relation,
    Span,
)
from mimir.intents import service as intents
from mimir.intents.service import GroupCreate, GroupUpdate, IntentCreate, IntentUpdate
from mimir.provenance import service as provenance_service
from mimir.provenance.service import ProvenanceIn, merge_provenance
from mimir.relations import service as relations
from mimir.relations.service import RelationCreate
from mimir.spans import service as spans
from mimir.spans.service import SpanCreate

UNSET: Any = strawberry.UNSET


def _old_name(new: str, description: str | None = None) -> Any:
    """An input field under its old name: optional, deprecated in favour of `new`."""
    return strawberry.field(default=UNSET, description=description or f"Old name of `{new}`.",
                            deprecation_reason=f"use {new}")


# Inputs --------------------------------------------------------------------------------

@strawberry.input(description="How an entity was produced. Every field is optional; a "
                  "provenance with nothing in it records nothing.")
class ProvenanceInput:
    model_id: str | None = strawberry.field(default=UNSET, description="Model that produced it.")
    model: str | None = _old_name("modelId")
    prompt_version: str | None = strawberry.field(default=UNSET, description="Prompt version used.")
    pipeline_version: str | None = strawberry.field(default=UNSET,
                                                    description="Pipeline version that produced it.")
    evidence_span_ids: list[uuid.UUID] | None = strawberry.field(
        default=UNSET, description="Spans it was derived from, most important first; they must "
        "exist.")
    metadata: JSON | None = strawberry.field(
        default=UNSET, description="Free-form settings (temperature, ...) and other properties, "
        "a JSON object.")
    parameters: JSON | None = _old_name("metadata")


@strawberry.input(description="A new artifact and the content of its version 1.")
class CreateArtifactInput:
    content: str = strawberry.field(description="Content of version 1.")
    artifact_type: ArtifactKind | None = strawberry.field(
        default=UNSET, description="What the artifact is (required, under this name or `kind`).")
    kind: ArtifactKind | None = _old_name("artifactType")
    title: str | None = strawberry.field(default=UNSET, description="A title.")
    source: str | None = strawberry.field(default=UNSET,
                                          description="Where it came from (default `api`).")
    external_id: str | None = strawberry.field(
        default=UNSET, description="Id in the source; (source, externalId) is unique, and "
        "creating it again returns the existing artifact with `created: false`.")
    metadata: JSON | None = strawberry.field(default=UNSET, description="A JSON object.")
    version_metadata: JSON | None = strawberry.field(default=UNSET,
                                                     description="Metadata of version 1.")
    created_by: str | None = strawberry.field(
        default=UNSET, description="Who wrote version 1: a user or a system.")


@strawberry.input(description="The full content of a new version.")
class AppendVersionInput:
    content: str = strawberry.field(description="Full content of the new version.")
    metadata: JSON | None = strawberry.field(default=UNSET,
                                             description="Metadata of this version.")
    created_by: str | None = strawberry.field(
        default=UNSET, description="Who wrote this version: a user or a system.")


@strawberry.input(description="A span over [startOffset, endOffset) of one version, named by "
                  "`artifactVersionId` or by `artifactId` + `versionNumber` (exactly one of "
                  "the two).")
class CreateSpanInput:
    start_offset: int = strawberry.field(description="First character, in Unicode code points, "
                                         "inclusive.")
    end_offset: int = strawberry.field(description="End, in code points, exclusive; at most "
                                       "the content length.")
    artifact_version_id: uuid.UUID | None = strawberry.field(
        default=UNSET, description="The version it points into.")
    version_id: uuid.UUID | None = _old_name("artifactVersionId")
    artifact_id: uuid.UUID | None = strawberry.field(default=UNSET,
                                                     description="With `versionNumber`.")
    version_number: int | None = strawberry.field(default=UNSET, description="With `artifactId`.")
    span_type: str | None = strawberry.field(default=UNSET,
                                             description="Kind of span (default `generic`).")
    label: str | None = strawberry.field(default=UNSET, description="A label.")
    metadata: JSON | None = strawberry.field(default=UNSET, description="A JSON object.")


@strawberry.input(description="A new intent; it starts `PROPOSED`.")
class CreateIntentInput:
    statement: str = strawberry.field(description="What someone intends, in one statement.")
    intent_group_id: uuid.UUID | None = strawberry.field(
        default=UNSET, description="Group to put it in; it must exist and not be merged.")
    group_id: uuid.UUID | None = _old_name("intentGroupId")
    proposed_by: str | None = strawberry.field(
        default=UNSET, description="Who proposed it: `human` or a model identifier.")
    confidence: float | None = strawberry.field(default=UNSET,
                                                description="How sure the extractor is, 0..1.")
    metadata: JSON | None = strawberry.field(default=UNSET, description="A JSON object.")


@strawberry.input(description="Changes to an intent; fields left out stay as they are.")
class UpdateIntentInput:
    status: IntentStatus | None = strawberry.field(
        default=UNSET, description="`ACCEPTED` or `REJECTED`, from `PROPOSED` only; repeating "
        "the current status is a no-op.")
    intent_group_id: uuid.UUID | None = strawberry.field(
        default=UNSET, description="Move it to this group; null removes it from its group.")
    group_id: uuid.UUID | None = _old_name("intentGroupId")
    metadata: JSON | None = strawberry.field(default=UNSET,
                                             description="Replaces the metadata object.")


@strawberry.input(description="A new intent group; it starts `ACTIVE`.")
class CreateIntentGroupInput:
    name: str = strawberry.field(description="Short name of the group.")
    description: str | None = strawberry.field(default=UNSET, description="What it is about.")
    metadata: JSON | None = strawberry.field(default=UNSET, description="A JSON object.")


@strawberry.input(description="Changes to an intent group; fields left out stay as they are. "
                  "A merged group cannot change.")
class UpdateIntentGroupInput:
    name: str | None = strawberry.field(default=UNSET, description="New name.")
    description: str | None = strawberry.field(default=UNSET,
                                               description="New description; null clears it.")
    status: IntentGroupStatus | None = strawberry.field(
        default=UNSET, description="`ACTIVE` or `DEPRECATED`; `MERGED` is reached only "
        "through mergeIntentGroups.")
    metadata: JSON | None = strawberry.field(default=UNSET,
                                             description="Replaces the metadata object.")


@strawberry.input(description="A new decision (also the successor in supersedeDecision).")
class CreateDecisionInput:
    statement: str = strawberry.field(description="What was decided.")
    rationale: str | None = strawberry.field(default=UNSET, description="Why.")
    status: DecisionStatus | None = strawberry.field(
        default=UNSET, description="`TENTATIVE` or `ACTIVE` (the default); never `SUPERSEDED`.")
    metadata: JSON | None = strawberry.field(default=UNSET, description="A JSON object.")


@strawberry.input(description="Edits of a decision: promote it from `TENTATIVE` to `ACTIVE`, "
                  "change its rationale or metadata. To change the statement, supersede it.")
class UpdateDecisionInput:
    status: DecisionStatus | None = strawberry.field(
        default=UNSET, description="Only `ACTIVE`, to promote a tentative decision.")
    rationale: str | None = strawberry.field(default=UNSET,
                                             description="New rationale; null clears it.")
    metadata: JSON | None = strawberry.field(default=UNSET,
                                             description="Replaces the metadata object.")


@strawberry.input(description="A typed edge `source --relationType--> target`; both ends must "
                  "exist.")
class CreateRelationInput:
    source: EntityRef = strawberry.field(description="The source entity.")
    relation_type: str = strawberry.field(description="What the edge means: lower-case "
                                          "letters, digits and _ (^[a-z][a-z0-9_]{0,63}$).")
    target: EntityRef = strawberry.field(description="The target entity.")
    metadata: JSON | None = strawberry.field(default=UNSET, description="A JSON object.")


# Payloads ------------------------------------------------------------------------------

@strawberry.type(description="The artifact, and whether it was created (false when "
                 "(source, externalId) already existed and the existing artifact is returned).")
class CreateArtifactPayload:
    artifact: Artifact
    created: bool


@strawberry.type(description="The version, and whether it was created (false when the content "
                 "equalled the latest version's, which is returned instead).")
class AppendVersionPayload:
    version: ArtifactVersion
    created: bool


@strawberry.type(description="Both ends of a supersession.")
class SupersedeDecisionPayload:
    superseded: Decision = strawberry.field(description="The old decision, now `SUPERSEDED`.")
    current: Decision = strawberry.field(description="The new decision that replaced it.")


@strawberry.type(description="The surviving group of a merge.")
class MergeIntentGroupsPayload:
    group: IntentGroup = strawberry.field(description="The group that absorbed the other.")
    moved_intents: int = strawberry.field(description="How many intents moved into it.")
    merged_group: IntentGroup = strawberry.field(description="The group that was merged "
                                                 "(now `MERGED`).")


# Conversion ----------------------------------------------------------------------------

class _ProvenanceArgument(BaseModel):
    """Wraps the `provenance` argument so that its errors are located under `provenance.`."""

    provenance: ProvenanceIn


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _given(data: Any, *, exclude: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    """The fields of a strawberry input the client gave, as a snake_case dict for the
    service's pydantic model, without `exclude` and with `extra` added."""
    given = {f.name: _plain(getattr(data, f.name)) for f in dataclasses.fields(data)
             if f.name not in exclude and getattr(data, f.name) is not UNSET}
    return {**given, **extra}


def _provenance(data: ProvenanceInput | None) -> ProvenanceIn | None:
    """The `provenance` argument as the services take it; None when it says nothing."""
    if data is None or data is UNSET:
        return None
    validated = _ProvenanceArgument.model_validate({"provenance": _given(data)}).provenance
    return merge_provenance(None, validated)


def _refresh_loaders(info: Info) -> None:
    """Drop what this request's loaders cached before the write: a later field (or the next
    mutation of the same request) must see the data as it is now."""
    info.context.loaders = Loaders(info.context.pool)

async def _write(info: Info, service_call, *args, **kwargs):
    """Run one service write on a pooled connection, then drop the request's cached
    reads so that fields resolved after it see the change."""
    async with info.context.pool.connection() as conn:
        row = await service_call(conn, *args, **kwargs)
    _refresh_loaders(info)
    return row



async def _reload(info: Info, loader: str, entity_id: uuid.UUID) -> dict[str, Any]:
    return await getattr(info.context.loaders, loader).load(entity_id)


ProvenanceArgument = Annotated[ProvenanceInput | None, strawberry.argument(
    description="Optional provenance, recorded in the same transaction as the write.")]


# Root ----------------------------------------------------------------------------------

@strawberry.type
class Mutation:
    @strawberry.mutation(description="Create an artifact and its version 1 in one "
                         "transaction. Idempotent on (source, externalId).")
    async def create_artifact(
        self, info: Info, input: CreateArtifactInput,
        provenance: ProvenanceArgument = None,
    ) -> CreateArtifactPayload:
        data = ArtifactCreate.model_validate(_given(input))
        row, created = await _write(
            info, artifacts.create_artifact, data,
            max_chars=info.context.settings.max_content_chars, provenance=_provenance(provenance))
        return CreateArtifactPayload(artifact=Artifact.from_row(row), created=created)

    @strawberry.mutation(description="Append the next version of an artifact. Content "
                         "identical to the latest version returns that version, "
                         "`created: false`.")
    async def append_version(
        self, info: Info, artifact_id: uuid.UUID, input: AppendVersionInput,
        provenance: ProvenanceArgument = None,
    ) -> AppendVersionPayload:
        data = VersionAppend.model_validate(_given(input))
        row, created = await _write(
            info, artifacts.append_version, artifact_id, data,
            max_chars=info.context.settings.max_content_chars, provenance=_provenance(provenance))
        return AppendVersionPayload(version=ArtifactVersion.from_row(row), created=created)

    @strawberry.mutation(description="Create a span over [startOffset, endOffset) of one "
                         "version; out-of-range offsets are `invalid`, with the valid range in "
                         "the message.")
    async def create_span(
        self, info: Info, input: CreateSpanInput,
        provenance: ProvenanceArgument = None,
    ) -> Span:
        data = SpanCreate.model_validate(_given(input))
        row = await _write(info, spans.create_span, data, _provenance(provenance))
        return Span.from_row(row)

    @strawberry.mutation(description="Create a proposed intent, optionally in a group.")
    async def create_intent(
        self, info: Info, input: CreateIntentInput,
        provenance: ProvenanceArgument = None,
    ) -> Intent:
        data = IntentCreate.model_validate(_given(input))
        row = await _write(info, intents.create_intent, data, provenance=_provenance(provenance))
        return Intent.from_row(row)

    @strawberry.mutation(description="Accept or reject a proposed intent, move it between "
                         "groups, or replace its metadata. Any other status change is a "
                         "`conflict`.")
    async def update_intent(
        self, info: Info, id: uuid.UUID, input: UpdateIntentInput,
        provenance: ProvenanceArgument = None,
    ) -> Intent:
        data = IntentUpdate.model_validate(_given(input))
        row = await _write(info, intents.update_intent, id, data, provenance=_provenance(provenance))
        return Intent.from_row(row)

    @strawberry.mutation(description="Create an active intent group.")
    async def create_intent_group(
        self, info: Info, input: CreateIntentGroupInput,
        provenance: ProvenanceArgument = None,
    ) -> IntentGroup:
        data = GroupCreate.model_validate(_given(input))
        row = await _write(info, intents.create_group, data, provenance=_provenance(provenance))
        return IntentGroup.from_row(row)

    @strawberry.mutation(description="Rename, describe, deprecate or reactivate an intent "
                         "group, or replace its metadata. A merged group is a `conflict`.")
    async def update_intent_group(
        self, info: Info, id: uuid.UUID, input: UpdateIntentGroupInput,
        provenance: ProvenanceArgument = None,
    ) -> IntentGroup:
        data = GroupUpdate.model_validate(_given(input))
        row = await _write(info, intents.update_group, id, data, provenance=_provenance(provenance))
        return IntentGroup.from_row(row)

    @strawberry.mutation(description="Merge the group `sourceId` into `intoId`, atomically: "
                         "the source becomes `MERGED` and its intents move. Merging a merged "
                         "group, or into one, is a `conflict`. Provenance is recorded on the "
                         "merged group.")
    async def merge_intent_groups(
        self, info: Info, source_id: uuid.UUID, into_id: uuid.UUID,
        provenance: ProvenanceArgument = None,
    ) -> MergeIntentGroupsPayload:
        row = await _write(info, intents.merge_groups, source_id, into_id,
                           provenance=_provenance(provenance))
        merged = await _reload(info, "intent_group", row["merged_group_id"])
        return MergeIntentGroupsPayload(group=IntentGroup.from_row(row),
                                        moved_intents=row["moved_intents"],
                                        merged_group=IntentGroup.from_row(merged))

    @strawberry.mutation(description="Create a tentative or active decision.")
    async def create_decision(
        self, info: Info, input: CreateDecisionInput,
        provenance: ProvenanceArgument = None,
    ) -> Decision:
        data = DecisionCreate.model_validate(_given(input))
        row = await _write(info, decisions.create_decision, data, provenance=_provenance(provenance))
        return Decision.from_row(row)

    @strawberry.mutation(description="Promote a tentative decision to active and/or edit its "
                         "rationale and metadata.")
    async def update_decision(
        self, info: Info, id: uuid.UUID, input: UpdateDecisionInput,
        provenance: ProvenanceArgument = None,
    ) -> Decision:
        data = DecisionUpdate.model_validate(_given(input))
        row = await _write(info, decisions.update_decision, id, data, provenance=_provenance(provenance))
        return Decision.from_row(row)

    @strawberry.mutation(description="Mark decision `id` superseded, atomically, by a new "
                         "decision (`input`, created here) or by an existing one "
                         "(`supersededById`, which must be current and supersede no other "
                         "decision); give exactly one. Superseding a superseded decision is a "
                         "`conflict` naming its successor. Provenance describes the new "
                         "decision with `input`, the superseded one with `supersededById` "
                         "(as REST's PATCH).")
    async def supersede_decision(
        self, info: Info, id: uuid.UUID, input: CreateDecisionInput | None = None,
        superseded_by_id: uuid.UUID | None = None,
        provenance: ProvenanceArgument = None,
    ) -> SupersedeDecisionPayload:
        if (input is None) == (superseded_by_id is None):
            raise Invalid("give exactly one of input (a new decision) and supersededById "
                          "(an existing decision)",
                          details={"allowed": ["input", "supersededById"]})
        if superseded_by_id is not None:
            result = await _write(info, decisions.supersede_with_existing, id, superseded_by_id,
                                  provenance=_provenance(provenance))
        else:
            successor = DecisionSuccessor.model_validate(_given(input))
            result = await _write(info, decisions.supersede_decision, id, successor,
                                  provenance=_provenance(provenance))
        return SupersedeDecisionPayload(superseded=Decision.from_row(result["superseded"]),
                                        current=Decision.from_row(result["current"]))

    @strawberry.mutation(description="Create a typed edge between two existing entities; the "
                         "same (source, relationType, target) twice is a `conflict`.")
    async def create_relation(
        self, info: Info, input: CreateRelationInput,
        provenance: ProvenanceArgument = None,
    ) -> Relation:
        data = RelationCreate.model_validate(_given(
            input, exclude=("source", "target"),
            source_type=input.source.type.value, source_id=input.source.id,
            target_type=input.target.type.value, target_id=input.target.id))
        row = await _write(info, relations.create_relation, data, provenance=_provenance(provenance))
        return Relation.from_row(row)

    @strawberry.mutation(description="Delete a relation (relations pointing at it and its "
                         "provenance go with it); returns the deleted id.")
    async def delete_relation(self, info: Info, id: uuid.UUID) -> uuid.UUID:
        await _write(info, relations.delete_relation, id)
        return id

    @strawberry.mutation(description="Erase an artifact, one version or a source (admin keys "
                         "only): the content becomes a tombstone; chunks, vectors, postings "
                         "and metadata copies go; spans keep offsets but lose their text.")
    async def erase(self, info: Info, input: EraseInput) -> Erasure:
        record = await erase_content(info, input)
        _refresh_loaders(info)
        return record

    @strawberry.mutation(description="Record how an existing entity was produced: model, "
                         "prompt and pipeline versions, metadata and evidence spans (which "
                         "must exist). At least one field is required.")
    async def create_provenance(self, info: Info, target: EntityRef,
                                input: ProvenanceInput) -> Provenance:
        data = _ProvenanceArgument.model_validate({"provenance": _given(input)}).provenance
        row = await _write(info, provenance_service.create_provenance,
                           target.type, target.id, data)
        return Provenance.from_row(row)
