"""Who is calling a tool: the API key's scope (HTTP) and the client's announced identity.

Over HTTP the AuthMiddleware has already checked the key and left its scope in the request
state; a read key sees and calls only read tools. Over stdio there is no key: the local
user runs the process, as with the other `mimir` commands, and may do everything.
"""

from __future__ import annotations

import uuid
from typing import Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from mimir.auth.keys import allows
from mimir.provenance.service import ProvenanceIn

UNKNOWN_CLIENT = "unknown-mcp-client"


def request_key_scope(request: Any) -> str | None:
    """The scope of the key that sent this HTTP request; None over stdio (no request) or
    when the server needs no key."""
    scope = getattr(request, "scope", None)
    if not isinstance(scope, dict):
        return None
    return (scope.get("state") or {}).get("api_key_scope")


def request_namespace(request: Any) -> str | None:
    """The namespace the AuthMiddleware resolved for this HTTP request (None over stdio)."""
    scope = getattr(request, "scope", None)
    if not isinstance(scope, dict):
        return None
    return (scope.get("state") or {}).get("namespace")


def key_scope(ctx: Context) -> str | None:
    return request_key_scope(ctx.request_context.request)


def may_write(ctx: Context) -> bool:
    scope = key_scope(ctx)
    return scope is None or allows(scope, "write")


def require_write(ctx: Context, tool: str) -> None:
    """A tool error naming the missing scope when a read key calls a write tool."""
    if not may_write(ctx):
        raise ToolError(f"{tool} writes to memory, and this API key has scope "
                        f"{key_scope(ctx)!r}: call it with a write key (`mimir keys create "
                        "--name NAME --scope write` makes one)")


def client_identity(ctx: Context) -> tuple[str, str | None]:
    """The (name, version) the client announced at initialize."""
    params = ctx.request_context.session.client_params
    info: Any = getattr(params, "client_info", None)
    if info is None:
        return UNKNOWN_CLIENT, None
    return info.name, getattr(info, "version", None) or None


def client_provenance(ctx: Context, evidence_span_ids: list[uuid.UUID] | None,
                      **metadata: Any) -> ProvenanceIn:
    """Provenance of a write made through MCP: the client as the model, its version as the
    pipeline, the evidence spans given."""
    name, version = client_identity(ctx)
    return ProvenanceIn(model_id=name[:500], pipeline_version=(version or "")[:500] or None,
                        evidence_span_ids=list(evidence_span_ids or []),
                        metadata={"via": "mcp", "client": {"name": name, "version": version},
                                  **{k: v for k, v in metadata.items() if v is not None}})
