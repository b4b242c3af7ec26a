-- Namespaces (migration 0012): the table itself has no row-level security; the admin API
-- manages it, and the auth middleware asks whether a requested namespace exists.

-- name: namespaces_insert^
-- A new namespace (no row: it exists already).
INSERT INTO namespaces (name, description, created_by)
VALUES (:name, :description, :created_by)
ON CONFLICT (name) DO NOTHING
RETURNING name, description, created_by, created_at;

-- name: namespaces_list
-- Every namespace, by name.
SELECT name, description, created_by, created_at FROM namespaces ORDER BY name;

-- name: namespaces_exists^
-- Whether a namespace exists.
SELECT EXISTS (SELECT 1 FROM namespaces WHERE name = :name) AS found;

-- name: namespaces_count_missing^
-- How many of the given names are not namespaces.
SELECT count(*) FILTER (WHERE n.name IS NULL) AS missing,
       array_agg(g.name ORDER BY g.name) FILTER (WHERE n.name IS NULL) AS names
  FROM unnest(:names::text[]) AS g(name)
  LEFT JOIN namespaces n ON n.name = g.name;
