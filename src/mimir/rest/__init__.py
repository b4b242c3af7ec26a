"""REST plumbing shared by every domain's thin `rest.py`: connections, responses, paging
and filter parameters, provenance headers, and OpenAPI error documentation."""
