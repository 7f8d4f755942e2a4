"""The maintenance job, run by Dagster on a small state: a features version a registered model
pins survives vacuum, an unpinned one does not; the drift report of a promoted retrain's trigger
survives retention, a rejected one's does not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from mlops_pipelines import names
from mlops_pipelines.definitions import build_definitions
from mlops_pipelines.lib import lake
from mlops_pipelines.maintenance import maintenance_job_name
from mlops_pipelines.runner import run_job
from mlops_pipelines.spec import ProjectSpec

PROJECT = "demand_sim"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    (tmp_path / "dagster").mkdir()
    return tmp_path


def _features(home: Path) -> str:
    """Partition 2024-01-01 written three times: versions 0, 1, 2."""
    uri = str(home / "lake" / PROJECT / names.FEATURES)
    for value in (1.0, 2.0, 3.0):
        frame = pd.DataFrame({"_partition": ["2024-01-01"], "x": [value]})
        lake.write_partitions(uri, frame, "_partition", ["2024-01-01"])
    return uri


def _register_model_pinning(home: Path, uri: str, version: int) -> Path:
    """Version 1 pins features `version` and is retired (its files: the returned directory);
    version 2 is the champion."""
    from mlflow import MlflowClient

    from mlops_pipelines.lib.registry.lookup import CHAMPION, RETIRED_TAG
    from mlops_pipelines.resources.tracking import LocalMlflowTracking

    cfg = LocalMlflowTracking().config()
    Path(cfg.artifact_root).mkdir(parents=True, exist_ok=True)
    client = MlflowClient(cfg.tracking_uri, cfg.resolved_registry_uri)
    experiment = client.create_experiment(PROJECT, artifact_location=cfg.artifact_root)
    run = client.create_run(
        experiment, tags={names.ML_FEATURES_URI: uri, names.ML_FEATURES_VERSION: str(version)}
    )
    client.create_registered_model(PROJECT)
    files = Path(cfg.artifact_root) / "old_model"
    files.mkdir()
    (files / "model.pkl").write_bytes(b"m" * 5000)
    client.create_model_version(PROJECT, str(files), run_id=run.info.run_id)
    client.set_model_version_tag(PROJECT, "1", RETIRED_TAG, "true")
    (Path(cfg.artifact_root) / "live_model").mkdir()
    client.create_model_version(PROJECT, f"{cfg.artifact_root}/live_model")
    client.set_registered_model_alias(PROJECT, CHAMPION, "2")
    return files


def _decide(instance: dg.DagsterInstance, trigger: str, verdict: str) -> None:
    """A retrain run triggered at `trigger` whose champion materialization records `verdict`."""

    @dg.op
    def champion() -> Iterator[Any]:
        key = dg.AssetKey([PROJECT, names.CHAMPION])
        yield dg.AssetMaterialization(asset_key=key, metadata={names.META_VERDICT: verdict})
        yield dg.Output(None)

    @dg.job(name=f"decide_{verdict}")
    def retrain() -> None:
        champion()

    assert retrain.execute_in_process(instance=instance, tags={names.TRIGGER_TAG: trigger}).success


def test_maintenance_keeps_pinned_versions_and_linked_reports(
    home: Path, specs: dict[str, ProjectSpec]
) -> None:
    uri = _features(home)
    retired_files = _register_model_pinning(home, uri, 0)
    drift = home / "reports" / PROJECT / names.DRIFT
    drift.mkdir(parents=True)
    for day in range(1, 10):
        (drift / f"2024-01-{day:02d}.html").write_text("x" * 1000, encoding="utf-8")
    defs = build_definitions({PROJECT: specs[PROJECT]})
    with dg.DagsterInstance.get() as instance:
        _decide(instance, "2024-01-02", "promote")
        _decide(instance, "2024-01-03", "reject")
        config = {
            "ops": {names.scoped(PROJECT, names.MAINTENANCE_OP): {"config": {"min_retention_hours": 0}}}
        }
        result = run_job(defs, maintenance_job_name(specs[PROJECT]), instance, run_config=config)
    assert result.success
    assert sorted(p.stem for p in drift.glob("*.html")) == [
        "2024-01-02",  # linked from a promotion: kept though old
        *[f"2024-01-{d:02d}" for d in range(5, 10)],  # the newest 5
    ]
    assert lake.read(uri, 0)["x"].tolist() == [1.0]  # pinned by the (retired) registered model
    with pytest.raises(FileNotFoundError, match="not found"):
        lake.read(uri, 1)  # pinned by nothing, replaced at version 2: vacuumed
    output = next(e for e in result.all_events if e.is_successful_output)
    metadata = {k: getattr(v, "value", v) for k, v in output.step_output_data.metadata.items()}
    assert metadata[names.META_REPORTS_DELETED] == 3
    assert metadata[names.META_KEPT_VERSIONS] == "features: [0]"
    # The retired version's model files are gone; the champion's are not.
    assert not retired_files.exists() and (retired_files.parent / "live_model").is_dir()
    assert (metadata[names.META_MODELS_PURGED], metadata[names.META_MODEL_BYTES_FREED]) == ("1", 5000)


def test_maintenance_keeps_retired_model_files_when_the_spec_says_so(
    home: Path, specs: dict[str, ProjectSpec]
) -> None:
    spec = specs[PROJECT]
    keep = spec.model_copy(
        update={"promotion": spec.promotion.model_copy(update={"purge_retired_models": False})}
    )
    retired_files = _register_model_pinning(home, _features(home), 0)
    with dg.DagsterInstance.get() as instance:
        result = run_job(build_definitions({PROJECT: keep}), maintenance_job_name(keep), instance)
    assert result.success
    assert (retired_files / "model.pkl").stat().st_size == 5000
    output = next(e for e in result.all_events if e.is_successful_output)
    metadata = {k: getattr(v, "value", v) for k, v in output.step_output_data.metadata.items()}
    assert metadata[names.META_MODEL_BYTES_FREED] == 0
