"""Keys and triggers that a table distributed by namespace can keep (issue 17, Citus).

Citus (docs/scaling.md, "Distributed PostgreSQL: Citus") distributes the 14 memory tables by
`namespace`; this migration makes the schema ready for that and is equally valid on plain
PostgreSQL, where every change is redundant with row-level security (RLS stays the
guarantee; 0012's policies, with their once-per-statement initplan, are kept here).

- Every primary key and unique constraint contains `namespace` (a distributed table's must
  contain its distribution column): `PRIMARY KEY (id)` becomes `(id, namespace)` on the 11
  tables with an id (ids are random uuids: as unique as before); provenance_evidence's key,
  artifact_versions (artifact_id, version_number), decisions (superseded_by_id), the
  relations edge and embeddings (space_id, target_type, target_id) gain `namespace` last,
  so lookups by their leading columns use them as before. Constraint names are unchanged.
- The two keys to erasures (0011) become composite, `(erasure_id, namespace) ->
  erasures (id, namespace)`, like 0012's links.
- intents -> intent_groups is ON DELETE RESTRICT instead of SET NULL (intent_group_id):
  Citus refuses SET NULL on a key containing the distribution column. Nothing in Mímir
  deletes an intent group (groups are merged or deprecated), so no behaviour changes.
- Every query a trigger makes on another memory table names the row's namespace
  (`AND namespace = NEW.namespace`): on Citus a trigger runs on a shard and may only reach
  the colocated shards, which needs the distribution column's value. The functions that
  take it as an argument gain one: mimir_entity_exists(kind, id, namespace),
  mimir_drop_postings(version, namespace), mimir_write_postings(version, namespace),
  mimir_previous_turn(message, namespace); the previous turn is read by its own statement
  (a SQL function called per row inside a query on a shard is a nested distributed query).
  The one-argument forms stay: mimir_entity_exists(kind, id) for ad-hoc checks,
  mimir_drop_postings(version) / mimir_write_postings(version) (mimir_erase calls them) in
  the session's namespace.
- Each trigger's error names its rule in the hint as well (`constraint: <name>`): Citus
  passes a worker's error on without its constraint field, and the data layer maps errors
  to domain errors by that name (mimir.db.errors).

- mimir_erase names the namespace in every statement on a memory table and sets
  mimir.erasing with SET LOCAL (the same as set_config(..., true) on one server; on Citus
  the only form that reaches the workers' triggers). It re-indexes successors with
  mimir_write_postings(..., on_coordinator => true), whose insert has ON CONFLICT DO NOTHING
  (nothing can conflict: the postings were just dropped; on Citus it makes the coordinator
  insert the rows instead of copying them, which row-level security refuses).

Statements that relied on the old keys change with it (sql/): provenance's `GROUP BY p.id`
(a functional dependency on the primary key) groups by (id, namespace), and the embedding
upserts' ON CONFLICT names the constraint's new column list.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29
"""

import importlib.util
import re
from pathlib import Path

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# Tables whose primary key was (id).
ID_TABLES = ("artifacts", "artifact_versions", "spans", "intent_groups", "intents", "decisions",
             "relations", "provenance", "embeddings", "imports", "erasures")
# (table, constraint, columns before this migration) of the other keys that gain namespace.
KEYS = (
    ("provenance_evidence", "pk_provenance_evidence", "PRIMARY KEY", "provenance_id, span_id"),
    ("artifact_versions", "uq_artifact_versions_artifact_id_version_number", "UNIQUE",
     "artifact_id, version_number"),
    ("decisions", "uq_decisions_superseded_by_id", "UNIQUE", "superseded_by_id"),
    ("relations", "uq_relations_edge", "UNIQUE",
     "source_type, source_id, relation_type, target_type, target_id"),
    ("embeddings", "uq_embeddings_space_id_target_type_target_id", "UNIQUE",
     "space_id, target_type, target_id"),
)
ERASURE_KEYS = ("artifact_versions", "provenance_evidence")
# (function, migration whose first definition of it is what 0014 replaces)
REPLACED = (
    ("mimir_check_relation_ends", "0001_initial_schema.py"),
    ("mimir_check_provenance_target", "0001_initial_schema.py"),
    ("mimir_check_embedding", "0001_initial_schema.py"),
    ("mimir_forget_relation", "0001_initial_schema.py"),
    ("mimir_check_version_sequence", "0001_initial_schema.py"),
    ("mimir_check_span_within_version", "0011_erasure.py"),
    ("mimir_check_decision_supersede", "0001_initial_schema.py"),
    ("mimir_check_group_merge", "0001_initial_schema.py"),
    ("mimir_index_version", "0010_previous_turn_context.py"),
    ("mimir_drop_postings", "0012_namespaces.py"),
    ("mimir_write_postings", "0012_namespaces.py"),
)
ADDED = ("mimir_entity_exists(entity_type, uuid, text)", "mimir_drop_postings(uuid, text)",
         "mimir_write_postings(uuid, text, boolean)", "mimir_previous_turn(uuid, text)")


def _keys(with_namespace: bool) -> str:
    tail = ", namespace" if with_namespace else ""
    statements = []
    for table in ID_TABLES:
        statements.append(
            f"ALTER TABLE {table} DROP CONSTRAINT pk_{table} CASCADE;\n"
            f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY (id{tail});\n")
    for table, name, kind, columns in KEYS:
        statements.append(f"ALTER TABLE {table} DROP CONSTRAINT {name},\n"
                          f"    ADD CONSTRAINT {name} {kind} ({columns}{tail});\n")
    for table in ERASURE_KEYS:
        # Dropped with pk_erasures (CASCADE) above.
        statements.append(
            f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS fk_{table}_erasure_id_erasures,\n"
            f"    ADD CONSTRAINT fk_{table}_erasure_id_erasures FOREIGN KEY (erasure_id{tail})\n"
            f"    REFERENCES erasures (id{tail}) ON DELETE RESTRICT;\n")
    action = "RESTRICT" if with_namespace else "SET NULL (intent_group_id)"
    statements.append(
        "ALTER TABLE intents DROP CONSTRAINT IF EXISTS fk_intents_intent_group_id_intent_groups,\n"
        "    ADD CONSTRAINT fk_intents_intent_group_id_intent_groups\n"
        "    FOREIGN KEY (intent_group_id, namespace) REFERENCES intent_groups (id, namespace)\n"
        f"    ON DELETE {action};\n")
    return "".join(statements)


TRIGGERS = r"""
CREATE OR REPLACE FUNCTION mimir_entity_exists(kind entity_type, entity_id uuid, ns text)
RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    CASE kind
        WHEN 'artifact' THEN
            PERFORM 1 FROM artifacts WHERE id = entity_id AND namespace = ns FOR KEY SHARE;
        WHEN 'artifact_version' THEN
            PERFORM 1 FROM artifact_versions WHERE id = entity_id AND namespace = ns FOR KEY SHARE;
        WHEN 'intent' THEN
            PERFORM 1 FROM intents WHERE id = entity_id AND namespace = ns FOR KEY SHARE;
        WHEN 'intent_group' THEN
            PERFORM 1 FROM intent_groups WHERE id = entity_id AND namespace = ns FOR KEY SHARE;
        WHEN 'decision' THEN
            PERFORM 1 FROM decisions WHERE id = entity_id AND namespace = ns FOR KEY SHARE;
        WHEN 'span' THEN
            PERFORM 1 FROM spans WHERE id = entity_id AND namespace = ns FOR KEY SHARE;
        WHEN 'relation' THEN
            PERFORM 1 FROM relations WHERE id = entity_id AND namespace = ns FOR KEY SHARE;
    END CASE;
    RETURN FOUND;
END $$;

CREATE OR REPLACE FUNCTION mimir_check_relation_ends() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT mimir_entity_exists(NEW.source_type, NEW.source_id, NEW.namespace) THEN
        RAISE EXCEPTION 'relation source % % does not exist', NEW.source_type, NEW.source_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'relations_source_exists',
                  HINT = 'constraint: relations_source_exists';
    END IF;
    IF NOT mimir_entity_exists(NEW.target_type, NEW.target_id, NEW.namespace) THEN
        RAISE EXCEPTION 'relation target % % does not exist', NEW.target_type, NEW.target_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'relations_target_exists',
                  HINT = 'constraint: relations_target_exists';
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION mimir_check_provenance_target() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT mimir_entity_exists(NEW.target_type, NEW.target_id, NEW.namespace) THEN
        RAISE EXCEPTION 'provenance target % % does not exist', NEW.target_type, NEW.target_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'provenance_target_exists',
                  HINT = 'constraint: provenance_target_exists';
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION mimir_check_embedding() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    expected integer;
BEGIN
    SELECT dimensions INTO expected FROM embedding_spaces WHERE id = NEW.space_id;
    IF expected IS NOT NULL AND vector_dims(NEW.embedding) <> expected THEN
        RAISE EXCEPTION 'embedding has % dimensions; its space expects %',
            vector_dims(NEW.embedding), expected
            USING ERRCODE = 'check_violation', CONSTRAINT = 'embeddings_dimensions_match',
                  HINT = 'constraint: embeddings_dimensions_match';
    END IF;
    IF NOT mimir_entity_exists(NEW.target_type, NEW.target_id, NEW.namespace) THEN
        RAISE EXCEPTION 'embedding target % % does not exist', NEW.target_type, NEW.target_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'embeddings_target_exists',
                  HINT = 'constraint: embeddings_target_exists';
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION mimir_forget_relation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM relations
     WHERE namespace = OLD.namespace
       AND ((source_type = 'relation' AND source_id = OLD.id)
            OR (target_type = 'relation' AND target_id = OLD.id));
    DELETE FROM provenance
     WHERE namespace = OLD.namespace AND target_type = 'relation' AND target_id = OLD.id;
    DELETE FROM embeddings
     WHERE namespace = OLD.namespace AND target_type = 'relation' AND target_id = OLD.id;
    RETURN OLD;
END $$;

CREATE OR REPLACE FUNCTION mimir_check_version_sequence() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    expected integer;
BEGIN
    SELECT coalesce(max(version_number), 0) + 1 INTO expected
      FROM artifact_versions WHERE artifact_id = NEW.artifact_id AND namespace = NEW.namespace;
    IF NEW.version_number <> expected THEN
        RAISE EXCEPTION 'version % of artifact % would leave a gap; the next version is %',
            NEW.version_number, NEW.artifact_id, expected
            USING ERRCODE = 'check_violation', CONSTRAINT = 'artifact_versions_gap_free',
                  HINT = 'constraint: artifact_versions_gap_free';
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION mimir_check_span_within_version() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    version_length integer;
BEGIN
    SELECT coalesce(erased_content_length, content_length) INTO version_length
      FROM artifact_versions WHERE id = NEW.artifact_version_id AND namespace = NEW.namespace;
    IF version_length IS NOT NULL AND NEW.end_offset > version_length THEN
        RAISE EXCEPTION 'span [%, %) lies outside its version: offsets must be within [0, %]',
            NEW.start_offset, NEW.end_offset, version_length
            USING ERRCODE = 'check_violation', CONSTRAINT = 'spans_within_version',
                  HINT = 'constraint: spans_within_version';
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION mimir_check_decision_supersede() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    successor_status decision_status;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status = 'superseded'
       AND (NEW.status, NEW.superseded_by_id) IS DISTINCT FROM (OLD.status, OLD.superseded_by_id) THEN
        RAISE EXCEPTION 'decision % is already superseded by %', OLD.id, OLD.superseded_by_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'decisions_superseded_is_final',
                  HINT = 'constraint: decisions_superseded_is_final';
    END IF;
    IF NEW.superseded_by_id IS NOT NULL
       AND (TG_OP = 'INSERT' OR NEW.superseded_by_id IS DISTINCT FROM OLD.superseded_by_id) THEN
        SELECT status INTO successor_status FROM decisions
         WHERE id = NEW.superseded_by_id AND namespace = NEW.namespace FOR SHARE;
        IF successor_status = 'superseded' THEN
            RAISE EXCEPTION 'decision % is itself superseded and cannot supersede another',
                NEW.superseded_by_id
                USING ERRCODE = 'check_violation', CONSTRAINT = 'decisions_successor_current',
                      HINT = 'constraint: decisions_successor_current';
        END IF;
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION mimir_check_group_merge() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    target_status intent_group_status;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status = 'merged' THEN
        RAISE EXCEPTION 'intent group % is already merged', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'intent_groups_merged_is_final',
                  HINT = 'constraint: intent_groups_merged_is_final';
    END IF;
    IF TG_OP = 'INSERT' AND NEW.merged_into_id IS NOT NULL THEN
        RAISE EXCEPTION 'a new intent group cannot be created merged'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'intent_groups_merged_is_final',
                  HINT = 'constraint: intent_groups_merged_is_final';
    END IF;
    IF NEW.merged_into_id IS NOT NULL THEN
        SELECT status INTO target_status FROM intent_groups
         WHERE id = NEW.merged_into_id AND namespace = NEW.namespace FOR SHARE;
        IF target_status = 'merged' THEN
            RAISE EXCEPTION 'intent group % is merged and cannot receive a merge', NEW.merged_into_id
                USING ERRCODE = 'check_violation', CONSTRAINT = 'intent_groups_merge_target_active',
                      HINT = 'constraint: intent_groups_merge_target_active';
        END IF;
    END IF;
    RETURN NEW;
END $$;

-- Search postings: the version's namespace travels as an argument.
CREATE OR REPLACE FUNCTION mimir_index_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM mimir_drop_postings(v.id, NEW.namespace)
       FROM artifact_versions v
      WHERE v.artifact_id = NEW.artifact_id AND v.namespace = NEW.namespace
        AND v.version_number = NEW.version_number - 1;
    PERFORM mimir_write_postings(NEW.id, NEW.namespace);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION mimir_drop_postings(target uuid, space text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    removed_docs integer;
    removed_len bigint;
BEGIN
    WITH gone AS (DELETE FROM search_postings WHERE version_id = target AND namespace = space
                  RETURNING tf)
    SELECT count(*), coalesce(sum(tf), 0) INTO removed_docs, removed_len FROM gone;
    IF removed_docs > 0 THEN
        INSERT INTO search_stats AS s (namespace, shard, docs, total_len)
        VALUES (space, (txid_current() % 16)::smallint, -1, -removed_len)
        ON CONFLICT (namespace, shard)
        DO UPDATE SET docs = s.docs - 1, total_len = s.total_len - removed_len;
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION mimir_previous_turn(message_id uuid, space text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
    SELECT CASE WHEN char_length(pv.content) <= 200 THEN pv.content
                ELSE regexp_replace(left(pv.content, 201), '\s+\S*$', '') END
      FROM artifacts a
      CROSS JOIN LATERAL (
          SELECT p.id FROM artifacts p
           WHERE p.namespace = space AND p.source = a.source
             AND p.created_at < a.created_at AND p.artifact_type = 'note'
           ORDER BY p.created_at DESC, p.id DESC
           LIMIT 1) prev
      CROSS JOIN LATERAL (
          SELECT v.content FROM artifact_versions v
           WHERE v.artifact_id = prev.id AND v.namespace = space
           ORDER BY v.version_number DESC
           LIMIT 1) pv
     WHERE a.id = message_id AND a.namespace = space
       AND a.artifact_type = 'note' AND a.source <> 'api'
$fn$;

-- The previous turn is looked up by its own statement: a SQL function called per row inside
-- a query that runs on a shard would be a nested distributed query. `on_coordinator`: called
-- by mimir_erase rather than by the version trigger; on Citus an INSERT ... SELECT run on the
-- coordinator without ON CONFLICT is written by COPY, which row-level security refuses (the
-- postings were just dropped, so nothing conflicts), while on a worker's shard the plain form
-- is the one that runs locally.
CREATE OR REPLACE FUNCTION mimir_write_postings(target uuid, space text,
                                                on_coordinator boolean DEFAULT false)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    doc tsvector;
    added_len bigint;
    message uuid;
    short boolean;
    previous text;
    lexemes text[];
    tfs integer[];
    dl integer;
BEGIN
    PERFORM mimir_drop_postings(target, space);
    SELECT a.id, v.content_length <= 300 INTO message, short
      FROM artifact_versions v JOIN artifacts a ON a.id = v.artifact_id AND a.namespace = space
     WHERE v.id = target AND v.namespace = space;
    IF short THEN
        previous := mimir_previous_turn(message, space);
    END IF;
    SELECT mimir_search_document(
               v.search_vector,
               concat_ws(E'\n', mimir_search_context(a.title, a.metadata, v.metadata), previous))
      INTO doc
      FROM artifact_versions v JOIN artifacts a ON a.id = v.artifact_id AND a.namespace = space
     WHERE v.id = target AND v.namespace = space;
    WITH terms AS (
        SELECT t.lexeme, coalesce(array_length(t.positions, 1), 1) AS tf FROM unnest(doc) AS t
    ), total AS (SELECT coalesce(sum(tf), 0)::integer AS dl FROM terms)
    SELECT array_agg(terms.lexeme), array_agg(terms.tf), min(total.dl)
      INTO lexemes, tfs, dl FROM terms, total;
    IF on_coordinator THEN
        INSERT INTO search_postings (namespace, lexeme, version_id, tf, dl)
        SELECT space, t.lexeme, target, t.tf, dl FROM unnest(lexemes, tfs) AS t(lexeme, tf)
        ON CONFLICT DO NOTHING;
    ELSE
        INSERT INTO search_postings (namespace, lexeme, version_id, tf, dl)
        SELECT space, t.lexeme, target, t.tf, dl FROM unnest(lexemes, tfs) AS t(lexeme, tf);
    END IF;
    SELECT coalesce(sum(coalesce(array_length(t.positions, 1), 1)), 0) INTO added_len
      FROM unnest(doc) AS t;
    IF added_len > 0 THEN
        INSERT INTO search_stats AS s (namespace, shard, docs, total_len)
        VALUES (space, (txid_current() % 16)::smallint, 1, added_len)
        ON CONFLICT (namespace, shard)
        DO UPDATE SET docs = s.docs + 1, total_len = s.total_len + added_len;
    END IF;
END
$$;

-- The one-argument forms (mimir_erase calls them), in the session's namespace.
CREATE OR REPLACE FUNCTION mimir_drop_postings(target uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM mimir_drop_postings(target, current_setting('mimir.namespace', true));
END
$$;

CREATE OR REPLACE FUNCTION mimir_write_postings(target uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM mimir_write_postings(target, current_setting('mimir.namespace', true));
END
$$;
"""


# mimir_erase as 0012 made it, with every statement on a memory table in the namespace
# (`space`, the session's): on Citus each is then routed to the namespace's shard, and its
# joins are colocated. mimir.erasing is set with SET LOCAL, which Citus passes on.
ERASE_EDITS = (
    ("WHERE o.id = erase_target::uuid AND o.external_id IS NOT NULL",
     "WHERE o.id = erase_target::uuid AND o.namespace = space AND o.external_id IS NOT NULL"),
    ("WHERE v.artifact_id = ANY(artifact_ids) AND v.erasure_id IS NULL;",
     "WHERE v.artifact_id = ANY(artifact_ids) AND v.erasure_id IS NULL AND v.namespace = space;"),
    ("FROM artifact_versions v WHERE v.id = ANY(version_ids);",
     "FROM artifact_versions v WHERE v.id = ANY(version_ids) AND v.namespace = space;"),
    ("FROM spans s WHERE s.artifact_version_id = ANY(version_ids);",
     "FROM spans s WHERE s.artifact_version_id = ANY(version_ids) AND s.namespace = space;"),
    ("FROM provenance p JOIN provenance_evidence e ON e.provenance_id = p.id\n"
     "         WHERE e.span_id = ANY(span_ids)",
     "FROM provenance p\n"
     "          JOIN provenance_evidence e ON e.provenance_id = p.id AND e.namespace = p.namespace\n"
     "         WHERE p.namespace = space AND e.span_id = ANY(span_ids)"),
    ("FROM relations r\n         WHERE r.source_type IN ('intent', 'decision')",
     "FROM relations r\n         WHERE r.namespace = space AND r.source_type IN ('intent', 'decision')"),
    ("FROM relations r\n         WHERE r.target_type IN ('intent', 'decision')",
     "FROM relations r\n         WHERE r.namespace = space AND r.target_type IN ('intent', 'decision')"),
    ("UPDATE provenance_evidence SET erasure_id = erasure WHERE span_id = ANY(span_ids);",
     "UPDATE provenance_evidence SET erasure_id = erasure\n"
     "     WHERE span_id = ANY(span_ids) AND namespace = space;"),
    ("WHERE s.id = ANY(span_ids) AND s.span_type = 'chunk'\n"
     "       AND NOT EXISTS (SELECT 1 FROM provenance_evidence e WHERE e.span_id = s.id);",
     "WHERE s.id = ANY(span_ids) AND s.namespace = space AND s.span_type = 'chunk'\n"
     "       AND NOT EXISTS (SELECT 1 FROM provenance_evidence e\n"
     "                        WHERE e.span_id = s.id AND e.namespace = space);"),
    ("DELETE FROM embeddings\n         WHERE (target_type = 'span'",
     "DELETE FROM embeddings\n         WHERE namespace = space AND ((target_type = 'span'"),
    ("OR (target_type = 'artifact' AND target_id = ANY(artifact_ids))\n        RETURNING 1)",
     "OR (target_type = 'artifact' AND target_id = ANY(artifact_ids)))\n        RETURNING 1)"),
    ("DELETE FROM provenance WHERE target_type = 'span' AND target_id = ANY(chunk_ids);",
     "DELETE FROM provenance\n"
     "     WHERE target_type = 'span' AND target_id = ANY(chunk_ids) AND namespace = space;"),
    ("DELETE FROM relations\n         WHERE (source_type = 'span'",
     "DELETE FROM relations\n         WHERE namespace = space AND ((source_type = 'span'"),
    ("OR (target_type = 'span' AND target_id = ANY(chunk_ids))\n        RETURNING 1)",
     "OR (target_type = 'span' AND target_id = ANY(chunk_ids)))\n        RETURNING 1)"),
    ("DELETE FROM spans WHERE id = ANY(chunk_ids);",
     "DELETE FROM spans WHERE id = ANY(chunk_ids) AND namespace = space;"),
    ("     WHERE artifact_version_id = ANY(version_ids);\n    GET DIAGNOSTICS n_spans",
     "     WHERE artifact_version_id = ANY(version_ids) AND namespace = space;\n"
     "    GET DIAGNOSTICS n_spans"),
    ("FROM search_postings WHERE version_id = ANY(version_ids);",
     "FROM search_postings\n     WHERE version_id = ANY(version_ids) AND namespace = space;"),
    ("PERFORM mimir_drop_postings(v) FROM unnest(version_ids) AS v;",
     "PERFORM mimir_drop_postings(v, space) FROM unnest(version_ids) AS v;"),
    ("      FROM artifact_versions WHERE id = ANY(version_ids);\n",
     "      FROM artifact_versions WHERE id = ANY(version_ids) AND namespace = space;\n"),
    # SET LOCAL rather than set_config(..., true): the same on one server; on Citus only SET
    # LOCAL reaches the workers, where the trigger that checks it runs.
    ("PERFORM set_config('mimir.erasing', 'on', true);", "SET LOCAL mimir.erasing = 'on';"),
    ("PERFORM set_config('mimir.erasing', 'off', true);", "SET LOCAL mimir.erasing = 'off';"),
    ("     WHERE id = ANY(version_ids);\n    SET LOCAL mimir.erasing = 'off';",
     "     WHERE id = ANY(version_ids) AND namespace = space;\n    SET LOCAL mimir.erasing = 'off';"),
    ("UPDATE artifacts SET title = NULL, metadata = '{}'::jsonb WHERE id = ANY(artifact_ids);",
     "UPDATE artifacts SET title = NULL, metadata = '{}'::jsonb\n"
     "     WHERE id = ANY(artifact_ids) AND namespace = space;"),
    ("WHERE lv.artifact_id = a.id\n", "WHERE lv.artifact_id = a.id AND lv.namespace = space\n"),
    ("WHERE p.namespace = a.namespace AND p.source = a.source",
     "WHERE p.namespace = space AND p.source = a.source"),
    ("WHERE a.artifact_type = 'note' AND a.source <> 'api' AND v.erasure_id IS NULL",
     "WHERE a.namespace = space AND a.artifact_type = 'note' AND a.source <> 'api'\n"
     "       AND v.erasure_id IS NULL"),
    ("SELECT t.source FROM artifacts t WHERE t.id = ANY(touched_artifacts)",
     "SELECT t.source FROM artifacts t\n"
     "                        WHERE t.id = ANY(touched_artifacts) AND t.namespace = space"),
    ("PERFORM mimir_write_postings(s) FROM unnest(successor_ids) AS s;",
     "PERFORM mimir_write_postings(s, space, true) FROM unnest(successor_ids) AS s;"),
    ("     WHERE id = erasure;", "     WHERE id = erasure AND namespace = space;"),
)


def _erase_function_of_0012() -> str:
    path = Path(__file__).parent / "0012_namespaces.py"
    spec = importlib.util.spec_from_file_location("mimir_migration_0012", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._erase_function()


def _erase_function() -> str:
    body = _erase_function_of_0012()
    for old, new in ERASE_EDITS:
        if body.count(old) != 1:
            raise RuntimeError(f"migration 0014: cannot edit mimir_erase at {old[:40]!r}")
        body = body.replace(old, new)
    return body


def _function_of(migration: str, name: str) -> str:
    """A function as an earlier migration first created it, as CREATE OR REPLACE."""
    text = (Path(__file__).parent / migration).read_text()
    found = re.search(rf"CREATE (?:OR REPLACE )?FUNCTION {name}\(.*?\n(?:END\s*)?\$\$;\n",
                      text, re.S)
    if found is None:
        raise RuntimeError(f"{name} not found in {migration}")
    return re.sub(r"^CREATE (?:OR REPLACE )?FUNCTION", "CREATE OR REPLACE FUNCTION",
                  found.group(0))


def upgrade() -> None:
    op.execute(_keys(with_namespace=True))
    op.execute(TRIGGERS)
    op.execute(_erase_function())


def downgrade() -> None:
    """Keys on id alone again, the triggers as before (no data changes)."""
    op.execute(_keys(with_namespace=False))
    for name, migration in REPLACED:
        # 0011 writes the span check with a {length} placeholder, filled as its upgrade does.
        op.execute(_function_of(migration, name).replace(
            "{length}", "coalesce(erased_content_length, content_length)"))
    op.execute(_erase_function_of_0012())
    op.execute("".join(f"DROP FUNCTION {signature};\n" for signature in ADDED))
