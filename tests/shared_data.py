"""Where the third-party data in ../shared/data lives (read there, never copied)."""

from __future__ import annotations

import os
from pathlib import Path


def shared_data_dir() -> Path | None:
    """MIMIR_SHARED_DATA, else ../shared/data beside the repository, else /work/shared/data."""
    candidates = [os.environ.get("MIMIR_SHARED_DATA"),
                  Path(__file__).resolve().parents[2] / "shared" / "data",
                  "/work/shared/data"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None
