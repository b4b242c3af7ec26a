"""BM25 scoring for full-text search: mimir_bm25(doc, terms, idf, avgdl).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Okapi BM25 over a tsvector: term frequency is the number of positions a lexeme has
# (PostgreSQL keeps up to 256), document length is its number of distinct lexemes, so
# `avgdl` must be the mean of length(tsvector) over the collection. IDF comes from the
# caller, which counts document frequencies with the GIN index.
UPGRADE = r"""
CREATE FUNCTION mimir_bm25(doc tsvector, terms text[], idf float8[], avgdl float8,
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
    op.execute("DROP FUNCTION IF EXISTS mimir_bm25(tsvector, text[], float8[], float8, float8, float8)")
