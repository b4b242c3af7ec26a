-- name: auth_insert_key^
-- Store a new API key (only its hash).
INSERT INTO api_keys (name, scope, key_hash, key_prefix, namespaces)
VALUES (:name, :scope, :key_hash, :key_prefix, :namespaces::text[])
RETURNING id, name, scope, namespaces, key_prefix, created_at, revoked_at;

-- name: auth_get_key_scope^
-- The scope and namespaces (NULL: all) of an active key by its hash (no row: unknown or
-- revoked).
SELECT id, scope, namespaces FROM api_keys WHERE key_hash = :key_hash AND revoked_at IS NULL;

-- name: auth_exists_active_key^
-- Whether any key is active (then every endpoint but /health needs one).
SELECT EXISTS (SELECT 1 FROM api_keys WHERE revoked_at IS NULL) AS required;

-- name: auth_list_keys
-- Every key, newest first, without hashes.
SELECT id, name, scope, namespaces, key_prefix, created_at, revoked_at FROM api_keys
 ORDER BY created_at DESC, id;

-- name: auth_revoke_key^
-- Revoke a key now.
UPDATE api_keys SET revoked_at = now() WHERE id = :id AND revoked_at IS NULL
RETURNING id, name, scope, namespaces, key_prefix, created_at, revoked_at;

-- name: auth_insert_audit!
-- One entry of the audit log (key and namespace changes; erasures write their own).
INSERT INTO audit_log (action, actor, namespace, subject, details)
VALUES (:action, :actor, :namespace, :subject, :details::jsonb);

-- name: auth_rate_limit_take^
-- One step of the caller's token bucket shared by every API process (migration 0013):
-- 0 when the request may go ahead, else the seconds to wait.
SELECT mimir_rate_limit_take(:caller, :capacity::double precision,
                             :per_second::double precision) AS wait;
