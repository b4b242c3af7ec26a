"""Every rule the schema enforces, proven against the real database: each rejection asserts
the psycopg error class and the constraint name (what mimir.db.errors maps), and each rule
also has the valid row accepted, so every test can fail both ways."""

from __future__ import annotations

import hashlib
import threading
import time
import unicodedata
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import errors, sql
from psycopg.types.json import Jsonb

# --- helpers -----------------------------------------------------------------------------


def sha256_hex(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def _insert(conn: psycopg.Connection, table: str, **values) -> uuid.UUID:
    """INSERT one row (dicts and lists go in as jsonb) and return its id."""
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING id").format(
        sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, values)),
        sql.SQL(", ").join(sql.Placeholder() * len(values)),
    )
    params = [Jsonb(v) if isinstance(v, dict | list) else v for v in values.values()]
    return conn.execute(query, params).fetchone()[0]


def _one(conn: psycopg.Connection, query: str, *params):
    return conn.execute(query, params).fetchone()


def make_artifact(conn, *, kind="note", **cols) -> uuid.UUID:
    return _insert(conn, "artifacts", kind=kind, **cols)


def make_version(conn, *, artifact_id=None, number=1, content="hello world", content_hash=None,
                 **cols) -> uuid.UUID:
    return _insert(
        conn, "artifact_versions",
        artifact_id=artifact_id or make_artifact(conn), version_number=number, content=content,
        content_hash=sha256_hex(content) if content_hash is None else content_hash, **cols,
    )


def make_span(conn, *, version_id=None, start=0, end=5, **cols) -> uuid.UUID:
    return _insert(conn, "spans", version_id=version_id or make_version(conn),
                   start_offset=start, end_offset=end, **cols)


def make_group(conn, *, name="a group", **cols) -> uuid.UUID:
    return _insert(conn, "intent_groups", name=name, **cols)


def make_intent(conn, *, statement="ship the importer", **cols) -> uuid.UUID:
    return _insert(conn, "intents", statement=statement, **cols)


def make_decision(conn, *, statement="use PostgreSQL", **cols) -> uuid.UUID:
    return _insert(conn, "decisions", statement=statement, **cols)


def make_relation(conn, *, source=None, target=None, relation_type="relates_to",
                  **cols) -> uuid.UUID:
    """source and target are (entity_type, id); each defaults to a new artifact."""
    source_type, source_id = source or ("artifact", make_artifact(conn))
    target_type, target_id = target or ("artifact", make_artifact(conn))
    return _insert(conn, "relations", source_type=source_type, source_id=source_id,
                   relation_type=relation_type, target_type=target_type, target_id=target_id,
                   **cols)


def make_provenance(conn, *, target=None, **cols) -> uuid.UUID:
    target_type, target_id = target or ("intent", make_intent(conn))
    return _insert(conn, "provenance", target_type=target_type, target_id=target_id, **cols)


def make_evidence(conn, *, provenance_id, span_id, position=0) -> None:
    conn.execute(
        "INSERT INTO provenance_evidence (provenance_id, span_id, position) VALUES (%s, %s, %s)",
        (provenance_id, span_id, position),
    )


def make_space(conn, *, name="test-space", dimensions=3, model="test-model",
               **cols) -> uuid.UUID:
    return _insert(conn, "embedding_spaces", name=name, model=model, dimensions=dimensions,
                   **cols)


def make_embedding(conn, *, space_id=None, target=None, vector="[1,2,3]") -> uuid.UUID:
    target_type, target_id = target or ("intent", make_intent(conn))
    return _insert(conn, "embeddings", space_id=space_id or make_space(conn),
                   target_type=target_type, target_id=target_id, embedding=vector)


# Blank strings that the *_not_blank checks must reject. btrim() strips only spaces, so
# tabs and newlines get through: a schema bug, kept visible as strict xfails.
BLANKS = [
    "", " ", "    ",
    *(pytest.param(blank, id=repr(blank), marks=pytest.mark.xfail(
        strict=True, reason="schema bug: length(btrim(x)) > 0 treats only spaces as blank"))
      for blank in ("\t", "\n", " \r\n ")),
]

# Something of every entity type, for the polymorphic references.
ENTITY_MAKERS = {
    "artifact": make_artifact,
    "artifact_version": make_version,
    "intent": make_intent,
    "intent_group": make_group,
    "decision": make_decision,
    "span": make_span,
    "relation": make_relation,
}


@contextmanager
def rejected(error: type[psycopg.Error], constraint: str | None) -> Iterator[pytest.ExceptionInfo]:
    """The block fails with exactly this error class, naming this constraint."""
    with pytest.raises(error) as exc:
        yield exc
    assert type(exc.value) is error
    assert exc.value.diag.constraint_name == constraint


def _count(conn, table: str) -> int:
    return _one(conn, sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))[0]


def _wait_until_blocked(conn, pid: int, timeout: float = 10.0) -> None:
    """Wait until backend `pid` is waiting on a lock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = _one(conn, "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", pid)
        if row and row[0] == "Lock":
            return
        time.sleep(0.02)
    raise AssertionError(f"backend {pid} never blocked on a lock")


@pytest.fixture
def conn(db_conninfo) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db_conninfo, autocommit=True) as connection:
        yield connection


# --- tests -------------------------------------------------------------------------------


class TestGenericRules:
    @pytest.mark.parametrize(
        ("table", "make", "column"),
        [
            ("artifacts", make_artifact, "metadata"),
            ("artifact_versions", make_version, "metadata"),
            ("spans", make_span, "metadata"),
            ("intent_groups", make_group, "metadata"),
            ("intents", make_intent, "metadata"),
            ("decisions", make_decision, "metadata"),
            ("relations", make_relation, "metadata"),
            ("provenance", make_provenance, "parameters"),
            ("embedding_spaces", make_space, "metadata"),
        ],
    )
    @pytest.mark.parametrize("not_an_object", [[], [1], "text", 1, None])
    def test_json_columns_must_be_objects(self, conn, table, make, column, not_an_object):
        """Every jsonb metadata/parameters column takes a JSON object and nothing else."""
        make(conn, **{column: {"k": ["v", 1]}})
        with rejected(errors.CheckViolation, f"ck_{table}_{column}_is_object"):
            make(conn, **{column: Jsonb(not_an_object)})

    @pytest.mark.parametrize(
        ("make", "column"),
        [
            (make_artifact, "kind"),
            (make_intent, "statement"),
            (make_relation, "relation_type"),
            (make_space, "dimensions"),
        ],
    )
    def test_required_columns_reject_null(self, conn, make, column):
        """NOT NULL columns reject NULL; PostgreSQL names the column, not a constraint."""
        make(conn)
        with rejected(errors.NotNullViolation, None) as exc:
            make(conn, **{column: None})
        assert exc.value.diag.column_name == column

    @pytest.mark.parametrize(
        ("make", "column", "enum"),
        [
            (make_artifact, "kind", "artifact_kind"),
            (make_group, "status", "intent_group_status"),
            (make_intent, "status", "intent_status"),
            (make_decision, "status", "decision_status"),
            (make_space, "distance", "embedding_distance"),
        ],
    )
    def test_unknown_enum_values_rejected(self, conn, make, column, enum):
        """Enum columns reject labels outside the type (there is no constraint to name)."""
        with rejected(errors.InvalidTextRepresentation, None) as exc:
            make(conn, **{column: "no_such_label"})
        assert f"invalid input value for enum {enum}" in str(exc.value)


class TestArtifacts:
    def test_external_id_unique_per_source_only_when_set(self, conn):
        """(source, external_id) is unique when external_id is set; NULLs never collide."""
        make_artifact(conn, source="slack")
        make_artifact(conn, source="slack")
        make_artifact(conn, source="slack", external_id="T1")
        make_artifact(conn, source="github", external_id="T1")
        with rejected(errors.UniqueViolation, "uq_artifacts_source_external_id"):
            make_artifact(conn, source="slack", external_id="T1")
        assert _count(conn, "artifacts") == 4

    @pytest.mark.parametrize("source", BLANKS)
    def test_blank_source_rejected(self, conn, source):
        """source must have a non-blank character."""
        make_artifact(conn, source=" s ")
        with rejected(errors.CheckViolation, "ck_artifacts_source_not_blank"):
            make_artifact(conn, source=source)

    def test_source_defaults_to_api(self, conn):
        """An artifact without a source is recorded as coming from the API."""
        artifact_id = make_artifact(conn)
        assert _one(conn, "SELECT source FROM artifacts WHERE id = %s", artifact_id) == ("api",)

    def test_empty_external_id_rejected(self, conn):
        """external_id is NULL or non-empty."""
        make_artifact(conn, external_id="x")
        with rejected(errors.CheckViolation, "ck_artifacts_external_id_not_blank"):
            make_artifact(conn, external_id="")

    def test_artifact_with_versions_cannot_be_deleted(self, conn):
        """Deleting an artifact that has versions is restricted; one without versions goes."""
        bare = make_artifact(conn)
        conn.execute("DELETE FROM artifacts WHERE id = %s", (bare,))
        version_id = make_version(conn)
        artifact_id = _one(conn, "SELECT artifact_id FROM artifact_versions WHERE id = %s",
                           version_id)[0]
        with rejected(errors.RestrictViolation, "fk_artifact_versions_artifact_id_artifacts"):
            conn.execute("DELETE FROM artifacts WHERE id = %s", (artifact_id,))


class TestArtifactVersionsAppendOnly:
    @pytest.mark.parametrize(
        "statement",
        [
            "UPDATE artifact_versions SET metadata = '{\"x\": 1}' WHERE id = %(id)s",
            ("UPDATE artifact_versions SET content = 'changed', "
             "content_hash = encode(sha256('changed'::bytea), 'hex') WHERE id = %(id)s"),
            "UPDATE artifact_versions SET version_number = version_number WHERE id = %(id)s",
            "DELETE FROM artifact_versions WHERE id = %(id)s",
            "TRUNCATE artifact_versions CASCADE",
            "TRUNCATE artifacts CASCADE",
        ],
    )
    def test_versions_cannot_change(self, conn, statement):
        """UPDATE, DELETE and TRUNCATE of versions are rejected and leave the row intact."""
        version_id = make_version(conn, metadata={"a": 1})
        make_span(conn, version_id=version_id)
        before = _one(conn, "SELECT * FROM artifact_versions WHERE id = %s", version_id)
        with rejected(errors.RestrictViolation, "artifact_versions_append_only"):
            conn.execute(statement, {"id": version_id})
        assert _one(conn, "SELECT * FROM artifact_versions WHERE id = %s", version_id) == before
        assert _count(conn, "spans") == 1

    def test_plain_truncate_blocked_by_references_first(self, conn):
        """TRUNCATE without CASCADE fails on the spans reference before the trigger runs."""
        make_version(conn)
        with pytest.raises(errors.FeatureNotSupported):
            conn.execute("TRUNCATE artifact_versions")
        assert _count(conn, "artifact_versions") == 1

    def test_version_referenced_by_spans_cannot_be_deleted(self, conn):
        """The append-only trigger fires before the span foreign key would."""
        version_id = make_version(conn)
        make_span(conn, version_id=version_id)
        with rejected(errors.RestrictViolation, "artifact_versions_append_only"):
            conn.execute("DELETE FROM artifact_versions WHERE id = %s", (version_id,))

    def test_inserting_more_versions_is_allowed(self, conn):
        """Append-only still means appending works."""
        artifact_id = make_artifact(conn)
        for number in (1, 2, 3):
            make_version(conn, artifact_id=artifact_id, number=number, content=f"v{number}")
        assert _count(conn, "artifact_versions") == 3


class TestVersionNumbering:
    def test_sequential_versions_accepted(self, conn):
        """Versions 1 then 2 of an artifact are accepted; another artifact starts at 1."""
        artifact_id = make_artifact(conn)
        make_version(conn, artifact_id=artifact_id, number=1)
        make_version(conn, artifact_id=artifact_id, number=2)
        make_version(conn, number=1)
        rows = conn.execute(
            "SELECT version_number FROM artifact_versions WHERE artifact_id = %s ORDER BY 1",
            (artifact_id,),
        ).fetchall()
        assert rows == [(1,), (2,)]

    @pytest.mark.parametrize(("number", "message"), [(3, "version 3"), (0, "version 0"),
                                                     (-1, "version -1"), (1, "version 1")])
    def test_next_version_must_be_latest_plus_one(self, conn, number, message):
        """With version 1 present, anything but 2 (a gap, 0, a negative, a duplicate) is
        rejected by the gap-free trigger, which names the expected next number."""
        artifact_id = make_artifact(conn)
        make_version(conn, artifact_id=artifact_id, number=1)
        with rejected(errors.CheckViolation, "artifact_versions_gap_free") as exc:
            make_version(conn, artifact_id=artifact_id, number=number)
        assert f"{message} of artifact {artifact_id} would leave a gap" in str(exc.value)
        assert "the next version is 2" in str(exc.value)
        make_version(conn, artifact_id=artifact_id, number=2)

    def test_first_version_must_be_one(self, conn):
        """An artifact's first version is 1: 2 and 0 are rejected by the gap-free trigger."""
        artifact_id = make_artifact(conn)
        for number in (2, 0):
            with rejected(errors.CheckViolation, "artifact_versions_gap_free"):
                make_version(conn, artifact_id=artifact_id, number=number)
        make_version(conn, artifact_id=artifact_id, number=1)

    def test_positive_check_backs_up_the_trigger(self, conn):
        """Behind the trigger (disabled here), a CHECK still rejects version_number < 1."""
        conn.execute("ALTER TABLE artifact_versions DISABLE TRIGGER trg_artifact_versions_gap_free")
        artifact_id = make_artifact(conn)
        make_version(conn, artifact_id=artifact_id, number=7)
        with rejected(errors.CheckViolation, "ck_artifact_versions_version_number_positive"):
            make_version(conn, artifact_id=artifact_id, number=0)

    def test_concurrent_writers_settled_by_unique_constraint(self, conn, db_conninfo):
        """Two transactions that both read "latest is none" and insert version 1: the second
        waits for the first, then fails on the unique constraint."""
        artifact_id = make_artifact(conn)
        outcome: dict[str, BaseException] = {}
        with psycopg.connect(db_conninfo) as first, psycopg.connect(db_conninfo) as second:
            make_version(first, artifact_id=artifact_id, number=1, content="first")

            def insert_same_number() -> None:
                try:
                    make_version(second, artifact_id=artifact_id, number=1, content="second")
                except psycopg.Error as exc:
                    outcome["error"] = exc
                    second.rollback()

            thread = threading.Thread(target=insert_same_number)
            thread.start()
            _wait_until_blocked(conn, second.info.backend_pid)
            first.commit()
            thread.join(timeout=10)
        error = outcome.get("error")
        assert type(error) is errors.UniqueViolation
        assert error.diag.constraint_name == "uq_artifact_versions_artifact_id_version_number"
        assert _one(conn, "SELECT content FROM artifact_versions WHERE artifact_id = %s",
                    artifact_id) == ("first",)

    def test_version_needs_an_existing_artifact(self, conn):
        """artifact_id references artifacts."""
        with rejected(errors.ForeignKeyViolation, "fk_artifact_versions_artifact_id_artifacts"):
            make_version(conn, artifact_id=uuid.uuid4())


UNICODE_CONTENT = "Café naïve 😀 e\u0301 👩\u200d👩\u200d👧 日本語 Ωmega"


class TestVersionContent:
    def test_hash_of_utf8_content_accepted(self, conn):
        """content_hash computed by Python (sha256 of UTF-8, lowercase hex) is accepted."""
        content_hash = sha256_hex(UNICODE_CONTENT)
        version_id = make_version(conn, content=UNICODE_CONTENT, content_hash=content_hash)
        row = _one(conn, "SELECT content, content_hash FROM artifact_versions WHERE id = %s",
                   version_id)
        assert row == (UNICODE_CONTENT, content_hash)

    @pytest.mark.parametrize(
        "wrong_hash",
        [
            sha256_hex(UNICODE_CONTENT).upper(),
            hashlib.sha256(UNICODE_CONTENT.encode("utf-16")).hexdigest(),
            sha256_hex(unicodedata.normalize("NFC", UNICODE_CONTENT)),
            sha256_hex(UNICODE_CONTENT + " "),
            hashlib.sha1(UNICODE_CONTENT.encode()).hexdigest(),
            "",
        ],
        ids=["uppercase", "utf16", "nfc-normalized", "other-content", "sha1", "empty"],
    )
    def test_wrong_hash_rejected(self, conn, wrong_hash):
        """Any content_hash other than the lowercase SHA-256 hex of the UTF-8 bytes fails."""
        with rejected(errors.CheckViolation, "ck_artifact_versions_content_hash_is_sha256"):
            make_version(conn, content=UNICODE_CONTENT, content_hash=wrong_hash)
        make_version(conn, content=UNICODE_CONTENT)

    @pytest.mark.parametrize("content", [UNICODE_CONTENT, "", "abc", "😀" * 5, "e\u0301" * 3])
    def test_content_length_counts_code_points(self, conn, content):
        """The generated content_length equals Python's len(str), not the UTF-8 byte count."""
        version_id = make_version(conn, content=content)
        length = _one(conn, "SELECT content_length FROM artifact_versions WHERE id = %s",
                      version_id)[0]
        assert length == len(content)

    def test_generated_columns_cannot_be_written(self, conn):
        """content_length is generated: an explicit value is refused."""
        with pytest.raises(errors.GeneratedAlways):
            make_version(conn, content_length=3)

    def test_search_vector_populated(self, conn):
        """search_vector is an English tsvector of the content (stemmed, searchable)."""
        version_id = make_version(conn, content="The runners were running past Café Ω 😀")
        matched, vector = _one(
            conn,
            "SELECT search_vector @@ plainto_tsquery('english', 'run'), search_vector::text "
            "FROM artifact_versions WHERE id = %s",
            version_id,
        )
        assert matched is True
        assert "'runner'" in vector and "'café'" in vector
        other = make_version(conn, content="nothing relevant")
        assert _one(conn, "SELECT search_vector @@ plainto_tsquery('english', 'run') "
                    "FROM artifact_versions WHERE id = %s", other) == (False,)


class TestSpans:
    @pytest.mark.parametrize(("start", "end"), [(-1, 3), (3, 3), (4, 3), (0, 0)])
    def test_offsets_must_be_ordered_and_non_negative(self, conn, start, end):
        """start_offset >= 0 and start_offset < end_offset (no empty or reversed spans)."""
        version_id = make_version(conn, content="0123456789")
        make_span(conn, version_id=version_id, start=0, end=1)
        with rejected(errors.CheckViolation, "ck_spans_offsets_ordered"):
            make_span(conn, version_id=version_id, start=start, end=end)

    def test_end_beyond_content_rejected_with_valid_range(self, conn):
        """end_offset may equal the content length but not exceed it; the error states the
        valid range."""
        version_id = make_version(conn, content="0123456789")
        make_span(conn, version_id=version_id, start=0, end=10)
        with rejected(errors.CheckViolation, "spans_within_version") as exc:
            make_span(conn, version_id=version_id, start=5, end=11)
        assert "span [5, 11) lies outside its version" in str(exc.value)
        assert "offsets must be within [0, 10]" in str(exc.value)

    def test_offsets_are_code_points(self, conn):
        """Offsets count code points like Python: a span over the last characters of emoji
        content ends at len(content), and one more is rejected (bytes would allow far more)."""
        content = "😀😀😀ab"
        version_id = make_version(conn, content=content)
        span_id = make_span(conn, version_id=version_id, start=3, end=len(content))
        text = _one(
            conn,
            "SELECT substr(v.content, s.start_offset + 1, s.end_offset - s.start_offset) "
            "FROM spans s JOIN artifact_versions v ON v.id = s.version_id WHERE s.id = %s",
            span_id,
        )[0]
        assert text == content[3:] == "ab"
        with rejected(errors.CheckViolation, "spans_within_version") as exc:
            make_span(conn, version_id=version_id, start=0, end=len(content) + 1)
        assert f"within [0, {len(content)}]" in str(exc.value)
        assert len(content.encode()) > len(content) + 1

    def test_moving_a_span_out_of_its_version_rejected(self, conn):
        """The range rule also holds on UPDATE of offsets or version."""
        short = make_version(conn, content="short")
        long = make_version(conn, content="a much longer content")
        span_id = make_span(conn, version_id=long, start=0, end=12)
        conn.execute("UPDATE spans SET end_offset = 21 WHERE id = %s", (span_id,))
        with rejected(errors.CheckViolation, "spans_within_version"):
            conn.execute("UPDATE spans SET end_offset = 22 WHERE id = %s", (span_id,))
        with rejected(errors.CheckViolation, "spans_within_version"):
            conn.execute("UPDATE spans SET version_id = %s WHERE id = %s", (short, span_id))

    @pytest.mark.parametrize("span_type", ["Quote", "1st", "has space", "", "ü", "a-b",
                                           "a" * 65])
    def test_span_type_format(self, conn, span_type):
        """span_type is lowercase snake_case starting with a letter, at most 64 chars."""
        for valid in ("quote", "a1_b", "a" * 64):
            make_span(conn, span_type=valid)
        with rejected(errors.CheckViolation, "ck_spans_span_type_format"):
            make_span(conn, span_type=span_type)

    def test_span_needs_an_existing_version(self, conn):
        """version_id references artifact_versions."""
        with rejected(errors.ForeignKeyViolation, "fk_spans_version_id_artifact_versions"):
            make_span(conn, version_id=uuid.uuid4())


class TestIntentGroups:
    def _merge(self, conn, group_id, into_id) -> None:
        conn.execute(
            "UPDATE intent_groups SET status = 'merged', merged_into_id = %s WHERE id = %s",
            (into_id, group_id),
        )

    def test_self_merge_rejected(self, conn):
        """A group cannot be merged into itself, on INSERT or on UPDATE."""
        own_id = uuid.uuid4()
        with rejected(errors.CheckViolation, "ck_intent_groups_no_self_merge"):
            make_group(conn, id=own_id, status="merged", merged_into_id=own_id)
        group_id = make_group(conn)
        with rejected(errors.CheckViolation, "ck_intent_groups_no_self_merge"):
            self._merge(conn, group_id, group_id)
        self._merge(conn, group_id, make_group(conn))

    @pytest.mark.parametrize(("status", "has_target"),
                             [("merged", False), ("active", True), ("deprecated", True)])
    def test_merged_iff_target(self, conn, status, has_target):
        """status 'merged' requires merged_into_id and merged_into_id requires 'merged'."""
        target = make_group(conn)
        make_group(conn, status="merged", merged_into_id=target)
        make_group(conn, status=status if has_target else "active")
        with rejected(errors.CheckViolation, "ck_intent_groups_merged_has_target"):
            make_group(conn, status=status, merged_into_id=target if has_target else None)

    def test_cannot_merge_into_a_merged_group(self, conn):
        """Merging into a group that is itself merged is rejected; into active or deprecated
        groups it is accepted."""
        final, merged = make_group(conn), make_group(conn)
        self._merge(conn, merged, final)
        deprecated = make_group(conn, status="deprecated")
        self._merge(conn, make_group(conn), deprecated)
        with rejected(errors.CheckViolation, "intent_groups_merge_target_active") as exc:
            self._merge(conn, make_group(conn), merged)
        assert str(merged) in str(exc.value)

    @pytest.mark.parametrize(
        "statement",
        [
            "UPDATE intent_groups SET name = 'renamed' WHERE id = %(id)s",
            "UPDATE intent_groups SET status = 'active', merged_into_id = NULL WHERE id = %(id)s",
            "UPDATE intent_groups SET merged_into_id = %(other)s WHERE id = %(id)s",
            "UPDATE intent_groups SET updated_at = now() WHERE id = %(id)s",
        ],
    )
    def test_merged_group_is_final(self, conn, statement):
        """A merged group never changes again (un-merge, re-target, rename), while an active
        group can still be renamed."""
        group_id, target, other = make_group(conn), make_group(conn), make_group(conn)
        conn.execute("UPDATE intent_groups SET name = 'renamed' WHERE id = %s", (other,))
        self._merge(conn, group_id, target)
        before = _one(conn, "SELECT * FROM intent_groups WHERE id = %s", group_id)
        with rejected(errors.CheckViolation, "intent_groups_merged_is_final"):
            conn.execute(statement, {"id": group_id, "other": other})
        assert _one(conn, "SELECT * FROM intent_groups WHERE id = %s", group_id) == before

    def test_merge_target_must_exist_and_stay(self, conn):
        """merged_into_id references a group, which then cannot be deleted."""
        with rejected(errors.ForeignKeyViolation, "fk_intent_groups_merged_into_id_intent_groups"):
            make_group(conn, status="merged", merged_into_id=uuid.uuid4())
        target = make_group(conn)
        self._merge(conn, make_group(conn), target)
        with rejected(errors.RestrictViolation, "fk_intent_groups_merged_into_id_intent_groups"):
            conn.execute("DELETE FROM intent_groups WHERE id = %s", (target,))

    @pytest.mark.parametrize("name", BLANKS)
    def test_blank_name_rejected(self, conn, name):
        """A group's name must have a non-blank character."""
        make_group(conn, name="x")
        with rejected(errors.CheckViolation, "ck_intent_groups_name_not_blank"):
            make_group(conn, name=name)

    @pytest.mark.xfail(strict=True, reason="schema bug: trg_intent_groups_merge is BEFORE UPDATE "
                       "only, so an INSERT can merge into an already merged group")
    def test_insert_cannot_merge_into_a_merged_group(self, conn):
        """The merge-target rule also holds for a group inserted as already merged."""
        merged = make_group(conn)
        self._merge(conn, merged, make_group(conn))
        with rejected(errors.CheckViolation, "intent_groups_merge_target_active"):
            make_group(conn, status="merged", merged_into_id=merged)

    @pytest.mark.xfail(strict=True, reason="schema bug: trg_intent_groups_merge does not run "
                       "on INSERT, so one multi-row INSERT can create a merge cycle")
    def test_insert_cannot_create_a_merge_cycle(self, conn):
        """No single statement can create groups merged into each other."""
        a, b = uuid.uuid4(), uuid.uuid4()
        with pytest.raises(errors.CheckViolation):
            conn.execute(
                "INSERT INTO intent_groups (id, name, status, merged_into_id) "
                "VALUES (%s, 'a', 'merged', %s), (%s, 'b', 'merged', %s)",
                (a, b, b, a),
            )

    @pytest.mark.xfail(strict=True, reason="schema bug: the merge trigger reads the target's "
                       "status without locking it, so two concurrent merges form a cycle")
    def test_concurrent_merges_cannot_form_a_cycle(self, conn, db_conninfo):
        """Merging A into B and B into A in two concurrent transactions leaves no cycle."""
        a, b = make_group(conn), make_group(conn)
        with (psycopg.connect(db_conninfo) as first,
              psycopg.connect(db_conninfo, options="-c lock_timeout=2s") as second):
            self._merge(first, a, b)
            try:
                self._merge(second, b, a)
                second.commit()
            except psycopg.Error:
                second.rollback()
            first.commit()
        cycles = _one(conn, "SELECT count(*) FROM intent_groups g JOIN intent_groups t "
                      "ON t.id = g.merged_into_id WHERE t.merged_into_id = g.id")[0]
        assert cycles == 0


class TestIntents:
    def _set_status(self, conn, intent_id, status) -> None:
        conn.execute("UPDATE intents SET status = %s WHERE id = %s", (status, intent_id))

    @pytest.mark.parametrize("path", [("accepted",), ("rejected",), ("proposed", "accepted"),
                                      ("accepted", "accepted")])
    def test_allowed_transitions(self, conn, path):
        """proposed -> accepted | rejected, and re-stating the current status, are allowed."""
        intent_id = make_intent(conn)
        for status in path:
            self._set_status(conn, intent_id, status)
        assert _one(conn, "SELECT status FROM intents WHERE id = %s", intent_id) == (path[-1],)

    @pytest.mark.parametrize(("reached", "forbidden"),
                             [("accepted", "rejected"), ("accepted", "proposed"),
                              ("rejected", "proposed"), ("rejected", "accepted")])
    def test_final_statuses_cannot_change(self, conn, reached, forbidden):
        """accepted and rejected are final: any further status change is rejected."""
        intent_id = make_intent(conn)
        self._set_status(conn, intent_id, reached)
        with rejected(errors.CheckViolation, "intents_status_transition") as exc:
            self._set_status(conn, intent_id, forbidden)
        assert f"is {reached} and cannot become {forbidden}" in str(exc.value)
        assert _one(conn, "SELECT status FROM intents WHERE id = %s", intent_id) == (reached,)
        conn.execute("UPDATE intents SET statement = 'still editable' WHERE id = %s",
                     (intent_id,))

    @pytest.mark.parametrize("confidence", [-0.01, 1.01, float("nan"), float("inf"), -1e-9])
    def test_confidence_in_unit_interval(self, conn, confidence):
        """confidence is NULL or within [0, 1] (NaN and infinities rejected)."""
        for valid in (None, 0.0, 0.5, 1.0):
            make_intent(conn, confidence=valid)
        with rejected(errors.CheckViolation, "ck_intents_confidence_range"):
            make_intent(conn, confidence=confidence)

    @pytest.mark.parametrize("statement", BLANKS)
    def test_blank_statement_rejected(self, conn, statement):
        """An intent's statement must have a non-blank character."""
        make_intent(conn, statement=" x ")
        with rejected(errors.CheckViolation, "ck_intents_statement_not_blank"):
            make_intent(conn, statement=statement)

    def test_group_reference(self, conn):
        """group_id must reference a group; deleting the group clears it."""
        with rejected(errors.ForeignKeyViolation, "fk_intents_group_id_intent_groups"):
            make_intent(conn, group_id=uuid.uuid4())
        group_id = make_group(conn)
        intent_id = make_intent(conn, group_id=group_id)
        conn.execute("DELETE FROM intent_groups WHERE id = %s", (group_id,))
        assert _one(conn, "SELECT group_id FROM intents WHERE id = %s", intent_id) == (None,)


class TestDecisions:
    @pytest.mark.parametrize(("status", "with_successor"),
                             [("superseded", False), ("active", True), ("tentative", True)])
    def test_superseded_iff_successor(self, conn, status, with_successor):
        """status 'superseded' requires superseded_by_id, and superseded_by_id requires it."""
        make_decision(conn, status="superseded", superseded_by_id=make_decision(conn))
        make_decision(conn, status=status if with_successor else "active")
        successor = make_decision(conn) if with_successor else None
        with rejected(errors.CheckViolation, "ck_decisions_superseded_has_successor"):
            make_decision(conn, status=status, superseded_by_id=successor)

    def test_self_supersede_rejected(self, conn):
        """A decision cannot supersede itself, on INSERT or on UPDATE."""
        own_id = uuid.uuid4()
        with rejected(errors.CheckViolation, "ck_decisions_not_self_superseded"):
            make_decision(conn, id=own_id, status="superseded", superseded_by_id=own_id)
        decision_id = make_decision(conn)
        with rejected(errors.CheckViolation, "ck_decisions_not_self_superseded"):
            conn.execute("UPDATE decisions SET status = 'superseded', superseded_by_id = id "
                         "WHERE id = %s", (decision_id,))

    def test_one_successor_supersedes_one_decision(self, conn):
        """Two decisions cannot be superseded by the same one."""
        successor = make_decision(conn)
        make_decision(conn, status="superseded", superseded_by_id=successor)
        make_decision(conn, status="superseded", superseded_by_id=make_decision(conn))
        with rejected(errors.UniqueViolation, "uq_decisions_superseded_by_id"):
            make_decision(conn, status="superseded", superseded_by_id=successor)

    def test_successor_must_exist_and_stay(self, conn):
        """superseded_by_id references a decision, which then cannot be deleted."""
        fk = "fk_decisions_superseded_by_id_decisions"
        with rejected(errors.ForeignKeyViolation, fk):
            make_decision(conn, status="superseded", superseded_by_id=uuid.uuid4())
        successor = make_decision(conn)
        make_decision(conn, status="superseded", superseded_by_id=successor)
        with rejected(errors.RestrictViolation, fk):
            conn.execute("DELETE FROM decisions WHERE id = %s", (successor,))

    @pytest.mark.parametrize("statement", BLANKS)
    def test_blank_statement_rejected(self, conn, statement):
        """A decision's statement must have a non-blank character."""
        make_decision(conn, statement="x")
        with rejected(errors.CheckViolation, "ck_decisions_statement_not_blank"):
            make_decision(conn, statement=statement)


class TestRelations:
    @pytest.mark.parametrize("entity_type", list(ENTITY_MAKERS))
    def test_both_ends_must_exist(self, conn, entity_type):
        """Each end must name an existing entity of that type: a real one is accepted, a
        random id is rejected as source or as target."""
        real = (entity_type, ENTITY_MAKERS[entity_type](conn))
        make_relation(conn, source=real)
        make_relation(conn, target=real)
        missing = (entity_type, uuid.uuid4())
        with rejected(errors.ForeignKeyViolation, "relations_source_exists") as exc:
            make_relation(conn, source=missing)
        assert f"relation source {entity_type} {missing[1]} does not exist" in str(exc.value)
        with rejected(errors.ForeignKeyViolation, "relations_target_exists"):
            make_relation(conn, target=missing)

    def test_end_of_the_wrong_type_rejected(self, conn):
        """An existing id under the wrong entity type does not count as existing."""
        intent_id = make_intent(conn)
        make_relation(conn, source=("intent", intent_id))
        with rejected(errors.ForeignKeyViolation, "relations_source_exists"):
            make_relation(conn, source=("decision", intent_id))
        with rejected(errors.ForeignKeyViolation, "relations_target_exists"):
            make_relation(conn, target=("artifact", intent_id))

    def test_ends_checked_on_update(self, conn):
        """Re-pointing a relation at a missing entity is rejected too."""
        relation_id = make_relation(conn)
        conn.execute("UPDATE relations SET target_id = %s WHERE id = %s",
                     (make_artifact(conn), relation_id))
        with rejected(errors.ForeignKeyViolation, "relations_target_exists"):
            conn.execute("UPDATE relations SET target_id = %s WHERE id = %s",
                         (uuid.uuid4(), relation_id))

    def test_unknown_entity_type_rejected(self, conn):
        """source_type and target_type are entity_type enum values."""
        with rejected(errors.InvalidTextRepresentation, None):
            make_relation(conn, source=("user", make_artifact(conn)))
        with rejected(errors.InvalidTextRepresentation, None):
            make_relation(conn, target=("Artifact", make_artifact(conn)))

    def test_duplicate_edge_rejected(self, conn):
        """The same (source, relation_type, target) edge exists once; other types or the
        reverse direction are distinct edges."""
        a, b = ("artifact", make_artifact(conn)), ("artifact", make_artifact(conn))
        make_relation(conn, source=a, target=b, relation_type="cites")
        make_relation(conn, source=a, target=b, relation_type="refutes")
        make_relation(conn, source=b, target=a, relation_type="cites")
        with rejected(errors.UniqueViolation, "uq_relations_edge"):
            make_relation(conn, source=a, target=b, relation_type="cites")

    def test_self_loop_rejected(self, conn):
        """An entity cannot relate to itself; the same uuid under another type is not a loop."""
        artifact_id = make_artifact(conn)
        make_intent(conn, id=artifact_id)
        make_relation(conn, source=("artifact", artifact_id), target=("intent", artifact_id))
        with rejected(errors.CheckViolation, "ck_relations_not_self_loop"):
            make_relation(conn, source=("artifact", artifact_id),
                          target=("artifact", artifact_id))

    @pytest.mark.parametrize("relation_type", ["Cites", "2nd", "has space", "", "a-b",
                                               "a" * 65])
    def test_relation_type_format(self, conn, relation_type):
        """relation_type is lowercase snake_case starting with a letter, at most 64 chars."""
        for valid in ("cites", "derived_from_2", "a" * 64):
            make_relation(conn, relation_type=valid)
        with rejected(errors.CheckViolation, "ck_relations_relation_type_format"):
            make_relation(conn, relation_type=relation_type)


class TestProvenance:
    @pytest.mark.parametrize("entity_type", ["artifact_version", "intent", "decision", "span",
                                             "relation"])
    def test_target_must_exist(self, conn, entity_type):
        """Provenance targets an existing entity of its type."""
        make_provenance(conn, target=(entity_type, ENTITY_MAKERS[entity_type](conn)))
        with rejected(errors.ForeignKeyViolation, "provenance_target_exists"):
            make_provenance(conn, target=(entity_type, uuid.uuid4()))

    def test_target_checked_on_update(self, conn):
        """Re-pointing provenance at a missing entity is rejected."""
        provenance_id = make_provenance(conn)
        with rejected(errors.ForeignKeyViolation, "provenance_target_exists"):
            conn.execute("UPDATE provenance SET target_id = %s WHERE id = %s",
                         (uuid.uuid4(), provenance_id))

    def test_evidence_references_spans_and_provenance(self, conn):
        """Evidence rows need an existing span and provenance, once per pair."""
        provenance_id, span_id = make_provenance(conn), make_span(conn)
        make_evidence(conn, provenance_id=provenance_id, span_id=span_id)
        with rejected(errors.ForeignKeyViolation, "fk_provenance_evidence_span_id_spans"):
            make_evidence(conn, provenance_id=provenance_id, span_id=uuid.uuid4())
        with rejected(errors.ForeignKeyViolation,
                      "fk_provenance_evidence_provenance_id_provenance"):
            make_evidence(conn, provenance_id=uuid.uuid4(), span_id=span_id)
        with rejected(errors.UniqueViolation, "pk_provenance_evidence"):
            make_evidence(conn, provenance_id=provenance_id, span_id=span_id, position=1)

    def test_deleting_provenance_cascades_to_evidence(self, conn):
        """Deleting provenance removes its evidence rows but not the spans or other evidence."""
        kept, dropped = make_provenance(conn), make_provenance(conn)
        spans = [make_span(conn) for _ in range(2)]
        for position, span_id in enumerate(spans):
            make_evidence(conn, provenance_id=dropped, span_id=span_id, position=position)
        make_evidence(conn, provenance_id=kept, span_id=spans[0])
        conn.execute("DELETE FROM provenance WHERE id = %s", (dropped,))
        assert conn.execute("SELECT provenance_id FROM provenance_evidence").fetchall() == [
            (kept,)]
        assert _count(conn, "spans") == 2

    def test_span_used_as_evidence_cannot_be_deleted(self, conn):
        """A span cited as evidence is protected; an uncited one can be deleted."""
        conn.execute("DELETE FROM spans WHERE id = %s", (make_span(conn),))
        span_id = make_span(conn)
        make_evidence(conn, provenance_id=make_provenance(conn), span_id=span_id)
        with rejected(errors.RestrictViolation, "fk_provenance_evidence_span_id_spans"):
            conn.execute("DELETE FROM spans WHERE id = %s", (span_id,))


class TestEmbeddings:
    @pytest.mark.parametrize("vector", ["[1,2,3,4]", "[1,2]", "[1]"])
    def test_dimensions_must_match_space(self, conn, vector):
        """A vector must have exactly its space's dimensions, on INSERT and on UPDATE."""
        space_id = make_space(conn, dimensions=3)
        embedding_id = make_embedding(conn, space_id=space_id, vector="[1,2,3]")
        with rejected(errors.CheckViolation, "embeddings_dimensions_match") as exc:
            make_embedding(conn, space_id=space_id, vector=vector)
        assert "its space expects 3" in str(exc.value)
        with rejected(errors.CheckViolation, "embeddings_dimensions_match"):
            conn.execute("UPDATE embeddings SET embedding = %s WHERE id = %s",
                         (vector, embedding_id))

    def test_target_must_exist(self, conn):
        """An embedding's target is an existing entity of its type."""
        space_id = make_space(conn)
        for entity_type in ("intent", "decision", "span", "artifact_version"):
            make_embedding(conn, space_id=space_id,
                           target=(entity_type, ENTITY_MAKERS[entity_type](conn)))
        with rejected(errors.ForeignKeyViolation, "embeddings_target_exists"):
            make_embedding(conn, space_id=space_id, target=("intent", uuid.uuid4()))

    def test_space_must_exist_and_stay(self, conn):
        """space_id references a space, which cannot be deleted while it has embeddings."""
        with rejected(errors.ForeignKeyViolation, "fk_embeddings_space_id_embedding_spaces"):
            make_embedding(conn, space_id=uuid.uuid4())
        space_id = make_space(conn)
        make_embedding(conn, space_id=space_id)
        with rejected(errors.RestrictViolation, "fk_embeddings_space_id_embedding_spaces"):
            conn.execute("DELETE FROM embedding_spaces WHERE id = %s", (space_id,))

    def test_one_embedding_per_space_and_target(self, conn):
        """A target has at most one embedding per space, and one in each other space."""
        target = ("intent", make_intent(conn))
        first, second = make_space(conn, name="first"), make_space(conn, name="second")
        make_embedding(conn, space_id=first, target=target)
        make_embedding(conn, space_id=second, target=target)
        with rejected(errors.UniqueViolation, "uq_embeddings_space_id_target_type_target_id"):
            make_embedding(conn, space_id=first, target=target, vector="[3,2,1]")

    @pytest.mark.parametrize("dimensions", [0, -3, 16001])
    def test_dimensions_range(self, conn, dimensions):
        """A space has between 1 and 16000 dimensions."""
        make_space(conn, name="one", dimensions=1)
        make_space(conn, name="max", dimensions=16000)
        with rejected(errors.CheckViolation, "ck_embedding_spaces_dimensions_range"):
            make_space(conn, dimensions=dimensions)

    @pytest.mark.parametrize("name", ["Upper", "1st", "with space", "", "a.b", "é", "a" * 64])
    def test_space_name_format(self, conn, name):
        """Space names are lowercase, start with a letter, use [a-z0-9_-], at most 63 chars."""
        for valid in ("openai-small_v2", "a" * 63):
            make_space(conn, name=valid)
        with rejected(errors.CheckViolation, "ck_embedding_spaces_name_format"):
            make_space(conn, name=name)

    def test_space_name_unique(self, conn):
        """Two spaces cannot share a name."""
        make_space(conn, name="shared")
        make_space(conn, name="other")
        with rejected(errors.UniqueViolation, "uq_embedding_spaces_name"):
            make_space(conn, name="shared", dimensions=8)
