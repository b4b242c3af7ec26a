"""Helpers for tests and the soak that run several Mímir processes: the API processes of a
`mimir serve --workers N`, and `mimir worker` processes."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from tests.faults import MIMIR
from tests.process import terminate


def api_processes(parent_pid: int) -> list[int]:
    """The API processes of `mimir serve --workers N` (uvicorn's spawned children; not
    multiprocessing's resource tracker)."""
    try:
        children = Path(f"/proc/{parent_pid}/task/{parent_pid}/children").read_text().split()
    except OSError:
        return []
    found = []
    for child in children:
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"spawn_main" in cmdline:
            found.append(int(child))
    return sorted(found)


def wait_for_api_processes(parent_pid: int, count: int, *, other_than: set[int] = frozenset(),
                           within_s: float = 30) -> list[int]:
    """Until the parent has `count` API processes none of which is in `other_than`."""
    deadline = time.monotonic() + within_s
    while True:
        pids = api_processes(parent_pid)
        if len(pids) == count and not set(pids) & set(other_than):
            return pids
        if time.monotonic() > deadline:
            raise AssertionError(f"API processes {pids}, wanted {count} other than {other_than}")
        time.sleep(0.1)


class WorkerProcess:
    """`mimir worker` as a child process, its output in `log_path`."""

    def __init__(self, env: dict[str, str], log_path: Path, *extra_args: str) -> None:
        self.env = env
        self.log_path = log_path
        self.args = extra_args
        self.proc: subprocess.Popen | None = None

    def start(self) -> WorkerProcess:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([MIMIR, "worker", *self.args], env=self.env,
                                         stdout=log, stderr=subprocess.STDOUT)
        return self

    def wait_started(self, within_s: float = 60) -> WorkerProcess:
        deadline = time.monotonic() + within_s
        while "job worker started" not in self.log_path.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("mimir worker did not start:\n"
                                     + self.log_path.read_text(errors="replace")[-3000:])
            time.sleep(0.1)
        return self

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> int | None:
        return terminate(self.proc) if self.proc is not None else None
