"""bench/fleet at a tiny scale: seeding, real `serve`, simulated agents, one change to all
sites, every site's acknowledgement measured (SQLite, no kernel work)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench" / "fleet.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_fleet", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_fleet_simulation_small(tmp_path: Path) -> None:
    fleet = _bench()
    result = fleet.run_fleet(
        f"sqlite:///{tmp_path / 'fleet.db'}",
        20,
        roles=["all"],
        agent_procs=1,
        wait=5.0,
        batch=8,
        ack_timeout=30.0,
        say=lambda *_: None,
    )
    assert result["bench"] == "fleet"
    assert result["acknowledged"] == 20 and result["unacknowledged"] == 0
    assert 0 <= result["p50_s"] <= result["p99_s"] < 30
    assert result["peak_rss_mb"] > 0 and result["requests_per_s"] > 0
