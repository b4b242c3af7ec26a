-- Executed by the official postgres entrypoint on first initialisation only
-- (empty data directory), against POSTGRES_DB, as POSTGRES_USER.
--
-- pgvector is installed in the image by docker/postgres/Dockerfile.
-- gen_random_uuid() is core since PostgreSQL 13, so pgcrypto is not needed.
CREATE EXTENSION IF NOT EXISTS vector;
