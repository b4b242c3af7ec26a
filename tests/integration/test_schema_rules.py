"""Every rule the schema enforces, proven against the real database: each rejection asserts
the psycopg error class and the constraint name (what mimir.db.errors maps), and each rule
also has the valid row accepted, so every test can fail both ways. Rules that must hold
under concurrency are raced on two connections. Known schema bugs would be strict xfails;
TestSurprises pins down actual behaviour that is easy to get wrong."""

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

from mimir.db.errors import to_domain_error
from mimir.errors import Conflict, Invalid

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


def make_artifact(conn, *, artifact_type="note", **cols) -> uuid.UUID:
    return _insert(conn, "artifacts", artifact_type=artifact_type, **cols)


def make_version(conn, *, artifact_id=None, number=1, content="hello world", content_hash=None,
                 **cols) -> uuid.UUID:
    return _insert(
        conn, "artifact_versions",
        artifact_id=artifact_id or make_artifact(conn), version_number=number, content=content,
        content_hash=sha256_hex(content) if content_hash is None else content_hash, **cols,
    )


def make_span(conn, *, version_id=None, start=0, end=5, **cols) -> uuid.UUID:
    return _insert(conn, "spans", artifact_version_id=version_id or make_version(conn),
                   start_offset=start, end_offset=end, **cols)


def make_group(conn, *, name=None, **cols) -> uuid.UUID:
    """A group; its name is unique (migration 0008) unless one is given."""
    return _insert(conn, "intent_groups", name=f"group {uuid.uuid4()}" if name is None else name,
                   **cols)


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


# Blank strings that the *_not_blank checks (x ~ '\S') reject: any mix of ASCII whitespace.
BLANKS = ["", " ", "    ", "\t", "\n", " \r\n ", "\x0b\x0c", "\t \n"]
BLANK_IDS = [repr(blank) for blank in BLANKS]

# What the not-blank checks accept: anything with one non-whitespace character.
NOT_BLANK = ["x", " x ", "\tx\n", "\u00e9"]

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


def _dangling(conn) -> dict[str, int]:
    """Per table, how many polymorphic references name an entity that does not exist."""
    return {
        "relations": _one(conn, "SELECT count(*) FROM relations "
                          "WHERE NOT mimir_entity_exists(source_type, source_id) "
                          "OR NOT mimir_entity_exists(target_type, target_id)")[0],
        "provenance": _one(conn, "SELECT count(*) FROM provenance "
                           "WHERE NOT mimir_entity_exists(target_type, target_id)")[0],
        "embeddings": _one(conn, "SELECT count(*) FROM embeddings "
                           "WHERE NOT mimir_entity_exists(target_type, target_id)")[0],
    }


NOTHING_DANGLING = {"relations": 0, "provenance": 0, "embeddings": 0}


def _wait_until_blocked(conn, pid: int, timeout: float = 10.0, done=None) -> None:
    """Wait until backend `pid` is waiting on a lock (or, if given, until done() is true)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done is not None and done():
            return
        row = _one(conn, "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", pid)
        if row and row[0] == "Lock":
            return
        time.sleep(0.02)
    raise AssertionError(f"backend {pid} never blocked on a lock")


def _race(conn, db_conninfo, first, second, *, must_block=True) -> psycopg.Error | None:
    """Run first(connection) in one open transaction, then second(connection) in another
    that must block on the first's locks (or, unless must_block, may also just finish);
    commit the first, and return what the second raised (its transaction rolled back) or
    None if it succeeded (and was committed)."""
    outcome: dict[str, psycopg.Error] = {}
    with psycopg.connect(db_conninfo) as one, psycopg.connect(db_conninfo) as two:
        first(one)

        def run_second() -> None:
            try:
                second(two)
                two.commit()
            except psycopg.Error as exc:
                outcome["error"] = exc
                two.rollback()

        thread = threading.Thread(target=run_second)
        thread.start()
        try:
            _wait_until_blocked(conn, two.info.backend_pid,
                                done=None if must_block else lambda: not thread.is_alive())
        finally:
            one.commit()
            thread.join(timeout=10)
        assert not thread.is_alive()
    return outcome.get("error")


def _interleaved(conn, db_conninfo, table: str, a, b, change) -> dict[str, psycopg.Error]:
    """Two transactions that each first lock their own row (a, b) and only then run
    change(connection, own, other): the worst interleaving of two opposite changes. Returns
    the errors raised, by transaction ("one" changes a, "two" changes b)."""
    lock = sql.SQL("SELECT 1 FROM {} WHERE id = %s FOR NO KEY UPDATE").format(
        sql.Identifier(table))
    outcome: dict[str, psycopg.Error] = {}

    def run(name, connection, own, other) -> None:
        try:
            change(connection, own, other)
            connection.commit()
        except psycopg.Error as exc:
            outcome[name] = exc
            connection.rollback()

    with psycopg.connect(db_conninfo) as one, psycopg.connect(db_conninfo) as two:
        one.execute(lock, (a,))
        two.execute(lock, (b,))
        thread = threading.Thread(target=run, args=("one", one, a, b))
        thread.start()
        try:
            _wait_until_blocked(conn, one.info.backend_pid)
            run("two", two, b, a)
        finally:
            thread.join(timeout=10)
        assert not thread.is_alive()
    return outcome


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
            ("provenance", make_provenance, "metadata"),
            ("embedding_spaces", make_space, "metadata"),
        ],
    )
    @pytest.mark.parametrize("not_an_object", [[], [1], "text", 1, None])
    def test_json_columns_must_be_objects(self, conn, table, make, column, not_an_object):
        """Every jsonb metadata column takes a JSON object and nothing else."""
        make(conn, **{column: {"k": ["v", 1]}})
        with rejected(errors.CheckViolation, f"ck_{table}_{column}_is_object"):
            make(conn, **{column: Jsonb(not_an_object)})

    @pytest.mark.parametrize(
        ("make", "column"),
        [
            (make_artifact, "artifact_type"),
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
            (make_artifact, "artifact_type", "artifact_kind"),
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
        with rejected(errors.UniqueViolation, "uq_artifacts_namespace_source_external_id"):
            make_artifact(conn, source="slack", external_id="T1")
        assert _count(conn, "artifacts") == 4

    @pytest.mark.parametrize("source", BLANKS, ids=BLANK_IDS)
    def test_blank_source_rejected(self, conn, source):
        """source must have a non-whitespace character (tabs and newlines are blank too)."""
        for valid in NOT_BLANK:
            make_artifact(conn, source=valid)
        with rejected(errors.CheckViolation, "ck_artifacts_source_not_blank"):
            make_artifact(conn, source=source)

    def test_source_defaults_to_api(self, conn):
        """An artifact without a source is recorded as coming from the API."""
        artifact_id = make_artifact(conn)
        assert _one(conn, "SELECT source FROM artifacts WHERE id = %s", artifact_id) == ("api",)

    @pytest.mark.parametrize("external_id", BLANKS, ids=BLANK_IDS)
    def test_blank_external_id_rejected(self, conn, external_id):
        """external_id is NULL or has a non-whitespace character."""
        make_artifact(conn, external_id=None)
        for valid in NOT_BLANK:
            make_artifact(conn, external_id=valid)
        with rejected(errors.CheckViolation, "ck_artifacts_external_id_not_blank"):
            make_artifact(conn, external_id=external_id)

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
            "FROM spans s JOIN artifact_versions v ON v.id = s.artifact_version_id WHERE s.id = %s",
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
            conn.execute("UPDATE spans SET artifact_version_id = %s WHERE id = %s", (short, span_id))

    @pytest.mark.parametrize("span_type", ["Quote", "1st", "has space", "", "ü", "a-b",
                                           "a" * 65])
    def test_span_type_format(self, conn, span_type):
        """span_type is lowercase snake_case starting with a letter, at most 64 chars."""
        for valid in ("quote", "a1_b", "a" * 64):
            make_span(conn, span_type=valid)
        with rejected(errors.CheckViolation, "ck_spans_span_type_format"):
            make_span(conn, span_type=span_type)

    def test_span_needs_an_existing_version(self, conn):
        """artifact_version_id references artifact_versions."""
        with rejected(errors.ForeignKeyViolation,
                      "fk_spans_artifact_version_id_artifact_versions"):
            make_span(conn, version_id=uuid.uuid4())


class TestIntentGroups:
    def _merge(self, conn, group_id, into_id) -> None:
        conn.execute(
            "UPDATE intent_groups SET status = 'merged', merged_into_id = %s WHERE id = %s",
            (into_id, group_id),
        )

    def _merged(self, conn, into_id) -> uuid.UUID:
        """A group merged into into_id: groups are created active, then merged."""
        group_id = make_group(conn)
        self._merge(conn, group_id, into_id)
        return group_id

    def _cycles(self, conn) -> int:
        return _one(conn, "SELECT count(*) FROM intent_groups g JOIN intent_groups t "
                    "ON t.id = g.merged_into_id WHERE t.merged_into_id = g.id")[0]

    def test_self_merge_rejected(self, conn):
        """A group cannot be merged into itself (the CHECK behind the merge trigger)."""
        group_id = make_group(conn)
        with rejected(errors.CheckViolation, "ck_intent_groups_no_self_merge"):
            self._merge(conn, group_id, group_id)
        self._merge(conn, group_id, make_group(conn))

    @pytest.mark.parametrize(
        "statement",
        [
            "UPDATE intent_groups SET status = 'merged' WHERE id = %(id)s",
            "UPDATE intent_groups SET merged_into_id = %(target)s WHERE id = %(id)s",
            ("UPDATE intent_groups SET status = 'deprecated', merged_into_id = %(target)s "
             "WHERE id = %(id)s"),
        ],
        ids=["merged-without-target", "active-with-target", "deprecated-with-target"],
    )
    def test_merged_iff_target(self, conn, statement):
        """status 'merged' requires merged_into_id and merged_into_id requires 'merged'."""
        group_id, target = make_group(conn), make_group(conn)
        self._merged(conn, target)
        with rejected(errors.CheckViolation, "ck_intent_groups_merged_has_target"):
            conn.execute(statement, {"id": group_id, "target": target})
        with rejected(errors.CheckViolation, "ck_intent_groups_merged_has_target"):
            make_group(conn, status="merged")

    @pytest.mark.parametrize("status", ["merged", "active", "deprecated"])
    def test_group_cannot_be_created_merged(self, conn, status):
        """INSERT with merged_into_id is rejected whatever the target (active, merged or even
        missing): a group is created unmerged and merged later by UPDATE."""
        active = make_group(conn)
        merged = self._merged(conn, make_group(conn))
        for target in (active, merged, uuid.uuid4()):
            with rejected(errors.CheckViolation, "intent_groups_merged_is_final") as exc:
                make_group(conn, status=status, merged_into_id=target)
            assert "cannot be created merged" in str(exc.value)
        for allowed in ("active", "deprecated"):
            make_group(conn, status=allowed)
        assert _count(conn, "intent_groups") == 5

    def test_cannot_merge_into_a_merged_group(self, conn):
        """Merging into a group that is itself merged is rejected; into active or deprecated
        groups it is accepted."""
        final = make_group(conn)
        merged = self._merged(conn, final)
        self._merged(conn, make_group(conn, status="deprecated"))
        group_id = make_group(conn)
        with rejected(errors.CheckViolation, "intent_groups_merge_target_active") as exc:
            self._merge(conn, group_id, merged)
        assert str(merged) in str(exc.value)
        self._merge(conn, group_id, final)

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
        group_id = make_group(conn)
        with rejected(errors.ForeignKeyViolation, "fk_intent_groups_merged_into_id_intent_groups"):
            self._merge(conn, group_id, uuid.uuid4())
        target = make_group(conn)
        self._merge(conn, group_id, target)
        with rejected(errors.RestrictViolation, "fk_intent_groups_merged_into_id_intent_groups"):
            conn.execute("DELETE FROM intent_groups WHERE id = %s", (target,))

    @pytest.mark.parametrize("name", BLANKS, ids=BLANK_IDS)
    def test_blank_name_rejected(self, conn, name):
        """A group's name must have a non-whitespace character."""
        for valid in NOT_BLANK:
            make_group(conn, name=valid)
        with rejected(errors.CheckViolation, "ck_intent_groups_name_not_blank"):
            make_group(conn, name=name)

    def test_insert_cannot_create_a_merge_cycle(self, conn):
        """One multi-row INSERT of groups merged into each other is rejected as a whole."""
        a, b = uuid.uuid4(), uuid.uuid4()
        with rejected(errors.CheckViolation, "intent_groups_merged_is_final"):
            conn.execute(
                "INSERT INTO intent_groups (id, name, status, merged_into_id) "
                "VALUES (%s, 'a', 'merged', %s), (%s, 'b', 'merged', %s)",
                (a, b, b, a),
            )
        assert _count(conn, "intent_groups") == 0

    def test_update_cannot_create_a_merge_cycle(self, conn):
        """One UPDATE merging two groups into each other is rejected as a whole: the second
        row sees the first already merged."""
        a, b = make_group(conn), make_group(conn)
        with rejected(errors.CheckViolation, "intent_groups_merge_target_active"):
            conn.execute(
                "UPDATE intent_groups SET status = 'merged', "
                "merged_into_id = CASE id WHEN %(a)s THEN %(b)s::uuid ELSE %(a)s::uuid END "
                "WHERE id IN (%(a)s, %(b)s)",
                {"a": a, "b": b},
            )
        assert conn.execute("SELECT DISTINCT status::text FROM intent_groups").fetchall() == [
            ("active",)]

    def test_concurrent_opposite_merges_cannot_form_a_cycle(self, conn, db_conninfo):
        """Merging A into B and B into A in two concurrent transactions: the second waits on
        the first's lock on B, then fails (or, at worst, deadlocks); no cycle is left."""
        a, b = make_group(conn), make_group(conn)
        error = _race(conn, db_conninfo, lambda one: self._merge(one, a, b),
                      lambda two: self._merge(two, b, a))
        assert type(error) in (errors.CheckViolation, errors.DeadlockDetected), error
        if type(error) is errors.CheckViolation:
            assert error.diag.constraint_name == "intent_groups_merge_target_active"
        assert self._cycles(conn) == 0
        state = "SELECT status::text, merged_into_id FROM intent_groups WHERE id = %s"
        assert _one(conn, state, a) == ("merged", b)
        assert _one(conn, state, b) == ("active", None)

    def test_interleaved_opposite_merges_deadlock_instead_of_cycling(self, conn, db_conninfo):
        """When both merges already hold their own group, each then waits for the other's:
        PostgreSQL kills one as a deadlock, the other merges, and no cycle is left. (A
        deadlock is not translated to a client error: it surfaces as a server error.)"""
        a, b = make_group(conn), make_group(conn)
        outcome = _interleaved(conn, db_conninfo, "intent_groups", a, b, self._merge)
        assert len(outcome) == 1, outcome
        [(loser, error)] = outcome.items()
        assert type(error) is errors.DeadlockDetected
        assert to_domain_error(error) is None
        assert self._cycles(conn) == 0
        winner, target = (b, a) if loser == "one" else (a, b)
        state = "SELECT status::text, merged_into_id FROM intent_groups WHERE id = %s"
        assert _one(conn, state, winner) == ("merged", target)
        assert _one(conn, state, target) == ("active", None)

    def test_concurrent_merge_into_a_group_being_merged(self, conn, db_conninfo):
        """While A is being merged into B, merging C into A waits for that merge and then
        sees A merged, as it would have one after the other."""
        a, b, c = make_group(conn), make_group(conn), make_group(conn)
        error = _race(conn, db_conninfo, lambda one: self._merge(one, a, b),
                      lambda two: self._merge(two, c, a))
        assert type(error) is errors.CheckViolation
        assert error.diag.constraint_name == "intent_groups_merge_target_active"
        assert _one(conn, "SELECT status::text FROM intent_groups WHERE id = %s", c) == (
            "active",)


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

    @pytest.mark.parametrize("statement", BLANKS, ids=BLANK_IDS)
    def test_blank_statement_rejected(self, conn, statement):
        """An intent's statement must have a non-whitespace character."""
        for valid in NOT_BLANK:
            make_intent(conn, statement=valid)
        with rejected(errors.CheckViolation, "ck_intents_statement_not_blank"):
            make_intent(conn, statement=statement)

    def test_group_reference(self, conn):
        """intent_group_id must reference a group; a group with intents cannot be deleted
        (ON DELETE RESTRICT since migration 0014, was SET NULL: Citus refuses SET NULL on a
        key that contains the distribution column; nothing in Mímir deletes a group)."""
        with rejected(errors.ForeignKeyViolation, "fk_intents_intent_group_id_intent_groups"):
            make_intent(conn, intent_group_id=uuid.uuid4())
        group_id = make_group(conn)
        intent_id = make_intent(conn, intent_group_id=group_id)
        with rejected(errors.RestrictViolation, "fk_intents_intent_group_id_intent_groups"):
            conn.execute("DELETE FROM intent_groups WHERE id = %s", (group_id,))
        assert _one(conn, "SELECT intent_group_id FROM intents WHERE id = %s", intent_id) == (group_id,)


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

    @pytest.mark.parametrize("statement", BLANKS, ids=BLANK_IDS)
    def test_blank_statement_rejected(self, conn, statement):
        """A decision's statement must have a non-whitespace character."""
        for valid in NOT_BLANK:
            make_decision(conn, statement=valid)
        with rejected(errors.CheckViolation, "ck_decisions_statement_not_blank"):
            make_decision(conn, statement=statement)


    def _supersede(self, conn, decision_id, by_id) -> None:
        conn.execute(
            "UPDATE decisions SET status = 'superseded', superseded_by_id = %s WHERE id = %s",
            (by_id, decision_id),
        )

    def _two_cycles(self, conn) -> int:
        return _one(conn, "SELECT count(*) FROM decisions d JOIN decisions s "
                    "ON s.id = d.superseded_by_id WHERE s.superseded_by_id = d.id")[0]

    @pytest.mark.parametrize(
        "statement",
        [
            "UPDATE decisions SET status = 'active', superseded_by_id = NULL WHERE id = %(id)s",
            "UPDATE decisions SET status = 'tentative', superseded_by_id = NULL WHERE id = %(id)s",
            "UPDATE decisions SET superseded_by_id = %(other)s WHERE id = %(id)s",
            "UPDATE decisions SET status = 'active' WHERE id = %(id)s",
        ],
        ids=["reactivate", "back-to-tentative", "re-point", "status-only"],
    )
    def test_superseded_decision_is_final(self, conn, statement):
        """A superseded decision never changes status or successor again, while its other
        columns stay editable and re-stating the same status and successor is a no-op."""
        decision_id, successor, other = (make_decision(conn) for _ in range(3))
        self._supersede(conn, decision_id, successor)
        before = _one(conn, "SELECT * FROM decisions WHERE id = %s", decision_id)
        with rejected(errors.CheckViolation, "decisions_superseded_is_final") as exc:
            conn.execute(statement, {"id": decision_id, "other": other})
        assert f"already superseded by {successor}" in str(exc.value)
        assert _one(conn, "SELECT * FROM decisions WHERE id = %s", decision_id) == before
        self._supersede(conn, decision_id, successor)
        conn.execute("UPDATE decisions SET statement = 'reworded', metadata = '{\"a\": 1}' "
                     "WHERE id = %s", (decision_id,))
        assert _one(conn, "SELECT status::text, superseded_by_id, statement FROM decisions "
                    "WHERE id = %s", decision_id) == ("superseded", successor, "reworded")

    def test_successor_must_be_current(self, conn):
        """A decision can only be superseded by one that is not itself superseded (on INSERT
        and on UPDATE); tentative and active successors are accepted, so chains grow at
        their head only."""
        head = make_decision(conn)
        superseded = make_decision(conn)
        self._supersede(conn, superseded, head)
        with rejected(errors.CheckViolation, "decisions_successor_current") as exc:
            make_decision(conn, status="superseded", superseded_by_id=superseded)
        assert f"decision {superseded} is itself superseded" in str(exc.value)
        decision_id = make_decision(conn)
        with rejected(errors.CheckViolation, "decisions_successor_current"):
            self._supersede(conn, decision_id, superseded)
        assert _one(conn, "SELECT status::text FROM decisions WHERE id = %s",
                    decision_id) == ("active",)
        self._supersede(conn, decision_id, make_decision(conn, status="tentative"))
        make_decision(conn, status="superseded", superseded_by_id=make_decision(conn))
        newer = make_decision(conn)
        self._supersede(conn, head, newer)
        successor = "SELECT superseded_by_id FROM decisions WHERE id = %s"
        assert _one(conn, successor, superseded) == (head,)
        assert _one(conn, successor, head) == (newer,)

    def test_insert_cannot_create_a_supersession_cycle(self, conn):
        """One multi-row INSERT of decisions superseding each other is rejected as a whole:
        the second row sees the first, already superseded."""
        a, b = uuid.uuid4(), uuid.uuid4()
        with rejected(errors.CheckViolation, "decisions_successor_current"):
            conn.execute(
                "INSERT INTO decisions (id, statement, status, superseded_by_id) "
                "VALUES (%s, 'a', 'superseded', %s), (%s, 'b', 'superseded', %s)",
                (a, b, b, a),
            )
        assert _count(conn, "decisions") == 0

    def test_update_cannot_create_a_supersession_cycle(self, conn):
        """One UPDATE making two decisions supersede each other is rejected as a whole."""
        a, b = make_decision(conn), make_decision(conn)
        with rejected(errors.CheckViolation, "decisions_successor_current"):
            conn.execute(
                "UPDATE decisions SET status = 'superseded', "
                "superseded_by_id = CASE id WHEN %(a)s THEN %(b)s::uuid ELSE %(a)s::uuid END "
                "WHERE id IN (%(a)s, %(b)s)",
                {"a": a, "b": b},
            )
        assert conn.execute("SELECT DISTINCT status::text FROM decisions").fetchall() == [
            ("active",)]

    def test_concurrent_opposite_supersessions_cannot_form_a_cycle(self, conn, db_conninfo):
        """A superseded by B and B superseded by A in two concurrent transactions: the
        second waits for the first, then fails (or, at worst, deadlocks); no 2-cycle."""
        a, b = make_decision(conn), make_decision(conn)
        error = _race(conn, db_conninfo, lambda one: self._supersede(one, a, b),
                      lambda two: self._supersede(two, b, a))
        assert type(error) in (errors.CheckViolation, errors.DeadlockDetected), error
        if type(error) is errors.CheckViolation:
            assert error.diag.constraint_name == "decisions_successor_current"
        assert self._two_cycles(conn) == 0
        state = "SELECT status::text, superseded_by_id FROM decisions WHERE id = %s"
        assert _one(conn, state, a) == ("superseded", b)
        assert _one(conn, state, b) == ("active", None)

    def test_interleaved_opposite_supersessions_deadlock_instead_of_cycling(self, conn,
                                                                           db_conninfo):
        """When both supersessions already hold their own decision, one is killed as a
        deadlock and the other goes through; no 2-cycle is left."""
        a, b = make_decision(conn), make_decision(conn)
        outcome = _interleaved(conn, db_conninfo, "decisions", a, b, self._supersede)
        assert len(outcome) == 1, outcome
        [(loser, error)] = outcome.items()
        assert type(error) is errors.DeadlockDetected
        assert self._two_cycles(conn) == 0
        winner, successor = (b, a) if loser == "one" else (a, b)
        state = "SELECT status::text, superseded_by_id FROM decisions WHERE id = %s"
        assert _one(conn, state, winner) == ("superseded", successor)
        assert _one(conn, state, successor) == ("active", None)

    def test_concurrent_supersession_by_a_decision_being_superseded(self, conn, db_conninfo):
        """While A is being superseded by B, superseding C by A waits on the lock of A and
        then sees A superseded, as it would have one after the other."""
        a, b, c = (make_decision(conn) for _ in range(3))
        error = _race(conn, db_conninfo, lambda one: self._supersede(one, a, b),
                      lambda two: self._supersede(two, c, a))
        assert type(error) is errors.CheckViolation
        assert error.diag.constraint_name == "decisions_successor_current"
        assert _one(conn, "SELECT status::text FROM decisions WHERE id = %s", c) == ("active",)


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


    def test_deleting_a_relation_forgets_what_pointed_at_it(self, conn):
        """Deleting a relation deletes the relations from or to it (and, in turn, those
        pointing at them), its provenance (with its evidence) and its embeddings. What it
        pointed at, other relations' provenance and embeddings, and spans are kept."""
        doomed, kept = make_relation(conn), make_relation(conn)
        intent = ("intent", make_intent(conn))
        from_it = make_relation(conn, source=("relation", doomed), target=intent)
        to_it = make_relation(conn, source=intent, target=("relation", doomed))
        nested = make_relation(conn, source=("relation", from_it), target=("relation", kept))
        about_kept = make_relation(conn, source=("relation", kept), target=intent)
        span_id, space_id = make_span(conn), make_space(conn)
        for relation_id in (doomed, kept):
            provenance_id = make_provenance(conn, target=("relation", relation_id))
            make_evidence(conn, provenance_id=provenance_id, span_id=span_id)
            make_embedding(conn, space_id=space_id, target=("relation", relation_id))
        relations_before = _count(conn, "relations")

        conn.execute("DELETE FROM relations WHERE id = %s", (doomed,))

        remaining = {row[0] for row in conn.execute("SELECT id FROM relations")}
        assert {doomed, from_it, to_it, nested}.isdisjoint(remaining)
        assert {kept, about_kept} <= remaining
        assert len(remaining) == relations_before - 4
        for table in ("provenance", "embeddings"):
            targets = conn.execute(sql.SQL("SELECT target_id FROM {}").format(
                sql.Identifier(table))).fetchall()
            assert targets == [(kept,)]
        assert _count(conn, "provenance_evidence") == 1
        assert _count(conn, "spans") == 1
        assert _dangling(conn) == NOTHING_DANGLING

    def test_mutually_referencing_relations_are_deleted_together(self, conn):
        """Two relations pointing at each other: deleting either removes both (and stops)."""
        first = make_relation(conn)
        second = make_relation(conn, source=("relation", first))
        conn.execute("UPDATE relations SET target_type = 'relation', target_id = %s "
                     "WHERE id = %s", (second, first))
        unrelated = make_relation(conn)
        conn.execute("DELETE FROM relations WHERE id = %s", (second,))
        assert conn.execute("SELECT id FROM relations").fetchall() == [(unrelated,)]

    @pytest.mark.parametrize("order", ["reference-first", "delete-first"])
    @pytest.mark.parametrize("referrer", ["relation", "provenance", "embedding"])
    def test_concurrent_reference_to_a_relation_being_deleted(self, conn, db_conninfo,
                                                              referrer, order):
        """Referring to a relation while another transaction deletes it: either the
        reference fails or the delete removes it too; nothing is left dangling."""
        relation_id = make_relation(conn)
        space_id = make_space(conn)
        target = ("relation", relation_id)
        refer = {
            "relation": lambda c: make_relation(c, source=target),
            "provenance": lambda c: make_provenance(c, target=target),
            "embedding": lambda c: make_embedding(c, space_id=space_id, target=target),
        }[referrer]

        def delete(c) -> None:
            c.execute("DELETE FROM relations WHERE id = %s", (relation_id,))

        steps = (refer, delete) if order == "reference-first" else (delete, refer)
        _race(conn, db_conninfo, *steps, must_block=False)
        assert _dangling(conn) == NOTHING_DANGLING


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

    @pytest.mark.parametrize(
        "change",
        ["dimensions = 4", "distance = 'l2'", "dimensions = 4, distance = 'inner_product'"],
    )
    @pytest.mark.parametrize("with_embeddings", [True, False])
    def test_space_dimensions_and_distance_are_fixed(self, conn, change, with_embeddings):
        """A space's dimensions and distance never change (with or without vectors yet);
        its name, model and metadata can, and re-stating the same values is accepted."""
        space_id = make_space(conn, dimensions=3, distance="cosine")
        if with_embeddings:
            make_embedding(conn, space_id=space_id)
        before = _one(conn, "SELECT * FROM embedding_spaces WHERE id = %s", space_id)
        with rejected(errors.CheckViolation, "embedding_spaces_fixed"):
            conn.execute(sql.SQL("UPDATE embedding_spaces SET {} WHERE id = %s").format(
                sql.SQL(change)), (space_id,))
        assert _one(conn, "SELECT * FROM embedding_spaces WHERE id = %s", space_id) == before
        conn.execute("UPDATE embedding_spaces SET name = 'renamed', model = 'other-model', "
                     "metadata = '{\"k\": 1}', dimensions = 3, distance = 'cosine' "
                     "WHERE id = %s", (space_id,))
        assert _one(conn, "SELECT name, dimensions, distance::text FROM embedding_spaces "
                    "WHERE id = %s", space_id) == ("renamed", 3, "cosine")


class TestSurprises:
    """Actual behaviour that is easy to get wrong, kept visible on purpose."""

    @pytest.mark.parametrize("entity_type",
                             ["artifact", "intent", "intent_group", "decision", "span"])
    def test_deleting_other_entities_in_sql_leaves_dangling_references(self, conn,
                                                                       entity_type):
        """Only relations clean up after themselves (trg_relations_forget). Deleting any
        other entity directly in SQL leaves relations, provenance and embeddings naming
        it. The API never deletes these entities (only relations), so only SQL run by
        hand can do this; the test records that the schema does not prevent it."""
        entity = (entity_type, ENTITY_MAKERS[entity_type](conn))
        make_relation(conn, source=entity)
        make_provenance(conn, target=entity)
        make_embedding(conn, target=entity)
        assert _dangling(conn) == NOTHING_DANGLING
        conn.execute(sql.SQL("DELETE FROM {} WHERE id = %s").format(
            sql.Identifier(entity_type + "s")), (entity[1],))
        assert _dangling(conn) == {"relations": 1, "provenance": 1, "embeddings": 1}

    @pytest.mark.parametrize(("text", "blank_in_sql"),
                             [("\u00a0", False), ("\x85", False), ("\u3000", True),
                              ("\u2003", True), ("\u2028", True)],
                             ids=["nbsp", "nel", "ideographic", "em-space", "line-sep"])
    def test_not_blank_follows_the_database_ctype(self, conn, text, blank_in_sql):
        """'\\S' uses the database's character classes (libc C.UTF-8 here): most Unicode
        spaces count as blank, but a no-break space or NEL alone passes the checks, though
        Python's str.strip() (the API's own validation) treats them as blank too."""
        assert not text.strip()
        ctype = _one(conn, "SELECT datlocprovider::text, datctype FROM pg_database "
                     "WHERE datname = current_database()")
        if ctype != ("c", "C.UTF-8"):
            pytest.skip(f"character classes of {ctype} differ from libc C.UTF-8")
        if blank_in_sql:
            with rejected(errors.CheckViolation, "ck_intent_groups_name_not_blank"):
                make_group(conn, name=text)
        else:
            make_group(conn, name=text)
            make_intent(conn, statement=text * 3)


class TestDomainErrors:
    """The rules' names reach clients through mimir.db.errors as conflicts."""

    @staticmethod
    def _error_of(action) -> psycopg.Error:
        with pytest.raises(psycopg.Error) as exc:
            action()
        return exc.value

    def test_rule_violations_translate_to_conflicts(self, conn):
        """Each new rule, and a delete refused by a foreign key (any fk_*, even one whose
        insert-time failure is Invalid), becomes a Conflict naming the constraint."""
        decision_id, successor = make_decision(conn), make_decision(conn)
        conn.execute("UPDATE decisions SET status = 'superseded', superseded_by_id = %s "
                     "WHERE id = %s", (successor, decision_id))
        space_id = make_space(conn)
        span_id = make_span(conn)
        make_evidence(conn, provenance_id=make_provenance(conn), span_id=span_id)
        cases = {
            "decisions_superseded_is_final": lambda: conn.execute(
                "UPDATE decisions SET status = 'active', superseded_by_id = NULL "
                "WHERE id = %s", (decision_id,)),
            "decisions_successor_current": lambda: make_decision(
                conn, status="superseded", superseded_by_id=decision_id),
            "intent_groups_merged_is_final": lambda: make_group(
                conn, status="merged", merged_into_id=make_group(conn)),
            "embedding_spaces_fixed": lambda: conn.execute(
                "UPDATE embedding_spaces SET dimensions = 7 WHERE id = %s", (space_id,)),
            "fk_decisions_superseded_by_id_decisions": lambda: conn.execute(
                "DELETE FROM decisions WHERE id = %s", (successor,)),
            "fk_provenance_evidence_span_id_spans": lambda: conn.execute(
                "DELETE FROM spans WHERE id = %s", (span_id,)),
        }
        for constraint, action in cases.items():
            error = self._error_of(action)
            assert error.diag.constraint_name == constraint
            domain = to_domain_error(error)
            assert type(domain) is Conflict, constraint
            assert domain.details == {"constraint": constraint}
        assert type(to_domain_error(self._error_of(lambda: make_span(
            conn, version_id=uuid.uuid4())))) is Invalid

