"""REST shim for intents (filled in by the domain-core work)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/intents", tags=["intents"])
