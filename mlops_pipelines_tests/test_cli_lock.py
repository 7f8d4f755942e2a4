"""The CLI's alias moves under the cross-host lock: an unreachable lock database is one line
naming MLOPS_LOCK_URL (its password hidden), with no traceback; without one, the file lock alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_pipelines import cli
from mlops_pipelines.lib.registry.session import open_client
from mlops_pipelines.resources.tracking import LocalMlflowTracking
from mlops_pipelines.settings import LOCK_URL_ENV
from mlops_pipelines_tests.production_env import closed_port


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    for name in ("MLOPS_HOME", "DAGSTER_HOME", "MLOPS_DATA_DIR"):
        monkeypatch.setenv(name, str(state / name.lower()))
    for name in (
        "MLOPS_ENV",
        "MLOPS_PROJECTS_DIR",
        "MLOPS_TRACKING_URI",
        "MLOPS_REGISTRY_URI",
        "MLOPS_ARTIFACT_ROOT",
    ):
        monkeypatch.delenv(name, raising=False)
    return state / "mlops_home"


@pytest.mark.slow
def test_rollback_with_an_unreachable_lock_database_names_the_setting(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with open_client(LocalMlflowTracking().config()) as client:
        client.create_registered_model("bike_sharing")
    monkeypatch.setenv(LOCK_URL_ENV, f"postgresql://postgres:s3cret@127.0.0.1:{closed_port()}/locks")
    assert cli.main(["rollback", "--project", "bike_sharing"]) == 1
    # MLflow logs its own table creation above (the store opened before the CLI ran); ours is one line.
    err = capsys.readouterr().err
    [line] = [row for row in err.splitlines() if row.startswith("mlops-pipelines")]
    assert line.startswith(f"mlops-pipelines rollback: {LOCK_URL_ENV}=postgresql://postgres:***@127.0.0.1:")
    assert "unreachable, so no alias moves" in err and "Traceback" not in err and "s3cret" not in err


@pytest.mark.slow
def test_rollback_without_a_lock_url_reaches_the_registry_under_the_file_lock(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with open_client(LocalMlflowTracking().config()) as client:
        client.create_registered_model("bike_sharing")
    monkeypatch.delenv(LOCK_URL_ENV, raising=False)
    assert cli.main(["rollback", "--project", "bike_sharing"]) == 1
    assert "bike_sharing: no previous champion to roll back to" in capsys.readouterr().err
