"""Database access: connection settings, the embedded server, the pool, named queries."""
