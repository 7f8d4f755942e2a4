"""The demo replays' shared state: each replay gets its own MLOPS_HOME and Dagster instance, with
the real datasets from `shared/`. The replays sit in one file each (`test_demo*.py`) so that
`--dist loadfile` can run them on different workers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def replay_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_data_dir: Path) -> Iterator[Path]:
    home = tmp_path / "mlops"
    (home / "dagster").mkdir(parents=True)
    monkeypatch.setenv("MLOPS_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    monkeypatch.setenv("MLOPS_DATA_DIR", str(shared_data_dir))
    yield home


def drift_triggered(summary: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in summary["retrains"] if not r["reason"].startswith("bootstrap")]
