-- name: decisions_insert^
-- Create a decision (never superseded: superseding goes through decisions_mark_superseded).
INSERT INTO decisions (statement, rationale, status, metadata)
VALUES (:statement, :rationale, :status::decision_status, :metadata::jsonb)
RETURNING id;

-- name: decisions_get^
-- One decision with the decision it replaced (supersedes_id) and its successor.
SELECT d.id, d.statement, d.rationale, d.status, d.superseded_by_id,
       (SELECT p.id FROM decisions p
         WHERE p.superseded_by_id = d.id AND p.namespace = d.namespace) AS supersedes_id,
       d.metadata, d.created_at, d.updated_at
  FROM decisions d WHERE d.id = :id AND d.namespace = :namespace;

-- name: decisions_lock^
-- Lock a decision for a status change or a supersession; returns its current state.
SELECT id, status, superseded_by_id, rationale, metadata
  FROM decisions WHERE id = :id AND namespace = :namespace FOR UPDATE;

-- name: decisions_update^
-- Write a decision's status, rationale and metadata (the caller holds the row lock).
UPDATE decisions
   SET status = :status::decision_status, rationale = :rationale,
       metadata = :metadata::jsonb, updated_at = now()
 WHERE id = :id AND namespace = :namespace
RETURNING id;

-- name: decisions_mark_superseded^
-- Mark a decision superseded by its successor (the trigger keeps chains linear and final).
UPDATE decisions
   SET status = 'superseded'::decision_status, superseded_by_id = :successor_id,
       updated_at = now()
 WHERE id = :id AND namespace = :namespace
RETURNING id;

-- name: decisions_get_lineage
-- The whole supersession chain through a decision, oldest first, walked both ways.
WITH RECURSIVE
earlier (id, depth) AS (
    SELECT d.id, 0 FROM decisions d WHERE d.id = :id AND d.namespace = :namespace
    UNION ALL
    SELECT d.id, e.depth - 1
      FROM earlier e JOIN decisions d ON d.superseded_by_id = e.id
     WHERE -e.depth < :max_depth AND d.namespace = :namespace
),
later (id, successor_id, depth) AS (
    SELECT d.id, d.superseded_by_id, 0 FROM decisions d WHERE d.id = :id AND d.namespace = :namespace
    UNION ALL
    SELECT d.id, d.superseded_by_id, l.depth + 1
      FROM later l JOIN decisions d ON d.id = l.successor_id
     WHERE l.depth < :max_depth AND d.namespace = :namespace
),
chain (id, depth) AS (
    SELECT id, depth FROM earlier
    UNION
    SELECT id, depth FROM later
)
SELECT d.id, d.statement, d.rationale, d.status, d.superseded_by_id,
       (SELECT p.id FROM decisions p
         WHERE p.superseded_by_id = d.id AND p.namespace = :namespace) AS supersedes_id,
       d.metadata, d.created_at, d.updated_at
  FROM chain c JOIN decisions d ON d.id = c.id AND d.namespace = :namespace
 ORDER BY c.depth;

-- name: decisions_list
-- Base of the decision listing (filtered and paged by mimir.query.listing).
SELECT d.id, d.statement, d.rationale, d.status, d.superseded_by_id,
       (SELECT p.id FROM decisions p
         WHERE p.superseded_by_id = d.id AND p.namespace = d.namespace) AS supersedes_id,
       d.metadata, d.created_at, d.updated_at
  FROM decisions d WHERE d.namespace = :namespace
