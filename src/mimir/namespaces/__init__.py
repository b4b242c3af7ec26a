"""Namespaces: every row of memory belongs to one, and PostgreSQL row-level security keeps
each session inside the namespace it was given (migration 0012).

- `context`: the namespace of the running request or job (a context variable), and names.
- `service` / `rest`: creating and listing namespaces, and the admin API for keys.
- `mimir.db.session`: how a connection is put into a namespace (and into the app role).
"""
