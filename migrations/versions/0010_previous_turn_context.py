"""A short conversation message is indexed for full-text search with the words of the turn
before it.

A reply such as "I FINISHED! 1 hour 58 minutes." or "We passed the health inspection on
Friday!!" does not name what it answers; the message before it does ("how did the half
marathon go?"). Measured on the conversation dev sets (docs/search-quality.md), adding the
previous message's words to a short message's postings raised text and hybrid recall on the
chats and left the ChatGPT set unchanged. Putting the previous turn into the *embedded*
text instead lowered semantic recall, so only the postings take it.

The rule, in SQL so that the trigger of migration 0007 applies it in the writing
transaction:
- The message is a `note` in a source other than the default `api` (a source groups one
  conversation; `api` groups unrelated notes), and its latest version has at most
  MAX_REPLY_CHARS (300) characters: a long message carries its own context.
- Its predecessor is the note of the same source created last *before* it
  (artifacts.created_at, then id), among those already stored when the version is written.
  A predecessor that arrives later is not looked for (ingest in conversation order for the
  context to apply); notes written in one transaction share a created_at and are not each
  other's predecessors. Deterministic: the same inserts in the same order index the same.
- The predecessor's latest content, its first PREVIOUS_TURN_CHARS (200) characters cut at
  a word, joins the context (title and metadata strings) after the message's own words.
  It counts towards the document length like the rest of the context. A later edit of the
  predecessor does not re-index its successor.

Postings are written by one function, mimir_write_postings(version), which the trigger
calls; the upgrade re-indexes the latest versions the rule applies to. artifacts(source)
becomes artifacts(source, created_at, id): the same searches by source use it, and the
predecessor is one backward step in it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

import re
from pathlib import Path

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE INDEX ix_artifacts_source_created_at_id ON artifacts (source, created_at, id);
DROP INDEX ix_artifacts_source;

CREATE FUNCTION mimir_previous_turn(message_id uuid) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN char_length(pv.content) <= 200 THEN pv.content
                ELSE regexp_replace(left(pv.content, 201), '\s+\S*$', '') END
      FROM artifacts a
      CROSS JOIN LATERAL (
          SELECT p.id FROM artifacts p
           WHERE p.source = a.source AND p.created_at < a.created_at AND p.artifact_type = 'note'
           ORDER BY p.created_at DESC, p.id DESC
           LIMIT 1) prev
      CROSS JOIN LATERAL (
          SELECT v.content FROM artifact_versions v
           WHERE v.artifact_id = prev.id
           ORDER BY v.version_number DESC
           LIMIT 1) pv
     WHERE a.id = message_id AND a.artifact_type = 'note' AND a.source <> 'api'
$$;

CREATE FUNCTION mimir_drop_postings(target uuid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    removed_docs integer;
    removed_len bigint;
BEGIN
    WITH gone AS (DELETE FROM search_postings WHERE version_id = target RETURNING tf)
    SELECT count(*), coalesce(sum(tf), 0) INTO removed_docs, removed_len FROM gone;
    IF removed_docs > 0 THEN
        UPDATE search_stats SET docs = docs - 1, total_len = total_len - removed_len
         WHERE shard = (txid_current() % 16)::smallint;
    END IF;
END
$$;

CREATE FUNCTION mimir_write_postings(target uuid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    doc tsvector;
    added_len bigint;
BEGIN
    PERFORM mimir_drop_postings(target);
    SELECT mimir_search_document(
               v.search_vector,
               concat_ws(E'\n', mimir_search_context(a.title, a.metadata, v.metadata),
                         CASE WHEN v.content_length <= 300 THEN mimir_previous_turn(a.id) END))
      INTO doc
      FROM artifact_versions v JOIN artifacts a ON a.id = v.artifact_id
     WHERE v.id = target;
    WITH terms AS (
        SELECT t.lexeme, coalesce(array_length(t.positions, 1), 1) AS tf FROM unnest(doc) AS t
    ), total AS (SELECT coalesce(sum(tf), 0)::integer AS dl FROM terms)
    INSERT INTO search_postings (lexeme, version_id, tf, dl)
    SELECT terms.lexeme, target, terms.tf, total.dl FROM terms, total;
    SELECT coalesce(sum(coalesce(array_length(t.positions, 1), 1)), 0) INTO added_len
      FROM unnest(doc) AS t;
    IF added_len > 0 THEN
        UPDATE search_stats SET docs = docs + 1, total_len = total_len + added_len
         WHERE shard = (txid_current() % 16)::smallint;
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION mimir_index_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM mimir_drop_postings(v.id)
       FROM artifact_versions v
      WHERE v.artifact_id = NEW.artifact_id AND v.version_number = NEW.version_number - 1;
    PERFORM mimir_write_postings(NEW.id);
    RETURN NULL;
END
$$;
"""

# The latest versions the previous-turn rule applies to (re-indexed both ways).
REINDEX = r"""
SELECT mimir_write_postings(v.id)
  FROM artifacts a JOIN artifact_versions v ON v.artifact_id = a.id
 WHERE a.artifact_type = 'note' AND a.source <> 'api' AND v.content_length <= 300
   AND NOT EXISTS (SELECT 1 FROM artifact_versions newer
                    WHERE newer.artifact_id = v.artifact_id
                      AND newer.version_number > v.version_number)
 ORDER BY a.created_at, a.id;
"""


def _trigger_function_of_0007() -> str:
    """mimir_index_version as migration 0007 defined it (restored on downgrade)."""
    text = (Path(__file__).parent / "0007_search_postings.py").read_text()
    found = re.search(r"CREATE FUNCTION mimir_index_version\(\).*?\n\$\$;\n", text, re.S)
    if found is None:  # pragma: no cover - 0007 is immutable
        raise RuntimeError("migration 0007's mimir_index_version not found")
    return found.group(0).replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def upgrade() -> None:
    op.execute(UPGRADE)
    op.execute(REINDEX)


def downgrade() -> None:
    # Re-index the same versions without the previous turn, then restore 0007's trigger.
    op.execute("CREATE OR REPLACE FUNCTION mimir_previous_turn(message_id uuid) RETURNS text "
               "LANGUAGE sql STABLE AS $$ SELECT NULL::text $$")
    op.execute(REINDEX)
    op.execute(_trigger_function_of_0007())
    op.execute("""
        DROP FUNCTION mimir_write_postings(uuid);
        DROP FUNCTION mimir_drop_postings(uuid);
        DROP FUNCTION mimir_previous_turn(uuid);
        CREATE INDEX ix_artifacts_source ON artifacts (source);
        DROP INDEX ix_artifacts_source_created_at_id;
    """)
