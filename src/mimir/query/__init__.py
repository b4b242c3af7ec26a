"""Listing: filters from query parameters, keyset cursors, page execution. Shared by REST
and GraphQL."""
