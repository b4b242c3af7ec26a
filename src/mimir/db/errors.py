"""Database errors become domain errors, by constraint name, in the data layer.

Clients never see a psycopg message verbatim; they see a message written here, or (for
triggers that raise a message written for them, e.g. the valid offset range of a span) the
trigger's own message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import errors as pg

from mimir.errors import Conflict, Forbidden, Invalid, MimirError

# Constraint name -> (error class, message or None to use the trigger's own message).
_BY_CONSTRAINT: dict[str, tuple[type[MimirError], str | None]] = {
    "artifact_versions_append_only": (Conflict, "artifact versions are append-only"),
    "artifact_versions_gap_free": (Conflict, None),
    "uq_artifact_versions_artifact_id_version_number": (
        Conflict, "another version was appended at the same time; retry"),
    "ck_artifact_versions_content_hash_is_sha256": (Invalid, "content_hash is not the SHA-256 of the content"),
    "uq_artifacts_namespace_source_external_id": (Conflict, "an artifact with this source and external_id exists"),
    "ck_artifacts_source_not_blank": (Invalid, "source must not be blank"),
    "ck_artifacts_external_id_not_blank": (Invalid, "external_id must not be blank"),
    "spans_within_version": (Invalid, None),
    "ck_spans_offsets_ordered": (Invalid, "a span needs 0 <= start_offset < end_offset"),
    "ck_spans_span_type_format": (Invalid, "span_type must match ^[a-z][a-z0-9_]{0,63}$"),
    "fk_spans_artifact_version_id_artifact_versions": (Invalid, "the span's version does not exist"),
    "uq_intent_groups_namespace_name": (Conflict, "an intent group with this name exists"),
    "ck_intent_groups_no_self_merge": (Conflict, "a group cannot be merged into itself"),
    "intent_groups_merged_is_final": (Conflict, None),
    "intent_groups_merge_target_active": (Conflict, None),
    "intents_status_transition": (Conflict, None),
    "ck_intents_confidence_range": (Invalid, "confidence must be between 0 and 1"),
    "fk_intents_intent_group_id_intent_groups": (Invalid, "the intent group does not exist"),
    "uq_decisions_superseded_by_id": (Conflict, "that decision already supersedes another one"),
    "ck_decisions_not_self_superseded": (Conflict, "a decision cannot supersede itself"),
    "decisions_superseded_is_final": (Conflict, None),
    "decisions_successor_current": (Conflict, None),
    "embedding_spaces_fixed": (Conflict, None),
    "relations_source_exists": (Invalid, None),
    "relations_target_exists": (Invalid, None),
    "uq_relations_edge": (Conflict, "this relation already exists"),
    "ck_relations_not_self_loop": (Invalid, "a relation cannot connect an entity to itself"),
    "ck_relations_relation_type_format": (Invalid, "relation_type must match ^[a-z][a-z0-9_]{0,63}$"),
    "provenance_target_exists": (Invalid, None),
    "fk_provenance_evidence_span_id_spans": (Invalid, "an evidence span does not exist"),
    "embeddings_dimensions_match": (Invalid, None),
    "embeddings_target_exists": (Invalid, None),
    "uq_embedding_spaces_name": (Conflict, "an embedding space with this name exists"),
}

_BY_CLASS: list[tuple[type[psycopg.Error], type[MimirError], str]] = [
    (pg.UniqueViolation, Conflict, "this conflicts with an existing record"),
    (pg.ForeignKeyViolation, Invalid, "a referenced record does not exist"),
    (pg.CheckViolation, Invalid, "a value breaks a rule of the data model"),
    (pg.NotNullViolation, Invalid, "a required value is missing"),
    (pg.StringDataRightTruncation, Invalid, "a value is too long"),
    (pg.InvalidTextRepresentation, Invalid, "a value has the wrong format"),
    (pg.UntranslatableCharacter, Invalid, "a value contains a character that cannot be stored"),
    (pg.CharacterNotInRepertoire, Invalid, "a value contains a character that cannot be stored"),
    (pg.ProgramLimitExceeded, Invalid, "a value is too large to store or index"),
    (pg.RestrictViolation, Conflict, "this record is still referenced"),
    # Row-level security's WITH CHECK (migration 0012): a write outside the namespace.
    (pg.InsufficientPrivilege, Forbidden, "this would write outside the request's namespace"),
]


# Citus passes a worker's error on without its constraint field (docs/scaling.md): the name
# is then read from the message (a shard's copy of a constraint carries the shard id as a
# suffix) or from the hint the triggers add (migration 0014).
_IN_MESSAGE = re.compile(r'constraint "([a-z0-9_]+?)(?:_[0-9]+)?"')
_IN_HINT = re.compile(r"constraint: ([a-z0-9_]+)")


def _constraint(diag) -> str | None:
    if diag is None:
        return None
    if diag.constraint_name:
        return diag.constraint_name
    found = (_IN_HINT.fullmatch(diag.message_hint or "")
             or _IN_MESSAGE.search(diag.message_primary or ""))
    return found.group(1) if found else None


def to_domain_error(exc: psycopg.Error) -> MimirError | None:
    """The domain error for a database error, or None when it is not the client's doing."""
    diag = getattr(exc, "diag", None)
    constraint = _constraint(diag)
    if isinstance(exc, pg.RestrictViolation) and constraint and constraint.startswith("fk_"):
        # A delete refused by a foreign key carries the key's name, like a failed insert.
        return Conflict("this record is still referenced and cannot be removed",
                        details={"constraint": constraint})
    if constraint in _BY_CONSTRAINT:
        cls, message = _BY_CONSTRAINT[constraint]
        text = message or (diag.message_primary if diag is not None else None) or cls.code
        return cls(text, details={"constraint": constraint})
    for pg_class, cls, message in _BY_CLASS:
        if isinstance(exc, pg_class):
            details = {"constraint": constraint} if constraint else {}
            return cls(message, details=details)
    return None


@contextmanager
def translate_errors() -> Iterator[None]:
    """Re-raise constraint violations as Conflict / Invalid; let anything else through."""
    try:
        yield
    except psycopg.Error as exc:
        domain = to_domain_error(exc)
        if domain is None:
            raise
        raise domain from exc
