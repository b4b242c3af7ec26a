"""REST shim for decisions (filled in by the domain-core work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/decisions", tags=["decisions"])
