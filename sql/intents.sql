-- name: intents_insert^
-- Create an intent (status starts as proposed).
INSERT INTO intents (statement, intent_group_id, confidence, metadata, proposed_by)
VALUES (:statement, :intent_group_id, :confidence, :metadata::jsonb, :proposed_by)
RETURNING id, statement, status, intent_group_id, confidence, metadata, created_at,
          updated_at, proposed_by;

-- name: intents_get^
-- One intent.
SELECT id, statement, status, intent_group_id, confidence, metadata, created_at,
       updated_at, proposed_by
  FROM intents WHERE id = :id AND namespace = :namespace;

-- name: intents_lock^
-- Lock one intent for an update and return it.
SELECT id, statement, status, intent_group_id, confidence, metadata, created_at,
       updated_at, proposed_by
  FROM intents WHERE id = :id AND namespace = :namespace FOR UPDATE;

-- name: intents_update^
-- Change an intent's status, group and/or metadata; a NULL status or metadata keeps the
-- current value, and the group changes only when set_group is true.
UPDATE intents
   SET status = coalesce(:status::intent_status, status),
       intent_group_id = CASE WHEN :set_group::boolean THEN :intent_group_id::uuid ELSE intent_group_id END,
       metadata = coalesce(:metadata::jsonb, metadata),
       updated_at = now()
 WHERE id = :id AND namespace = :namespace
RETURNING id, statement, status, intent_group_id, confidence, metadata, created_at,
          updated_at, proposed_by;

-- name: intents_list
-- Base of the intent listing (filtered and paged by mimir.query.listing).
SELECT id, statement, status, intent_group_id, confidence, metadata, created_at,
       updated_at, proposed_by
  FROM intents WHERE namespace = :namespace

-- name: intents_insert_group^
-- Create an intent group (status starts as active).
INSERT INTO intent_groups (name, description, metadata)
VALUES (:name, :description, :metadata::jsonb)
RETURNING id, name, description, status, merged_into_id, metadata, created_at,
          updated_at, 0::bigint AS member_count;

-- name: intents_get_group^
-- One intent group with the number of intents in it.
SELECT g.id, g.name, g.description, g.status, g.merged_into_id, g.metadata,
       g.created_at, g.updated_at,
       (SELECT count(*) FROM intents i
         WHERE i.intent_group_id = g.id AND i.namespace = g.namespace) AS member_count
  FROM intent_groups g WHERE g.id = :id AND g.namespace = :namespace;

-- name: intents_group_by_name^
-- The intent group that has this name, if any (names are unique).
SELECT id FROM intent_groups WHERE name = :name AND namespace = :namespace;

-- name: intents_lock_group_shared^
-- Lock a group against a concurrent merge while an intent joins it, and return its state.
SELECT id, status, merged_into_id FROM intent_groups
 WHERE id = :id AND namespace = :namespace FOR SHARE;

-- name: intents_lock_group^
-- Lock a group for a merge or an update, and return its state.
SELECT id, name, status, merged_into_id FROM intent_groups
 WHERE id = :id AND namespace = :namespace FOR UPDATE;

-- name: intents_mark_group_merged!
-- Mark a group as merged into another (the trigger refuses a merged source or target).
UPDATE intent_groups
   SET status = 'merged', merged_into_id = :into_id, updated_at = now()
 WHERE id = :id AND namespace = :namespace;

-- name: intents_move_group_members^
-- Move every intent of one group to another; returns how many moved.
WITH moved AS (
    UPDATE intents SET intent_group_id = :to_id, updated_at = now()
     WHERE intent_group_id = :from_id AND namespace = :namespace
    RETURNING 1
)
SELECT count(*) AS moved FROM moved;

-- name: intents_update_group^
-- Change a group's name, description, status (active or deprecated) and/or metadata; a NULL
-- keeps the current value, and the description changes only when set_description is true.
UPDATE intent_groups
   SET name = coalesce(:name, name),
       description = CASE WHEN :set_description::boolean THEN :description ELSE description END,
       status = coalesce(:status::intent_group_status, status),
       metadata = coalesce(:metadata::jsonb, metadata),
       updated_at = now()
 WHERE id = :id AND namespace = :namespace
RETURNING id;

-- name: intents_list_groups
-- Base of the intent group listing (filtered and paged by mimir.query.listing).
SELECT g.id, g.name, g.description, g.status, g.merged_into_id, g.metadata,
       g.created_at, g.updated_at,
       (SELECT count(*) FROM intents i
         WHERE i.intent_group_id = g.id AND i.namespace = g.namespace) AS member_count
  FROM intent_groups g WHERE g.namespace = :namespace
