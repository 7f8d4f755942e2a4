"""Every onboarding test reads files and may run `init` or `validate-spec`: each gets its own
state directories and an empty source cache, so no test sees another's files."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_pipelines.lib.ingestion.sources import clear_source_cache


@pytest.fixture(autouse=True)
def _state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLOPS_HOME", "DAGSTER_HOME"):
        monkeypatch.setenv(name, str(tmp_path / "state" / name.lower()))
    monkeypatch.delenv("MLOPS_DATA_DIR", raising=False)
    clear_source_cache()
