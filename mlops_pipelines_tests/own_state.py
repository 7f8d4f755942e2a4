"""A fixture for tests that run `init`, `validate-spec` or read a user's files: each test gets its
own state directories and an empty source cache, so no test sees another's files. Modules
import `own_state` and mark it `usefixtures` (the onboarding tests get it from their conftest)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_pipelines.lib.ingestion.sources import clear_source_cache


@pytest.fixture
def own_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLOPS_HOME", "DAGSTER_HOME"):
        monkeypatch.setenv(name, str(tmp_path / "state" / name.lower()))
    monkeypatch.delenv("MLOPS_DATA_DIR", raising=False)
    clear_source_cache()
