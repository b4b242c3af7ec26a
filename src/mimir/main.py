"""`uvicorn mimir.main:app`: the application `mimir serve` runs, for plain uvicorn.

Built on first access, not at import (importing this module starts nothing). Settings come
from the environment as for `mimir serve`; without DATABASE_URL the application's lifespan
starts the embedded PostgreSQL and stops it at shutdown. One worker process per data
directory: two embedded servers cannot share one. `mimir serve` stays the recommended
command (docker/api/Dockerfile runs it): it also bounds how long a client may take to send
its request headers, which plain uvicorn does not.
"""

from __future__ import annotations

import sys
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI


@cache
def build_app() -> FastAPI:
    """The configured application; a bad setting exits 2 with one line, as `mimir serve`."""
    from mimir.app import app_factory
    from mimir.config import ConfigError

    try:
        return app_factory()
    except ConfigError as exc:
        print(f"mimir: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def __getattr__(name: str):
    if name == "app":
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
