"""The soak with several processes (issue 17): 2 API processes (`serve --workers 2`), 2
`mimir worker` processes embedding every version; one API process and one worker are
SIGKILLed mid-run. No acknowledged write lost, no 5xx or transport error other than the
killed process's in-flight ones, the job queue drained with nothing failed, checker clean."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from tests.faults import database_url

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "soak.py"


def _soak_script():
    spec = importlib.util.spec_from_file_location("mimir_soak_script_processes", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_soak_survives_a_killed_api_process_and_a_killed_worker(db_conninfo, tmp_path, capsys):
    out = tmp_path / "soak.json"
    code = _soak_script().main([
        "--clients", "4", "--duration", "24", "--api-processes", "2",
        "--worker-processes", "2", "--kill-after", "8", "--embedding-provider", "local",
        "--database-url", database_url(db_conninfo), "--data-dir", str(tmp_path / "data"),
        "--json", str(out)])
    printed = capsys.readouterr().out
    result = json.loads(out.read_text())
    assert code == 0, printed
    assert result["api_processes_killed"] == 1
    assert result["unexplained_server_errors"] == 0, result["failure_samples"]
    assert result["unexplained_transport_errors"] == 0, result["transport_errors"]
    assert result["lost_writes"] == {}
    assert result["acknowledged_writes"] >= 100
    jobs = result["jobs"]
    assert jobs["drained"] and "failed" not in jobs["by_status"], jobs
    assert jobs["by_status"]["succeeded"] >= 50  # the versions' embedding jobs ran
    assert result["checker"]["ok"] and result["checker"]["findings"] == []
    with capsys.disabled():
        print("\n[soak, 2 API + 2 worker processes, one of each killed] "
              + printed.strip().replace("\n", "\n  "))
