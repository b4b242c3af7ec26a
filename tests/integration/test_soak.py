"""A short soak: scripts/soak.py starts `mimir serve` on a fresh database and runs 4
concurrent clients for 20 s over loopback HTTP, mixing reads, appends, span and relation
writes, provenance and searches. No 5xx, no lost acknowledged write, a clean checker.
(The long run is `python scripts/soak.py --clients 8 --duration 180`.)"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from tests.faults import database_url
from tests.soak_load import MIX

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "soak.py"
CLIENTS = 4
DURATION_S = 20


def _soak_script():
    spec = importlib.util.spec_from_file_location("mimir_soak_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestSoak:
    def test_short_soak_loses_nothing(self, db_conninfo, tmp_path, capsys):
        """Every operation kind runs; no 5xx, transport or GraphQL error; every write
        acknowledged with a 2xx is in the database; the invariant checker finds nothing."""
        out = tmp_path / "soak.json"
        code = _soak_script().main([
            "--clients", str(CLIENTS), "--duration", str(DURATION_S),
            "--database-url", database_url(db_conninfo), "--data-dir", str(tmp_path / "data"),
            "--json", str(out)])
        printed = capsys.readouterr().out
        result = json.loads(out.read_text())
        assert code == 0, printed
        assert result["errors_by_status"] == {}, result["failure_samples"]
        assert result["transport_errors"] == {} and result["graphql_errors"] == 0
        assert set(result["latency"]) == set(MIX), "an operation kind never ran"
        assert result["acknowledged_writes"] >= 200, result
        assert result["lost_writes"] == {}
        assert result["checker"]["ok"] and result["checker"]["findings"] == []
        assert result["checker"]["checks_run"] >= 14
        assert result["requests"] / result["elapsed_s"] >= 20, "the load barely ran"
        with capsys.disabled():
            print(f"\n[soak {CLIENTS} clients, {result['elapsed_s']:.0f} s] "
                  + printed.strip().replace("\n", "\n  "))
