-- name: relations_check_ends_exist^
-- Whether each end of a prospective relation exists (the same check the trigger repeats).
SELECT mimir_entity_exists(:source_type::entity_type, :source_id, :namespace) AS source_exists,
       mimir_entity_exists(:target_type::entity_type, :target_id, :namespace) AS target_exists;

-- name: relations_lock_ends!
-- Share-lock relations that a new relation points at: deleting one waits for the new
-- relation to commit, and then its trigger removes the new relation as well.
SELECT id FROM relations WHERE id = ANY(:ids::uuid[]) AND namespace = :namespace
 ORDER BY id FOR SHARE;

-- name: relations_insert^
-- Create a relation; an edge that already exists inserts nothing and returns no row.
INSERT INTO relations (source_type, source_id, relation_type, target_type, target_id, metadata)
VALUES (:source_type::entity_type, :source_id, :relation_type, :target_type::entity_type,
        :target_id, :metadata::jsonb)
ON CONFLICT ON CONSTRAINT uq_relations_edge DO NOTHING
RETURNING id, source_type, source_id, relation_type,
          target_type, target_id, metadata, created_at;

-- name: relations_get_id_by_edge^
-- The id of the relation (source, type, target), if it exists.
SELECT id FROM relations
 WHERE source_type = :source_type::entity_type AND source_id = :source_id
   AND relation_type = :relation_type
   AND target_type = :target_type::entity_type AND target_id = :target_id
   AND namespace = :namespace;

-- name: relations_get^
-- One relation.
SELECT id, source_type, source_id, relation_type,
       target_type, target_id, metadata, created_at
  FROM relations WHERE id = :id AND namespace = :namespace;

-- name: relations_delete^
-- Delete one relation (a trigger removes relations to or from it and its provenance).
DELETE FROM relations WHERE id = :id AND namespace = :namespace RETURNING id;

-- name: relations_list
-- Base of the relation listing (filtered and paged by mimir.query.listing).
SELECT r.id, r.source_type, r.source_id, r.relation_type,
       r.target_type, r.target_id, r.metadata, r.created_at
  FROM relations r WHERE r.namespace = :namespace;

-- name: relations_list_out
-- Base of the listing of relations whose source is one entity.
SELECT r.id, r.source_type, r.source_id, r.relation_type,
       r.target_type, r.target_id, r.metadata, r.created_at
  FROM relations r
 WHERE r.source_type = :entity_type::entity_type AND r.source_id = :entity_id
   AND r.namespace = :namespace;

-- name: relations_list_in
-- Base of the listing of relations whose target is one entity.
SELECT r.id, r.source_type, r.source_id, r.relation_type,
       r.target_type, r.target_id, r.metadata, r.created_at
  FROM relations r
 WHERE r.target_type = :entity_type::entity_type AND r.target_id = :entity_id
   AND r.namespace = :namespace;

-- name: relations_list_both
-- Base of the listing of relations with one entity at either end.
SELECT r.id, r.source_type, r.source_id, r.relation_type,
       r.target_type, r.target_id, r.metadata, r.created_at
  FROM relations r
 WHERE r.namespace = :namespace
   AND ((r.source_type = :entity_type::entity_type AND r.source_id = :entity_id)
        OR (r.target_type = :entity_type::entity_type AND r.target_id = :entity_id));

-- name: relations_traverse
-- Every path of 1 to :max_depth relations from one entity, ordered by (depth, path).
--
-- `walk` grows paths one relation at a time, following relations out of (direction out),
-- into (in) or both ways through the path's last node, optionally only of the given
-- relation types. `visited` holds the path's nodes as 'type:id'; a step to a node already
-- on the path is not taken (cycle guard), and no path grows past :max_depth.
--
-- The number of paths can grow exponentially with depth, so at most :work_limit paths are
-- generated. PostgreSQL produces the paths of a recursive query level by level and stops
-- when the parent has read enough, so when the cap is hit the deepest level read may be
-- incomplete; it is dropped, leaving only complete levels, which keeps the (depth, path)
-- order and therefore the returned first :path_limit paths deterministic. `capped` tells
-- the caller that paths were left out. The outer LEFT JOIN returns one row with NULL
-- paths when nothing was found, so that `capped` is always known.
WITH RECURSIVE walk AS (
    SELECT 0 AS depth,
           :from_type::entity_type AS node_type,
           :from_id::uuid AS node_id,
           ARRAY[:from_type::text || ':' || :from_id::uuid::text] AS visited,
           ARRAY[]::uuid[] AS relation_ids
    UNION ALL
    SELECT w.depth + 1,
           step.node_type,
           step.node_id,
           w.visited || (step.node_type::text || ':' || step.node_id::text),
           w.relation_ids || step.relation_id
      FROM walk w
      CROSS JOIN LATERAL (
          SELECT r.id AS relation_id, r.target_type AS node_type, r.target_id AS node_id
            FROM relations r
           WHERE :direction::text IN ('out', 'both') AND r.namespace = :namespace
             AND r.source_type = w.node_type AND r.source_id = w.node_id
             AND (:relation_types::text[] IS NULL OR r.relation_type = ANY(:relation_types::text[]))
          UNION ALL
          SELECT r.id, r.source_type, r.source_id
            FROM relations r
           WHERE :direction::text IN ('in', 'both') AND r.namespace = :namespace
             AND r.target_type = w.node_type AND r.target_id = w.node_id
             AND (:relation_types::text[] IS NULL OR r.relation_type = ANY(:relation_types::text[]))
      ) AS step
     WHERE w.depth < :max_depth
       AND (step.node_type::text || ':' || step.node_id::text) <> ALL (w.visited)
),
found AS MATERIALIZED (
    SELECT depth, visited, relation_ids FROM walk WHERE depth > 0 LIMIT :work_limit
),
summary AS (
    SELECT count(*) >= :work_limit AS capped, max(depth) AS deepest FROM found
)
SELECT s.capped, p.depth, p.nodes, p.relations
  FROM summary s
  LEFT JOIN LATERAL (
      SELECT f.depth, f.visited, f.relation_ids,
             (SELECT jsonb_agg(jsonb_build_object('type', split_part(v.node, ':', 1),
                                                  'id', split_part(v.node, ':', 2))
                               ORDER BY v.position)
                FROM unnest(f.visited) WITH ORDINALITY AS v(node, position)) AS nodes,
             (SELECT jsonb_agg(jsonb_build_object(
                         'id', r.id, 'relation_type', r.relation_type,
                         'source_type', r.source_type, 'source_id', r.source_id,
                         'target_type', r.target_type, 'target_id', r.target_id)
                     ORDER BY u.position)
                FROM unnest(f.relation_ids) WITH ORDINALITY AS u(relation_id, position)
                JOIN relations r ON r.id = u.relation_id AND r.namespace = :namespace) AS relations
        FROM found f
       WHERE NOT s.capped OR f.depth < s.deepest
       ORDER BY f.depth, f.visited, f.relation_ids
       LIMIT :path_limit
  ) AS p ON true
 ORDER BY p.depth, p.visited, p.relation_ids;
