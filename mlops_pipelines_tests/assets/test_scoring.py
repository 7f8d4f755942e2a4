"""The predictions asset for real: the champion the lineage hands on scores each partition into the
prediction log (route `batch`), beside the rows the HTTP service logged, which it never touches."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from mlops_pipelines import names
from mlops_pipelines.lib.frames import PARTITION
from mlops_pipelines.lib.registry.aliases import get_version
from mlops_pipelines.lib.scoring.stage import BATCH_ROUTE
from mlops_pipelines.lib.stores import DeltaTables
from mlops_pipelines.resources.tracking import LocalMlflowTracking
from mlops_pipelines.spec import ProjectSpec
from mlops_pipelines_tests.assets.model_runs import refit_champion
from mlops_pipelines_tests.assets.monitoring_job import NEXT, by_partition, failure, prepared, run, small

SERVICE_ROUTE = "champion"  # a row the HTTP service logged


def artifact_pickle(mlops_home: Path, project: str, version: str) -> Path:
    """The pickled model of registry version `version` (each version logs a model of its own)."""
    model_id = get_version(LocalMlflowTracking().config(), project, version).tags[names.ML_MODEL_ID]
    [pickle] = [p for p in (mlops_home / "mlflow").rglob("model.pkl") if model_id in p.parts]
    return pickle


def test_batch_rows_name_the_champion_and_a_rerun_replaces_only_them(
    specs: dict[str, ProjectSpec], instance: dg.DagsterInstance, mlops_home: Path
) -> None:
    spec = small(specs["bike_sharing"])
    prepared(spec, instance, champion=True)
    version = refit_champion(spec.name, "1").version  # v1 won the gate; its refit serves
    first = run(spec, names.DAILY_JOB, instance, *NEXT)
    assert first.success
    scored = by_partition(first, names.PREDICTIONS)  # each partition's own record
    assert list(scored) == list(NEXT)
    tables = DeltaTables(str(mlops_home / "lake"))
    log = tables.read(spec.name, names.PREDICTIONS)
    for day, own in scored.items():
        assert own[names.META_CHAMPION_VERSION] == version
        assert own[names.META_FIRST_PARTITION] == own[names.META_LAST_PARTITION] == day
        assert own[names.META_ROWS] == (log[PARTITION] == day).sum() > 0
        assert own[names.META_MEAN_PREDICTION] == pytest.approx(
            log.loc[log[PARTITION] == day, "prediction"].mean()
        )
    assert set(log["route"]) == {BATCH_ROUTE} and set(log["model_version"]) == {version}
    assert sorted(set(log[PARTITION])) == list(NEXT)

    served = log[log[PARTITION] == NEXT[0]].head(1).assign(route=SERVICE_ROUTE)
    tables.write_partitions(spec.name, names.PREDICTIONS, served, [NEXT[0]], where={"route": SERVICE_ROUTE})
    assert run(spec, names.DAILY_JOB, instance, *NEXT).success
    after = tables.read(spec.name, names.PREDICTIONS)
    assert (after["route"] == BATCH_ROUTE).sum() == len(log)  # replaced, not appended
    assert (after["route"] == SERVICE_ROUTE).sum() == 1  # the service's row survives


def test_a_champion_whose_artifact_changed_is_refused_naming_the_version(
    specs: dict[str, ProjectSpec], instance: dg.DagsterInstance, mlops_home: Path
) -> None:
    spec = small(specs["bike_sharing"])
    prepared(spec, instance, champion=True)
    version = refit_champion(spec.name, "1").version
    pickle = artifact_pickle(mlops_home, spec.name, version)  # the refit's, the version that serves
    pickle.write_bytes(pickle.read_bytes()[:-10] + b"tampered!!")
    result = run(spec, names.DAILY_JOB, instance, *NEXT)
    message = failure(result, spec, names.PREDICTIONS)
    assert f"bike_sharing: the champion (version {version}) cannot be loaded" in message
    assert "sha256" in message
    assert names.PREDICTIONS not in {
        e.materialization.asset_key.path[-1] for e in result.get_asset_materialization_events()
    }
