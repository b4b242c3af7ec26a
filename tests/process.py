"""Helpers for tests that run `mimir serve` as a real process."""

from __future__ import annotations

import socket
import subprocess
import time

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(base_url: str, proc: subprocess.Popen, within_s: float = 60) -> None:
    """Until GET /health is 200; fails early when the process exits."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"mimir exited early with {proc.returncode}: {proc.stderr.read()}")
        try:
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("mimir did not become healthy")
