-- name: entities_exists^
-- Whether an entity of any type exists (the same check the triggers use).
SELECT mimir_entity_exists(:entity_type::entity_type, :entity_id, :namespace) AS exists;
