"""BM25 that scales: a postings table of the latest version of every artifact, with
collection statistics kept incrementally, instead of unnesting every candidate's tsvector.

- search_postings(lexeme, version_id, tf, dl): one row per distinct lexeme of the latest
  version of each artifact. The indexed text is the version's english search_vector plus
  its *context*: the artifact's title and the short string values of the artifact's and
  the version's metadata (speaker, date, ...), so "what did Maya say about ..." can match
  a note whose speaker is in its metadata. tf = occurrences (positions, at most 256 per
  lexeme as PostgreSQL keeps them), dl = the document's total occurrences.
- When a version is appended, the previous version's postings are removed: the table
  always describes the current text of every artifact (older versions are searched the
  slower way, with `latest_only: false`).
- search_stats: documents and total length in 16 counter rows (a transaction updates
  the row of txid % 16, so concurrent writers rarely wait on one row and never deadlock
  on two); avgdl = sum(total_len) / sum(docs).
- Document frequency is counted from the postings' primary key (an index-only scan).
- artifacts(source) gets an index of its own: a search within one conversation's source
  starts from it.
- mimir_bm25 now measures document length the same way (total occurrences).

All maintained by an AFTER INSERT trigger on artifact_versions, in the writing
transaction: a version is searchable the moment it commits.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE FUNCTION mimir_search_context(title text, artifact_metadata jsonb, version_metadata jsonb)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT concat_ws(E'\n', title, (
        SELECT string_agg(s.value, E'\n')
          FROM (SELECT item #>> '{}' AS value
                  FROM jsonb_path_query(coalesce(artifact_metadata, '{}'::jsonb)
                                        || coalesce(version_metadata, '{}'::jsonb),
                                        'strict $.**') AS item
                 WHERE jsonb_typeof(item) = 'string'
                 LIMIT 32) AS s
         WHERE char_length(s.value) BETWEEN 1 AND 200))
$$;

CREATE FUNCTION mimir_search_document(content_vector tsvector, context text)
RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT content_vector || to_tsvector('english'::regconfig, coalesce(context, ''))
$$;

CREATE TABLE search_postings (
    lexeme text NOT NULL,
    version_id uuid NOT NULL,
    tf integer NOT NULL,
    dl integer NOT NULL,
    CONSTRAINT pk_search_postings PRIMARY KEY (lexeme, version_id) INCLUDE (tf, dl),
    CONSTRAINT fk_search_postings_version_id_artifact_versions
        FOREIGN KEY (version_id) REFERENCES artifact_versions (id) ON DELETE CASCADE
);
CREATE INDEX ix_search_postings_version_id ON search_postings (version_id);

-- Searches and lists filtered by source (one conversation's messages, one import) start
-- here; the unique (source, external_id) index is partial and serves only lookups by both.
CREATE INDEX ix_artifacts_source ON artifacts (source);

CREATE TABLE search_stats (
    shard smallint NOT NULL,
    docs bigint NOT NULL DEFAULT 0,
    total_len bigint NOT NULL DEFAULT 0,
    CONSTRAINT pk_search_stats PRIMARY KEY (shard),
    CONSTRAINT ck_search_stats_shard CHECK (shard BETWEEN 0 AND 15)
);
INSERT INTO search_stats (shard) SELECT generate_series(0, 15);

CREATE FUNCTION mimir_index_version() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    doc tsvector;
    previous uuid;
    removed_docs integer := 0;
    removed_len bigint := 0;
    added_len bigint := 0;
BEGIN
    SELECT mimir_search_document(NEW.search_vector,
                                 mimir_search_context(a.title, a.metadata, NEW.metadata))
      INTO doc
      FROM artifacts a WHERE a.id = NEW.artifact_id;
    SELECT v.id INTO previous
      FROM artifact_versions v
     WHERE v.artifact_id = NEW.artifact_id AND v.version_number = NEW.version_number - 1;
    IF previous IS NOT NULL THEN
        WITH gone AS (DELETE FROM search_postings WHERE version_id = previous RETURNING tf)
        SELECT CASE WHEN count(*) > 0 THEN 1 ELSE 0 END, coalesce(sum(tf), 0)
          INTO removed_docs, removed_len FROM gone;
    END IF;
    WITH terms AS (
        SELECT t.lexeme, coalesce(array_length(t.positions, 1), 1) AS tf FROM unnest(doc) AS t
    ), total AS (SELECT coalesce(sum(tf), 0)::integer AS dl FROM terms)
    INSERT INTO search_postings (lexeme, version_id, tf, dl)
    SELECT terms.lexeme, NEW.id, terms.tf, total.dl FROM terms, total;
    SELECT coalesce(sum(coalesce(array_length(t.positions, 1), 1)), 0) INTO added_len
      FROM unnest(doc) AS t;
    IF added_len > 0 OR removed_docs > 0 THEN
        UPDATE search_stats
           SET docs = docs + (CASE WHEN added_len > 0 THEN 1 ELSE 0 END) - removed_docs,
               total_len = total_len + added_len - removed_len
         WHERE shard = (txid_current() % 16)::smallint;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER trg_artifact_versions_search_index
    AFTER INSERT ON artifact_versions
    FOR EACH ROW EXECUTE FUNCTION mimir_index_version();

-- Existing data: the latest version of every artifact.
WITH latest AS (
    SELECT DISTINCT ON (v.artifact_id) v.id, v.search_vector, v.metadata, v.artifact_id
      FROM artifact_versions v
     ORDER BY v.artifact_id, v.version_number DESC
), doc AS (
    SELECT l.id, mimir_search_document(l.search_vector,
                                       mimir_search_context(a.title, a.metadata, l.metadata)) AS doc
      FROM latest l JOIN artifacts a ON a.id = l.artifact_id
), terms AS (
    SELECT d.id, t.lexeme, coalesce(array_length(t.positions, 1), 1) AS tf
      FROM doc d, unnest(d.doc) AS t
)
INSERT INTO search_postings (lexeme, version_id, tf, dl)
SELECT lexeme, id, tf, sum(tf) OVER (PARTITION BY id) FROM terms;

UPDATE search_stats
   SET docs = (SELECT count(DISTINCT version_id) FROM search_postings),
       total_len = (SELECT coalesce(sum(tf), 0) FROM search_postings)
 WHERE shard = 0;

CREATE OR REPLACE FUNCTION mimir_bm25(doc tsvector, terms text[], idf float8[], avgdl float8,
                                      k1 float8 DEFAULT 1.2, b float8 DEFAULT 0.75)
RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    WITH d AS (SELECT lexeme, coalesce(array_length(positions, 1), 1)::float8 AS tf
                 FROM unnest(doc)),
         len AS (SELECT coalesce(sum(tf), 0) AS dl FROM d)
    SELECT coalesce(sum(q.idf * d.tf * (k1 + 1)
                        / (d.tf + k1 * (1 - b + b * len.dl / greatest(avgdl, 1)))), 0)
      FROM unnest(terms, idf) AS q(term, idf)
      JOIN d ON d.lexeme = q.term
      CROSS JOIN len
$$;
"""

DOWNGRADE = r"""
DROP TRIGGER IF EXISTS trg_artifact_versions_search_index ON artifact_versions;
DROP FUNCTION IF EXISTS mimir_index_version();
DROP TABLE IF EXISTS search_stats;
DROP TABLE IF EXISTS search_postings;
DROP INDEX IF EXISTS ix_artifacts_source;
DROP FUNCTION IF EXISTS mimir_search_document(tsvector, text);
DROP FUNCTION IF EXISTS mimir_search_context(text, jsonb, jsonb);
CREATE OR REPLACE FUNCTION mimir_bm25(doc tsvector, terms text[], idf float8[], avgdl float8,
                                      k1 float8 DEFAULT 1.2, b float8 DEFAULT 0.75)
RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(sum(q.idf * d.tf * (k1 + 1)
                        / (d.tf + k1 * (1 - b + b * length(doc) / greatest(avgdl, 1)))), 0)
      FROM unnest(terms, idf) AS q(term, idf)
      JOIN (SELECT lexeme, coalesce(array_length(positions, 1), 1)::float8 AS tf
              FROM unnest(doc)) AS d ON d.lexeme = q.term
$$;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
