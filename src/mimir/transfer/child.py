"""The import process: `python -m mimir.transfer.child`, started by the job `imports.run`
(`mimir.transfer.sandbox`) for one import. It reads its request (JSON, with the database's
connection string, so never on the command line, and the namespace the import goes into) from stdin, confines itself, runs the
import and writes its result as one JSON object on stdout.

Confinement, before anything large is imported or read: an address-space limit
(RLIMIT_AS: a runaway parser gets MemoryError, the server is untouched), no core files,
a lower CPU priority than the server, and death with its parent (PR_SET_PDEATHSIG: a
killed server leaves no orphan import behind).
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import sys
from typing import Any

PR_SET_PDEATHSIG = 1
NICE = 10


def confine(request: dict[str, Any]) -> None:
    memory = int(request["max_memory_bytes"])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        os.nice(NICE)
    except OSError:
        pass
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    if os.getppid() != request["parent_pid"]:  # the parent died before prctl
        raise SystemExit(3)


def main() -> int:
    request = json.loads(sys.stdin.buffer.read())
    confine(request)
    # Imported only now, inside the limits.
    import asyncio
    import logging
    from pathlib import Path

    import orjson

    from mimir.logging import configure_logging
    from mimir.transfer import runner
    from mimir.transfer.guard import JsonLimits

    configure_logging(request.get("log_level", "INFO"), stream=sys.stderr)
    # One "Deferred 1 job" line per imported version would drown the server's log.
    logging.getLogger("procrastinate").setLevel(max(logging.WARNING, logging.root.level))
    limits = JsonLimits(**request["limits"])
    try:
        result = asyncio.run(runner.run(
            request["conninfo"], request["import_id"], request["kind"],
            Path(request["path"]), max_chars=request["max_chars"], limits=limits,
            namespace=request["namespace"], app_role=request.get("app_role", True)))
    except MemoryError:
        result = {"summary": None, "unexpected": False, "error": (
            "the import needs more memory than MIMIR_IMPORT_MAX_MEMORY_BYTES "
            f"({request['max_memory_bytes']} bytes) allows")}
    sys.stdout.buffer.write(orjson.dumps(result, default=str))
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
