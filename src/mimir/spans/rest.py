"""REST shim for spans (filled in by the domain-core work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/spans", tags=["spans"])
