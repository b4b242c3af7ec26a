"""Namespaces, enforced by PostgreSQL row-level security (issue 16).

- namespaces: one row per namespace (name: lower-case letters, digits, '-' and '_', up to
  63 characters). `default` holds everything written before this migration.
- Every table of memory content gets `namespace text NOT NULL`, defaulting to the
  session's `mimir.namespace` setting (`default` when the session has none: only the
  owner's tools can write such rows, since RLS refuses them to the app role) and
  referencing namespaces(name): artifacts,
  artifact_versions, spans, intent_groups, intents, decisions, relations, provenance,
  provenance_evidence, embeddings, search_postings, search_stats, imports, erasures.
- Row-level security is enabled and FORCED on each of them, with one policy,
  `namespace_isolation`: a row is visible, and may be written, only when its namespace is
  the session's `mimir.namespace`. With the setting missing or empty nothing is visible
  and nothing can be written (fail closed).
- The role `mimir_app` (NOLOGIN, not a superuser, no BYPASSRLS) is what the service runs
  its queries as: the pool does `SET ROLE mimir_app` on every new connection, so RLS
  applies even when DATABASE_URL's user is a superuser (the embedded server's is). The
  migrating user is made a member of it (to SET ROLE) and of `mimir_maintenance`, whose
  policy `maintenance` sees every namespace: for the owner's own tools (`mimir check`,
  later migrations) when the owner is not a superuser and FORCE would otherwise hide rows.
- Parent and child rows share a namespace, by composite foreign keys
  (child.parent_id, child.namespace) -> parent(id, namespace): a foreign-key check bypasses
  RLS, so a plain key would let a client attach a span to another namespace's version by
  its id. Polymorphic references (relations, provenance targets, embeddings targets) are
  checked by triggers that read through RLS, so an id of another namespace is "not found".
- Uniqueness that was global becomes per namespace: artifacts (source, external_id) and
  intent_groups (name). Search statistics are per namespace (BM25 idf and mean length
  count the namespace's documents only): search_stats is keyed (namespace, shard), the
  postings' primary key leads with namespace, and the previous-turn context of migration
  0010 stays inside the namespace.
- api_keys.namespaces: the namespaces a key may use (NULL for admin keys: all);
  existing read and write keys get {default}. audit_log.namespace records where an action
  happened. Erasure gains the scope `namespace`, and mimir_erase() works inside the
  session's namespace only.
- mimir_create_space_index(space): the HNSW index of an embedding space, created as the
  table's owner (SECURITY DEFINER) since the app role may not create indexes.
- Global by design (no RLS): namespaces, api_keys, audit_log (admin only), embedding_spaces
  (model definitions, no content), job_errors and procrastinate's queue tables (the jobs
  API filters them by the job's namespace argument; procrastinate owns those tables).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29
"""

import re
from pathlib import Path

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TABLES = ("artifacts", "artifact_versions", "spans", "intent_groups", "intents", "decisions",
          "relations", "provenance", "provenance_evidence", "embeddings", "search_postings",
          "search_stats", "imports", "erasures")
# Parents whose (id, namespace) child rows reference.
PARENTS = ("artifacts", "artifact_versions", "spans", "intent_groups", "decisions", "provenance")
# (child table, its column, parent table, ON DELETE action) for every same-namespace key.
LINKS = (
    ("artifact_versions", "artifact_id", "artifacts", "RESTRICT"),
    ("spans", "artifact_version_id", "artifact_versions", "RESTRICT"),
    ("intents", "intent_group_id", "intent_groups", "SET NULL (intent_group_id)"),
    ("intent_groups", "merged_into_id", "intent_groups", "RESTRICT"),
    ("decisions", "superseded_by_id", "decisions", "RESTRICT"),
    ("provenance_evidence", "provenance_id", "provenance", "CASCADE"),
    ("provenance_evidence", "span_id", "spans", "RESTRICT"),
    ("search_postings", "version_id", "artifact_versions", "CASCADE"),
)
SETTING = "current_setting('mimir.namespace', true)"
# In the policies, as an uncorrelated subquery: evaluated once per statement (an initplan)
# rather than once per row of a scan, and still usable as an index condition.
POLICY_SETTING = f"(SELECT {SETTING})"
# The column default: the session's namespace; `default` for a session with none, which
# only a role that bypasses RLS can write (for the app role, WITH CHECK refuses it).
DEFAULT = f"coalesce(nullif({SETTING}, ''), 'default')"

PREPARE = r"""
CREATE TABLE namespaces (
    name text NOT NULL,
    description text,
    created_by text,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_namespaces PRIMARY KEY (name),
    CONSTRAINT ck_namespaces_name_format CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$')
);
INSERT INTO namespaces (name, description) VALUES ('default', 'Everything written before namespaces');

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mimir_app') THEN
        CREATE ROLE mimir_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mimir_maintenance') THEN
        CREATE ROLE mimir_maintenance NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
    IF NOT pg_has_role(current_user, 'mimir_app', 'USAGE')
       OR NOT pg_has_role(current_user, 'mimir_app', 'SET') THEN
        EXECUTE format('GRANT mimir_app TO %I', current_user);
    END IF;
    IF NOT pg_has_role(current_user, 'mimir_maintenance', 'MEMBER') THEN
        EXECUTE format('GRANT mimir_maintenance TO %I', current_user);
    END IF;
END $$;

ALTER TABLE api_keys ADD COLUMN namespaces text[];
UPDATE api_keys SET namespaces = '{default}' WHERE scope <> 'admin';
ALTER TABLE api_keys ADD CONSTRAINT ck_api_keys_namespaces
    CHECK ((scope = 'admin') = (namespaces IS NULL) AND cardinality(namespaces) > 0);
ALTER TABLE audit_log ADD COLUMN namespace text;

ALTER TYPE erasure_scope ADD VALUE IF NOT EXISTS 'namespace';

ALTER TABLE search_stats DROP CONSTRAINT pk_search_stats;
ALTER TABLE search_postings DROP CONSTRAINT pk_search_postings;
ALTER TABLE artifacts DROP CONSTRAINT IF EXISTS uq_artifacts_source_external_id;
DROP INDEX IF EXISTS uq_artifacts_source_external_id;
ALTER TABLE intent_groups DROP CONSTRAINT uq_intent_groups_name;
"""

FINISH = r"""
ALTER TABLE search_stats ADD CONSTRAINT pk_search_stats PRIMARY KEY (namespace, shard);
ALTER TABLE search_postings ADD CONSTRAINT pk_search_postings
    PRIMARY KEY (namespace, lexeme, version_id) INCLUDE (tf, dl);
CREATE UNIQUE INDEX uq_artifacts_namespace_source_external_id
    ON artifacts (namespace, source, external_id) WHERE external_id IS NOT NULL;
ALTER TABLE intent_groups ADD CONSTRAINT uq_intent_groups_namespace_name UNIQUE (namespace, name);

GRANT USAGE ON SCHEMA public TO mimir_app, mimir_maintenance;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO mimir_app;
GRANT MAINTAIN ON artifact_versions, artifacts, spans, search_postings, embeddings,
    provenance_evidence, intent_groups, intents, decisions, relations, provenance
    TO mimir_app;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO mimir_app;
REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM mimir_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO mimir_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO mimir_app;

-- An embedding space's HNSW index, built for the app role, which does not own the table:
-- SECURITY DEFINER (runs as the owner), and it takes only a space id; name, dimensions
-- and operator class come from the stored space.
CREATE FUNCTION mimir_create_space_index(space uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    target embedding_spaces%ROWTYPE;
BEGIN
    SELECT * INTO target FROM embedding_spaces WHERE id = space;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no embedding space %', space USING ERRCODE = 'no_data_found';
    END IF;
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON embeddings USING hnsw '
                   '((embedding::vector(%s)) %s) WHERE space_id = %L',
                   'ix_embeddings_hnsw_' || replace(target.id::text, '-', ''),
                   target.dimensions,
                   CASE target.distance WHEN 'cosine' THEN 'vector_cosine_ops'
                                       WHEN 'l2' THEN 'vector_l2_ops'
                                       ELSE 'vector_ip_ops' END,
                   target.id);
END $$;
REVOKE ALL ON FUNCTION mimir_create_space_index(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION mimir_create_space_index(uuid) TO mimir_app;

CREATE OR REPLACE FUNCTION mimir_drop_postings(target uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    removed_docs integer;
    removed_len bigint;
    space text;
BEGIN
    WITH gone AS (DELETE FROM search_postings WHERE version_id = target
                  RETURNING tf, namespace)
    SELECT count(*), coalesce(sum(tf), 0), min(namespace)
      INTO removed_docs, removed_len, space FROM gone;
    IF removed_docs > 0 THEN
        INSERT INTO search_stats AS s (namespace, shard, docs, total_len)
        VALUES (space, (txid_current() % 16)::smallint, -1, -removed_len)
        ON CONFLICT (namespace, shard)
        DO UPDATE SET docs = s.docs - 1, total_len = s.total_len - removed_len;
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION mimir_write_postings(target uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    doc tsvector;
    space text;
    added_len bigint;
BEGIN
    PERFORM mimir_drop_postings(target);
    SELECT mimir_search_document(
               v.search_vector,
               concat_ws(E'\n', mimir_search_context(a.title, a.metadata, v.metadata),
                         CASE WHEN v.content_length <= 300 THEN mimir_previous_turn(a.id) END)),
           v.namespace
      INTO doc, space
      FROM artifact_versions v JOIN artifacts a ON a.id = v.artifact_id
     WHERE v.id = target;
    WITH terms AS (
        SELECT t.lexeme, coalesce(array_length(t.positions, 1), 1) AS tf FROM unnest(doc) AS t
    ), total AS (SELECT coalesce(sum(tf), 0)::integer AS dl FROM terms)
    INSERT INTO search_postings (namespace, lexeme, version_id, tf, dl)
    SELECT space, terms.lexeme, target, terms.tf, total.dl FROM terms, total;
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

CREATE OR REPLACE FUNCTION mimir_previous_turn(message_id uuid) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
    SELECT CASE WHEN char_length(pv.content) <= 200 THEN pv.content
                ELSE regexp_replace(left(pv.content, 201), '\s+\S*$', '') END
      FROM artifacts a
      CROSS JOIN LATERAL (
          SELECT p.id FROM artifacts p
           WHERE p.namespace = a.namespace AND p.source = a.source
             AND p.created_at < a.created_at AND p.artifact_type = 'note'
           ORDER BY p.created_at DESC, p.id DESC
           LIMIT 1) prev
      CROSS JOIN LATERAL (
          SELECT v.content FROM artifact_versions v
           WHERE v.artifact_id = prev.id
           ORDER BY v.version_number DESC
           LIMIT 1) pv
     WHERE a.id = message_id AND a.artifact_type = 'note' AND a.source <> 'api'
$fn$;
"""


def _per_table() -> str:
    statements = []
    for table in TABLES:
        statements.append(
            f"ALTER TABLE {table} ADD COLUMN namespace text NOT NULL DEFAULT 'default';\n"
            f"ALTER TABLE {table} ALTER COLUMN namespace SET DEFAULT {DEFAULT};\n"
            f"ALTER TABLE {table} ADD CONSTRAINT fk_{table}_namespace_namespaces\n"
            f"    FOREIGN KEY (namespace) REFERENCES namespaces (name) ON DELETE RESTRICT;\n"
            f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;\n"
            f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY;\n"
            f"CREATE POLICY namespace_isolation ON {table}\n"
            f"    USING (namespace = {POLICY_SETTING}) WITH CHECK (namespace = {POLICY_SETTING});\n"
            f"CREATE POLICY maintenance ON {table} TO mimir_maintenance\n"
            f"    USING (true) WITH CHECK (true);\n")
    for table in PARENTS:
        statements.append(f"ALTER TABLE {table} ADD CONSTRAINT uq_{table}_id_namespace "
                          f"UNIQUE (id, namespace);\n")
    for child, column, parent, action in LINKS:
        statements.append(
            f"ALTER TABLE {child} DROP CONSTRAINT fk_{child}_{column}_{parent};\n"
            f"ALTER TABLE {child} ADD CONSTRAINT fk_{child}_{column}_{parent}\n"
            f"    FOREIGN KEY ({column}, namespace) REFERENCES {parent} (id, namespace)\n"
            f"    ON DELETE {action};\n")
    return "".join(statements)


def _erase_function() -> str:
    """mimir_erase of migration 0011, working inside the session's namespace only, with the
    scope `namespace` (every artifact of the namespace)."""
    text = (Path(__file__).parent / "0011_erasure.py").read_text()
    found = re.search(r"CREATE FUNCTION mimir_erase\(.*?\nEND \$\$;\n", text, re.S)
    if found is None:
        raise RuntimeError("mimir_erase not found in migration 0011")
    body = found.group(0).replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    edits = (
        ("    tally jsonb;\nBEGIN\n",
         "    tally jsonb;\n    space text := current_setting('mimir.namespace', true);\nBEGIN\n"
         "    IF coalesce(space, '') = '' THEN\n"
         "        RAISE EXCEPTION 'mimir_erase needs the setting mimir.namespace'\n"
         "            USING ERRCODE = 'invalid_parameter_value';\n"
         "    END IF;\n"
         "    IF erase_scope = 'namespace' AND erase_target <> space THEN\n"
         "        RAISE EXCEPTION 'namespace % can only be erased from inside it', erase_target\n"
         "            USING ERRCODE = 'invalid_parameter_value';\n"
         "    END IF;\n"),
        ("WHERE v.id = erase_target::uuid AND v.erasure_id IS NULL;",
         "WHERE v.id = erase_target::uuid AND v.erasure_id IS NULL AND v.namespace = space;"),
        ("             WHERE a.id = erase_target::uuid\n",
         "             WHERE a.namespace = space AND (a.id = erase_target::uuid\n"),
        ("AND a.source = o.source AND a.external_id = o.external_id || '#raw');",
         "AND a.source = o.source AND a.external_id = o.external_id || '#raw'));"),
        ("FROM artifacts a WHERE a.source = erase_target;",
         "FROM artifacts a\n             WHERE a.namespace = space\n"
         "               AND (erase_scope = 'namespace' OR a.source = erase_target);"),
        ("WHERE p.source = a.source AND p.created_at < a.created_at",
         "WHERE p.namespace = a.namespace AND p.source = a.source\n"
         "                       AND p.created_at < a.created_at"),
        ("INSERT INTO audit_log (action, actor, subject, details)\n"
         "    VALUES ('erasure', erase_actor,",
         "INSERT INTO audit_log (action, actor, namespace, subject, details)\n"
         "    VALUES ('erasure', erase_actor, space,"),
    )
    for old, new in edits:
        if body.count(old) != 1:
            raise RuntimeError(f"migration 0012: cannot edit mimir_erase at {old[:40]!r}")
        body = body.replace(old, new)
    return body


def _function_of(migration: str, name: str) -> str:
    """A function as an earlier migration created it, as CREATE OR REPLACE."""
    text = (Path(__file__).parent / migration).read_text()
    found = re.search(rf"CREATE FUNCTION {name}\(.*?\n(?:END\s*)?\$\$;\n", text, re.S)
    if found is None:
        raise RuntimeError(f"{name} not found in {migration}")
    return found.group(0).replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def upgrade() -> None:
    op.execute(PREPARE)
    op.execute(_per_table())
    op.execute(FINISH)
    op.execute(_erase_function())


def downgrade() -> None:
    """Back to one namespace. Fails (unique violation) when two namespaces hold the same
    (source, external_id) or intent group name: export, erase and restore first. The roles
    stay (they are cluster-wide and may serve other databases); their grants here go. The
    `namespace` erasure scope stays in the enum (PostgreSQL cannot drop an enum value);
    erasure records of that scope keep it."""
    statements = []
    for child, column, parent, action in LINKS:
        plain = action.split(" (")[0]
        statements.append(
            f"ALTER TABLE {child} DROP CONSTRAINT fk_{child}_{column}_{parent};\n"
            f"ALTER TABLE {child} ADD CONSTRAINT fk_{child}_{column}_{parent}\n"
            f"    FOREIGN KEY ({column}) REFERENCES {parent} (id) ON DELETE {plain};\n")
    for table in PARENTS:
        statements.append(f"ALTER TABLE {table} DROP CONSTRAINT uq_{table}_id_namespace;\n")
    statements.append(
        "ALTER TABLE search_stats DROP CONSTRAINT pk_search_stats;\n"
        "ALTER TABLE search_postings DROP CONSTRAINT pk_search_postings;\n"
        "DROP INDEX uq_artifacts_namespace_source_external_id;\n"
        "ALTER TABLE intent_groups DROP CONSTRAINT uq_intent_groups_namespace_name;\n"
        # One statistics row per shard again: the namespaces' counters add up.
        "CREATE TEMP TABLE merged_stats ON COMMIT DROP AS\n"
        "    SELECT shard, sum(docs)::bigint AS docs, sum(total_len)::bigint AS total_len\n"
        "      FROM search_stats GROUP BY shard;\n"
        "DELETE FROM search_stats;\n")
    for table in TABLES:
        statements.append(
            f"DROP POLICY namespace_isolation ON {table};\n"
            f"DROP POLICY maintenance ON {table};\n"
            f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY;\n"
            f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY;\n"
            f"ALTER TABLE {table} DROP COLUMN namespace;\n")
    statements.append(
        "INSERT INTO search_stats (shard, docs, total_len) SELECT * FROM merged_stats;\n"
        "INSERT INTO search_stats (shard) SELECT g FROM generate_series(0, 15) AS g\n"
        "    WHERE g NOT IN (SELECT shard FROM search_stats);\n"
        "ALTER TABLE search_stats ADD CONSTRAINT pk_search_stats PRIMARY KEY (shard);\n"
        "ALTER TABLE search_postings ADD CONSTRAINT pk_search_postings\n"
        "    PRIMARY KEY (lexeme, version_id) INCLUDE (tf, dl);\n"
        "CREATE UNIQUE INDEX uq_artifacts_source_external_id ON artifacts (source, external_id)\n"
        "    WHERE external_id IS NOT NULL;\n"
        "ALTER TABLE intent_groups ADD CONSTRAINT uq_intent_groups_name UNIQUE (name);\n"
        "ALTER TABLE api_keys DROP CONSTRAINT ck_api_keys_namespaces;\n"
        "ALTER TABLE api_keys DROP COLUMN namespaces;\n"
        "ALTER TABLE audit_log DROP COLUMN namespace;\n"
        "DROP TABLE namespaces;\n"
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public\n"
        "    REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM mimir_app;\n"
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public\n"
        "    REVOKE USAGE, SELECT, UPDATE ON SEQUENCES FROM mimir_app;\n"
        "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM mimir_app;\n"
        "REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM mimir_app;\n"
        "REVOKE USAGE ON SCHEMA public FROM mimir_app, mimir_maintenance;\n")
    statements.append("DROP FUNCTION mimir_create_space_index(uuid);\n")
    op.execute("".join(statements))
    op.execute(_function_of("0010_previous_turn_context.py", "mimir_drop_postings"))
    op.execute(_function_of("0010_previous_turn_context.py", "mimir_write_postings"))
    op.execute(_function_of("0010_previous_turn_context.py", "mimir_previous_turn"))
    op.execute(_function_of("0011_erasure.py", "mimir_erase"))
