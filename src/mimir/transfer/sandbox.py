"""Run one import in its own process (`mimir.transfer.child`), never on the server's event
loop: a parser stuck on a hostile file costs that process its memory limit and the
wall-clock limit, and the server keeps answering.

Why a process and not a thread: only a process can be given a memory ceiling of its own
(RLIMIT_AS), be killed at a deadline or on shutdown, and hold the GIL without the API
noticing. The process writes to the database itself; its result comes back on stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from mimir.transfer.guard import JsonLimits
from mimir.transfer.runner import ImportFailed

STOP_GRACE_S = 3.0
MAX_RESULT_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class ImportLimits:
    """The limits of one import (MIMIR_IMPORT_*; defaults fit a 2-core, 4 GB machine)."""

    json: JsonLimits = field(default_factory=JsonLimits)
    max_memory_bytes: int = 1024 * 1024 * 1024
    timeout_s: float = 3600.0
    max_attempts: int = 3

    @classmethod
    def from_settings(cls, settings: Any) -> ImportLimits:
        if settings is None:
            return cls()
        json_limits = JsonLimits(max_depth=settings.import_max_depth,
                                 max_value_bytes=settings.import_max_value_bytes,
                                 max_total_bytes=settings.import_max_json_bytes,
                                 max_ratio=settings.import_max_ratio)
        return cls(json=json_limits, max_memory_bytes=settings.import_max_memory_bytes,
                   timeout_s=settings.import_timeout_s,
                   max_attempts=settings.import_max_attempts)


async def run_in_child(conninfo: str, import_id: str, kind: str, path: Path, *,
                       max_chars: int, limits: ImportLimits, log_level: str = "INFO",
                       namespace: str = "default", app_role: bool = True) -> dict[str, Any]:
    """The child's result (`summary`, `error`, `unexpected`). ImportFailed when it was
    stopped at the deadline or died; a cancellation stops it, then goes on. The child works
    in `namespace`, as the app role unless `app_role` is false."""
    request = {"conninfo": conninfo, "import_id": import_id, "kind": kind,
               "path": str(path), "max_chars": max_chars, "limits": asdict(limits.json),
               "max_memory_bytes": limits.max_memory_bytes, "parent_pid": os.getpid(),
               "log_level": log_level, "namespace": namespace, "app_role": app_role}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mimir.transfer.child", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, limit=MAX_RESULT_BYTES)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(orjson.dumps(request)),
                                        limits.timeout_s)
    except TimeoutError:
        await _stop(proc)
        raise ImportFailed(f"stopped after {limits.timeout_s:g} s (MIMIR_IMPORT_TIMEOUT); "
                           "what was imported before stays") from None
    except BaseException:  # cancelled: the worker is stopping
        await asyncio.shield(_stop(proc))
        raise
    return _result(proc.returncode, out, limits)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL if it has not ended within STOP_GRACE_S."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), STOP_GRACE_S)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


def _result(returncode: int | None, out: bytes, limits: ImportLimits) -> dict[str, Any]:
    if returncode == 0:
        try:
            result = orjson.loads(out)
        except orjson.JSONDecodeError:
            result = None
        if isinstance(result, dict):
            return result
        raise ImportFailed("the import process gave no result")
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        raise ImportFailed(f"the import process was killed by {name}; it may have needed "
                           "more memory than MIMIR_IMPORT_MAX_MEMORY_BYTES "
                           f"({limits.max_memory_bytes} bytes) allows")
    raise ImportFailed(f"the import process failed (exit status {returncode}); "
                       "see the server log")
