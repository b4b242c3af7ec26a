"""Helpers for tests that run `mimir serve` as a real process."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def terminate(proc: subprocess.Popen, timeout_s: float = 30) -> int:
    """SIGTERM, wait up to `timeout_s`, then SIGKILL; the exit status."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode


def wait_healthy(base_url: str, proc: subprocess.Popen, within_s: float = 60,
                 log_path: Path | None = None) -> None:
    """Until GET /health is 200; fails early when the process exits, showing its stderr
    (or the tail of `log_path` when its output goes to a file)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = (log_path.read_text(errors="replace")[-3000:] if log_path is not None
                      else proc.stderr.read())
            raise AssertionError(f"mimir exited early with {proc.returncode}: {output}")
        try:
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("mimir did not become healthy")
