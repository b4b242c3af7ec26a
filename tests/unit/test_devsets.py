"""The recall dev sets (scripts/devsets) stay well formed: every question's evidence exists,
ids are unique, types are known (each set's own validator, which exits non-zero on a
problem)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.shared_data import shared_data_dir

DEVSETS = Path(__file__).resolve().parents[2] / "scripts" / "devsets"


def test_chat_sessions_dev_set_is_valid():
    result = subprocess.run([sys.executable, str(DEVSETS / "validate_chat_sessions.py")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_chatgpt_questions_dev_set_is_valid():
    data = shared_data_dir()
    if data is None:
        pytest.skip("../shared/data is not present")
    result = subprocess.run([sys.executable, str(DEVSETS / "validate_chatgpt_questions.py")],
                            capture_output=True, text=True, timeout=120,
                            env={"MIMIR_SHARED_DATA": str(data), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stdout + result.stderr
