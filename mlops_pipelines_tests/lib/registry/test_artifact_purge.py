"""Purging retired versions' model files on a real MLflow store: only retired versions no alias
points to, their record kept, a clear error on load, idempotent, and a failed delete redone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_pipelines.lib.registry.aliases import (
    CHAMPION,
    load_model,
    retire_old_versions,
)
from mlops_pipelines.lib.registry.artifact_purge import purge_retired_models
from mlops_pipelines.lib.registry.lookup import PURGED_TAG, ModelPurgedError
from mlops_pipelines.lib.registry.session import open_client
from mlops_pipelines.lib.registry.tracking import TrackingConfig
from mlops_pipelines_tests.lib.registry.registry_support import register_regressor

FEATURES = ["a", "b"]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    rows = pd.DataFrame({"a": rng.normal(size=120), "b": rng.normal(size=120)})
    rows["y"] = rows["a"] - rows["b"] + rng.normal(scale=0.1, size=120)
    return rows


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TrackingConfig]:
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    yield TrackingConfig.embedded(tmp_path / "state")


def _register(cfg: TrackingConfig, project: str, frame: pd.DataFrame, count: int) -> None:
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline

    for alpha in range(1, count + 1):
        model = make_pipeline(Ridge(alpha=alpha)).fit(frame[FEATURES], frame["y"])
        register_regressor(cfg, project, model, frame[FEATURES], {"alpha": alpha})


def _files(cfg: TrackingConfig, project: str, version: str) -> Path:
    from mlflow.utils.file_utils import local_file_uri_to_path

    with open_client(cfg) as client:
        return Path(local_file_uri_to_path(client.get_model_version_download_uri(project, version)))


def _tags(cfg: TrackingConfig, project: str, version: str) -> dict[str, str]:
    with open_client(cfg) as client:
        return dict(client.get_model_version(project, version).tags)


def test_retired_versions_lose_their_files_and_keep_their_record(
    cfg: TrackingConfig, frame: pd.DataFrame, tmp_path: Path
) -> None:
    _register(cfg, "p", frame, 4)
    lock = tmp_path / "p.lock"
    assert retire_old_versions(cfg, "p", 2, lock) == ["2", "1"]
    sizes = {v: sum(f.stat().st_size for f in _files(cfg, "p", v).rglob("*") if f.is_file()) for v in "12"}
    result = purge_retired_models(cfg, "p", lock)
    assert sorted(p.version for p in result.purged) == ["1", "2"]
    assert result.bytes_freed == sizes["1"] + sizes["2"] > 0
    for version in "12":
        assert not _files(cfg, "p", version).exists()
        tags = _tags(cfg, "p", version)
        assert tags["retired"] == "true" and PURGED_TAG in tags and tags["artifact_sha256"]
        with pytest.raises(ModelPurgedError, match=f"version {version} is retired.*purged by retention"):
            load_model(cfg, "p", version)
    assert load_model(cfg, "p", "4").version == "4"  # the kept versions load as before
    assert _files(cfg, "p", "3").is_dir()
    assert purge_retired_models(cfg, "p", lock).purged == ()  # nothing twice


def test_a_retired_version_an_alias_points_to_again_is_not_purged(
    cfg: TrackingConfig, frame: pd.DataFrame, tmp_path: Path
) -> None:
    _register(cfg, "q", frame, 3)
    lock = tmp_path / "q.lock"
    assert retire_old_versions(cfg, "q", 2, lock) == ["1"]
    with open_client(cfg) as client:  # restored by hand between retirement and maintenance
        client.set_registered_model_alias("q", CHAMPION, "1")
    assert purge_retired_models(cfg, "q", lock).purged == ()
    assert load_model(cfg, "q", CHAMPION).version == "1"


def test_a_failed_delete_tags_nothing_and_the_next_run_purges(
    cfg: TrackingConfig, frame: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository

    _register(cfg, "r", frame, 3)
    lock = tmp_path / "r.lock"
    retire_old_versions(cfg, "r", 2, lock)

    def refuse(self: Any, artifact_path: str | None = None) -> None:
        raise PermissionError("artifact store refused the delete")

    with monkeypatch.context() as patched:
        patched.setattr(LocalArtifactRepository, "delete_artifacts", refuse)
        with pytest.raises(PermissionError, match="refused"):
            purge_retired_models(cfg, "r", lock)
    assert PURGED_TAG not in _tags(cfg, "r", "1") and _files(cfg, "r", "1").is_dir()
    assert [p.version for p in purge_retired_models(cfg, "r", lock).purged] == ["1"]
    assert not _files(cfg, "r", "1").exists()


def test_a_project_with_nothing_registered_purges_nothing(cfg: TrackingConfig, tmp_path: Path) -> None:
    assert purge_retired_models(cfg, "none", tmp_path / "none.lock").purged == ()
