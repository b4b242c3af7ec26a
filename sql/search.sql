-- name: search_text_language^
-- The text search configuration with this name, if it exists and is visible.
SELECT cfgname::text AS name
  FROM pg_ts_config
 WHERE cfgname = :language::text AND pg_ts_config_is_visible(oid);

-- name: search_text_languages
-- Every visible text search configuration name, for error messages.
SELECT cfgname::text AS name
  FROM pg_ts_config
 WHERE pg_ts_config_is_visible(oid)
 ORDER BY cfgname;

-- name: search_text_parse^
-- The query as websearch_to_tsquery understands it ('' when it has no searchable words).
SELECT websearch_to_tsquery(:language::regconfig, :query::text)::text AS tsquery;

-- name: search_text_rank
-- The best full-text matches across artifact versions, intents and decisions, with a
-- snippet, scored by BM25 when :terms are given (else ts_rank_cd). Versions use the stored english search_vector (GIN index) when the language
-- is english, else a vector computed on the fly; intents and decisions always compute it.
WITH version_doc AS (
    SELECT v.id, v.artifact_id, v.version_number, v.created_at, v.search_vector AS doc
      FROM artifact_versions v
     WHERE :language::text = 'english' AND v.namespace = :namespace
    UNION ALL
    SELECT v.id, v.artifact_id, v.version_number, v.created_at,
           to_tsvector(:language::regconfig, v.content) AS doc
      FROM artifact_versions v
     WHERE :language::text <> 'english' AND v.namespace = :namespace
),
ranked AS (
    SELECT 'artifact_version' AS entity_type, vd.id AS entity_id,
           CASE WHEN :terms::text[] IS NULL THEN ts_rank_cd(vd.doc, :tsquery::tsquery, 33)
                ELSE mimir_bm25(vd.doc, :terms::text[], :idf::float8[], :avgdl::float8) END
               AS score
      FROM version_doc vd
      JOIN artifacts a ON a.id = vd.artifact_id AND a.namespace = :namespace
     WHERE 'artifact_version' = ANY(:entity_types::text[])
       AND vd.doc @@ :tsquery::tsquery
       AND (:artifact_kinds::text[] IS NULL OR a.artifact_type::text = ANY(:artifact_kinds::text[]))
       AND (:sources::text[] IS NULL OR a.source = ANY(:sources::text[]))
       AND (:created_after::timestamptz IS NULL OR vd.created_at >= :created_after::timestamptz)
       AND (:created_before::timestamptz IS NULL OR vd.created_at < :created_before::timestamptz)
       AND (NOT :latest_only::boolean OR NOT EXISTS (
                SELECT 1 FROM artifact_versions newer
                 WHERE newer.artifact_id = vd.artifact_id AND newer.namespace = :namespace
                   AND newer.version_number > vd.version_number))
    UNION ALL
    SELECT 'intent', i.id,
           CASE WHEN :terms::text[] IS NULL
                THEN ts_rank_cd(to_tsvector(:language::regconfig, i.statement), :tsquery::tsquery, 33)
                ELSE mimir_bm25(to_tsvector(:language::regconfig, i.statement), :terms::text[],
                                :idf::float8[], :avgdl::float8) END
      FROM intents i
     WHERE 'intent' = ANY(:entity_types::text[]) AND i.namespace = :namespace
       AND :artifact_kinds::text[] IS NULL AND :sources::text[] IS NULL
       AND to_tsvector(:language::regconfig, i.statement)
           @@ :tsquery::tsquery
       AND (:created_after::timestamptz IS NULL OR i.created_at >= :created_after::timestamptz)
       AND (:created_before::timestamptz IS NULL OR i.created_at < :created_before::timestamptz)
    UNION ALL
    SELECT 'decision', d.id,
           CASE WHEN :terms::text[] IS NULL
                THEN ts_rank_cd(to_tsvector(:language::regconfig, d.statement)
                                || to_tsvector(:language::regconfig, coalesce(d.rationale, '')),
                                :tsquery::tsquery, 33)
                ELSE mimir_bm25(to_tsvector(:language::regconfig, d.statement)
                                || to_tsvector(:language::regconfig, coalesce(d.rationale, '')),
                                :terms::text[], :idf::float8[], :avgdl::float8) END
      FROM decisions d
     WHERE 'decision' = ANY(:entity_types::text[]) AND d.namespace = :namespace
       AND :artifact_kinds::text[] IS NULL AND :sources::text[] IS NULL
       AND (to_tsvector(:language::regconfig, d.statement)
                || to_tsvector(:language::regconfig, coalesce(d.rationale, '')))
           @@ :tsquery::tsquery
       AND (:created_after::timestamptz IS NULL OR d.created_at >= :created_after::timestamptz)
       AND (:created_before::timestamptz IS NULL OR d.created_at < :created_before::timestamptz)
),
top AS (
    SELECT entity_type, entity_id, score
      FROM ranked
     ORDER BY score DESC, entity_id, entity_type
     LIMIT :limit
)
SELECT t.entity_type, t.entity_id, t.score::float8 AS score,
       v.artifact_id, v.version_number, a.artifact_type::text AS artifact_kind, a.title,
       a.source, a.external_id, coalesce(v.created_at, i.created_at, d.created_at) AS created_at,
       CASE WHEN :snippets::boolean THEN
       ts_headline(:language::regconfig,
                   coalesce(v.content, i.statement, concat_ws(E'\n\n', d.statement, d.rationale)),
                   :highlight::tsquery,
                   'StartSel=«, StopSel=», MaxFragments=3, MaxWords=30, MinWords=12, '
                   'FragmentDelimiter=" … "') END AS snippet
  FROM top t
  LEFT JOIN artifact_versions v ON t.entity_type = 'artifact_version' AND v.id = t.entity_id
                               AND v.namespace = :namespace
  LEFT JOIN artifacts a ON a.id = v.artifact_id AND a.namespace = :namespace
  LEFT JOIN intents i ON t.entity_type = 'intent' AND i.id = t.entity_id AND i.namespace = :namespace
  LEFT JOIN decisions d ON t.entity_type = 'decision' AND d.id = t.entity_id
                       AND d.namespace = :namespace
 ORDER BY t.score DESC, t.entity_id, t.entity_type;

-- name: search_text_marks
-- Every word of the hits' full texts that matches :highlight, marked with chr(1)...chr(2)
-- by ts_headline; cut after the (:max_marks)th mark. `exact` says whether the marked text
-- minus the marks equals the stored text (offsets are then exact); when not, `body` is
-- returned for the token-level fallback (search_text_token_matches).
WITH hit AS (
    SELECT h.entity_type, h.entity_id
      FROM unnest(:entity_types::text[], :entity_ids::uuid[]) AS h(entity_type, entity_id)
),
field AS (
    SELECT hit.entity_type, hit.entity_id, 'content' AS field, v.content AS body
      FROM hit JOIN artifact_versions v ON v.id = hit.entity_id AND v.namespace = :namespace
     WHERE hit.entity_type = 'artifact_version'
    UNION ALL
    SELECT hit.entity_type, hit.entity_id, 'statement', i.statement
      FROM hit JOIN intents i ON i.id = hit.entity_id AND i.namespace = :namespace
     WHERE hit.entity_type = 'intent'
    UNION ALL
    SELECT hit.entity_type, hit.entity_id, 'statement', d.statement
      FROM hit JOIN decisions d ON d.id = hit.entity_id AND d.namespace = :namespace
     WHERE hit.entity_type = 'decision'
    UNION ALL
    SELECT hit.entity_type, hit.entity_id, 'rationale', d.rationale
      FROM hit JOIN decisions d ON d.id = hit.entity_id AND d.namespace = :namespace
     WHERE hit.entity_type = 'decision' AND d.rationale IS NOT NULL
),
marked AS MATERIALIZED (
    SELECT f.entity_type, f.entity_id, f.field, f.body,
           ts_headline(:language::regconfig, f.body, :highlight::tsquery,
                       'HighlightAll=true, StartSel=' || chr(1) || ', StopSel=' || chr(2))
               AS marked
      FROM field f
),
checked AS MATERIALIZED (
    SELECT m.entity_type, m.entity_id, m.field, m.body, m.marked,
           replace(replace(m.marked, chr(1), ''), chr(2), '') = m.body AS exact,
           regexp_instr(m.marked, chr(2), 1, :max_marks::integer) AS nth_stop,
           strpos(reverse(m.marked), chr(2)) AS last_stop_from_end
      FROM marked m
)
SELECT entity_type, entity_id, field, exact,
       CASE WHEN NOT exact THEN NULL
            WHEN nth_stop > 0 THEN left(marked, nth_stop)
            WHEN last_stop_from_end > 0 THEN left(marked, length(marked) - last_stop_from_end + 1)
            ELSE '' END AS marked,
       CASE WHEN exact THEN NULL ELSE body END AS body
  FROM checked
 ORDER BY entity_type, entity_id, field;

-- name: search_text_token_matches
-- Fallback for texts ts_headline does not reproduce exactly: the parser's tokens with
-- their code-point offsets (compound tokens are skipped: their parts follow them), kept
-- when the configuration's dictionaries turn them into one of :lexemes. Same dictionary
-- choice as ts_debug; ordered by position, at most :max_marks.
WITH parser AS (
    SELECT cfgparser FROM pg_ts_config WHERE oid = :language::regconfig
),
token AS (
    SELECT p.tokid, p.token, p.ord, tt.alias,
           sum(CASE WHEN tt.alias IN ('asciihword', 'hword', 'numhword', 'url') THEN 0
                    ELSE char_length(p.token) END) OVER (ORDER BY p.ord) AS end_offset
      FROM ts_parse((SELECT cfgparser FROM parser), :body::text)
               WITH ORDINALITY AS p(tokid, token, ord)
      JOIN ts_token_type((SELECT cfgparser FROM parser)) tt ON tt.tokid = p.tokid
)
SELECT (t.end_offset - char_length(t.token))::integer AS start_offset,
       t.end_offset::integer AS end_offset, t.token AS text
  FROM token t
 WHERE t.alias NOT IN ('asciihword', 'hword', 'numhword', 'url')
   AND (SELECT ts_lexize(m.mapdict, t.token)
          FROM pg_ts_config_map m
         WHERE m.mapcfg = :language::regconfig AND m.maptokentype = t.tokid
         ORDER BY ts_lexize(m.mapdict, t.token) IS NULL, m.mapseqno
         LIMIT 1) && :lexemes::text[]
 ORDER BY t.ord
 LIMIT :max_marks::integer;

-- name: search_text_term_stats^
-- Collection statistics for BM25, kept incrementally (migration 0007): the number of
-- indexed documents (latest versions with at least one lexeme), their mean length in
-- occurrences, and each term's document frequency, counted on the postings' primary key.
SELECT coalesce(sum(s.docs), 0)::bigint AS n,
       coalesce(sum(s.total_len)::float8 / nullif(sum(s.docs), 0), 1.0) AS avgdl,
       ARRAY(SELECT (SELECT count(*) FROM search_postings p
                      WHERE p.namespace = :namespace AND p.lexeme = t.term)
               FROM unnest(:terms::text[]) WITH ORDINALITY AS t(term, position)
              ORDER BY t.position) AS df
  FROM search_stats s
 WHERE s.namespace = :namespace;

-- name: search_text_postings
-- BM25 top hits among the latest versions, from the postings (OR semantics: a version
-- matching any term is a candidate), scored per term as
-- idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl)). Filters restrict the
-- candidates before the cut; versions containing an :excluded lexeme are left out.
WITH q AS (
    SELECT t.term, t.idf FROM unnest(:terms::text[], :idf::float8[]) AS t(term, idf)
),
scope AS MATERIALIZED (
    SELECT v.id
      FROM artifacts a
      JOIN artifact_versions v ON v.artifact_id = a.id AND v.namespace = :namespace
     WHERE a.namespace = :namespace
       AND (:artifact_kinds::text[] IS NULL OR a.artifact_type::text = ANY(:artifact_kinds::text[]))
       AND (:sources::text[] IS NULL OR a.source = ANY(:sources::text[]))
       AND (:created_after::timestamptz IS NULL OR v.created_at >= :created_after::timestamptz)
       AND (:created_before::timestamptz IS NULL OR v.created_at < :created_before::timestamptz)
)
SELECT p.version_id AS entity_id,
       sum(q.idf * p.tf * (:k1::float8 + 1)
           / (p.tf + :k1::float8 * (1 - :b::float8 + :b::float8 * p.dl / :avgdl::float8)))
           AS score
  FROM q JOIN search_postings p ON p.lexeme = q.term AND p.namespace = :namespace
 WHERE (NOT :filtered::boolean OR p.version_id IN (SELECT id FROM scope))
   AND (:excluded::text[] IS NULL OR NOT EXISTS (
            SELECT 1 FROM search_postings x
             WHERE x.version_id = p.version_id AND x.namespace = :namespace
               AND x.lexeme = ANY(:excluded::text[])))
 GROUP BY p.version_id
 ORDER BY score DESC, p.version_id
 LIMIT :limit;

-- name: search_text_version_hits
-- Details and (when :snippets) a snippet for each of the given versions, in the order given.
SELECT 'artifact_version' AS entity_type, v.id AS entity_id, v.artifact_id, v.version_number,
       a.artifact_type::text AS artifact_kind, a.title, a.source, a.external_id, v.created_at,
       CASE WHEN :snippets::boolean THEN
       ts_headline('english'::regconfig, v.content, :highlight::tsquery,
                   'StartSel=«, StopSel=», MaxFragments=3, MaxWords=30, MinWords=12, '
                   'FragmentDelimiter=" … "') END AS snippet
  FROM unnest(:ids::uuid[]) WITH ORDINALITY AS h(id, position)
  JOIN artifact_versions v ON v.id = h.id AND v.namespace = :namespace
  JOIN artifacts a ON a.id = v.artifact_id AND a.namespace = :namespace
 ORDER BY h.position;

-- name: search_hit_spans
-- The passages a version hit can point to: its message spans (conversations) and its
-- chunk spans (made for embedding), with their text, in offset order.
SELECT s.artifact_version_id AS version_id, s.id, s.span_type, s.start_offset, s.end_offset,
       substr(v.content, s.start_offset + 1, s.end_offset - s.start_offset) AS text
  FROM spans s
  JOIN artifact_versions v ON v.id = s.artifact_version_id AND v.namespace = :namespace
 WHERE s.artifact_version_id = ANY(:version_ids::uuid[]) AND s.namespace = :namespace
   AND s.span_type IN ('message', 'chunk')
 ORDER BY s.artifact_version_id, s.start_offset, s.end_offset;

-- name: search_text_snippets
-- Snippets of the given hits (versions, intents, decisions), matches marked «…».
SELECT h.entity_type, h.entity_id,
       ts_headline(:language::regconfig,
                   coalesce(v.content, i.statement, concat_ws(E'\n\n', d.statement, d.rationale)),
                   :highlight::tsquery,
                   'StartSel=«, StopSel=», MaxFragments=3, MaxWords=30, MinWords=12, '
                   'FragmentDelimiter=" … "') AS snippet
  FROM unnest(:entity_types::text[], :entity_ids::uuid[]) AS h(entity_type, entity_id)
  LEFT JOIN artifact_versions v ON h.entity_type = 'artifact_version' AND v.id = h.entity_id
                               AND v.namespace = :namespace
  LEFT JOIN intents i ON h.entity_type = 'intent' AND i.id = h.entity_id AND i.namespace = :namespace
  LEFT JOIN decisions d ON h.entity_type = 'decision' AND d.id = h.entity_id
                       AND d.namespace = :namespace;

-- name: search_text_force_custom_plans!
-- For this transaction: plan every statement for its actual parameters, so that optional
-- filters left null drop out of the plan (a generic plan scans every version).
SET LOCAL plan_cache_mode = force_custom_plan;
