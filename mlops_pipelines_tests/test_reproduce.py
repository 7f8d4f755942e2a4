"""`reproduce` for real: Dagster materializes and trains, MLflow records, the rebuild compares exactly.

One module-scoped training (data job over 40 daily partitions, then the retrain job) serves the
end-to-end tests; a test that damages the state restores it before it ends.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from mlops_pipelines import cli, names
from mlops_pipelines.definitions import build_definitions
from mlops_pipelines.lib import lake
from mlops_pipelines.lib.frames import PARTITION
from mlops_pipelines.lib.registry.aliases import aliases, list_versions
from mlops_pipelines.lib.registry.session import TrackingConfig, open_client
from mlops_pipelines.lib.reproduction.record import (
    TrainingRecord,
    planned_candidates,
    rendered_candidates,
    search_plan,
)
from mlops_pipelines.lib.reproduction.replay import MetricPair, ReproductionError
from mlops_pipelines.reproduce import reproduce_version
from mlops_pipelines.resources.tracking import LocalMlflowTracking
from mlops_pipelines.runner import run_job
from mlops_pipelines.spec import ProjectSpec

PROJECT = "bike_sharing"
FIRST, LAST = "2011-01-01", "2011-02-09"
# Differs from the packaged spec's search on purpose: the CLI (packaged spec) must notice.
SMALL_SEARCH = {"model__max_iter": [20, 40], "model__learning_rate": [0.1], "model__max_leaf_nodes": [15]}
ENV_OVERRIDES = (
    "MLOPS_PROJECTS_DIR",
    "MLOPS_TRACKING_URI",
    "MLOPS_REGISTRY_URI",
    "MLOPS_ARTIFACT_ROOT",
    "MLOPS_LAKE_ROOT",
    "MLOPS_ENV",
)


@dataclass(frozen=True)
class Trained:
    spec: ProjectSpec
    cfg: TrackingConfig
    version: str
    run_id: str
    features_uri: str
    features_version: int
    first_train_partition: str
    refit_version: str  # the go-live refit of `version` (the gate promoted it), the serving champion

    def reproduce(self, version: str | None = None) -> dict:
        return reproduce_version(PROJECT, version or self.version, {PROJECT: self.spec})


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory, shared_data_dir: Path, specs: dict[str, ProjectSpec]
) -> Iterator[Trained]:
    home = tmp_path_factory.mktemp("reproduce") / "mlops"
    (home / "dagster").mkdir(parents=True)
    packaged = specs[PROJECT]
    training = packaged.training.model_copy(
        update={
            "search_space": SMALL_SEARCH,
            "search_iterations": 2,
            "window_partitions": 20,
            "holdout_partitions": 7,
        }
    )
    spec = packaged.model_copy(update={"training": training})
    with pytest.MonkeyPatch.context() as env:
        for name in ENV_OVERRIDES:
            env.delenv(name, raising=False)
        env.setenv("MLOPS_HOME", str(home))
        env.setenv("MLOPS_DATA_DIR", str(shared_data_dir))
        env.setenv("DAGSTER_HOME", str(home / "dagster"))
        defs = build_definitions({PROJECT: spec})
        with dg.instance_for_test(temp_dir=str(home / "dagster")) as instance:
            assert run_job(defs, f"{PROJECT}__data", instance, FIRST, LAST).success
            assert run_job(defs, f"{PROJECT}__retrain", instance).success
        cfg = LocalMlflowTracking().config()
        # The retrain registers the trained (evaluated) version and, as the gate promotes it, its
        # refit on the whole window, which goes live.
        registered = list_versions(cfg, PROJECT)
        (ref,) = [r for r in registered if names.ML_REFIT_OF not in r.tags]
        (refit,) = [r for r in registered if r.tags.get(names.ML_REFIT_OF) == ref.version]
        assert aliases(cfg, PROJECT)["champion"] == refit.version
        assert ref.run_id is not None
        tags = ref.tags
        yield Trained(
            spec=spec,
            cfg=cfg,
            version=ref.version,
            run_id=ref.run_id,
            features_uri=tags["mlops.features_uri"],
            features_version=int(tags["mlops.features_version"]),
            first_train_partition=tags["mlops.train_partitions"].split("..")[0],
            refit_version=refit.version,
        )


def _rewrite_partition(uri: str, key: str) -> int:
    """A new table version in which partition `key` holds different labels; returns that version."""
    rows = lake.read(uri, None, PARTITION, [key])
    assert len(rows) > 0
    return lake.write_partitions(uri, rows.assign(cnt=rows["cnt"] + 1), PARTITION, [key])


def test_registered_version_reproduces_exactly(trained: Trained) -> None:
    report = trained.reproduce()

    assert report["match"] is True, report["reasons"]
    assert report["reasons"] == []
    assert (report["project"], report["version"]) == (PROJECT, trained.version)
    metrics = report["metrics"]
    assert {"cv_mae", "cv_mae_std", "n_train_rows", "holdout_mae", "holdout_rmse", "holdout_r2"} <= set(
        metrics
    )
    for name, pair in metrics.items():
        assert isinstance(pair["recorded"], float), name
        assert pair["recorded"] == pair["reproduced"], name
    assert report["search"] == "replayed" and report["spec_changes"] == []
    assert report["data"]["version"] == trained.features_version
    assert len(report["data"]["train_partitions"]) == 20 and len(report["data"]["holdout_partitions"]) == 7
    assert report["data"]["recorded_sha256"] == report["data"]["reproduced_sha256"]
    assert report["predictions"]["rows"] > 0 and report["predictions"]["differing_rows"] == 0
    assert report["code"]["recorded_commit"]  # the training run recorded where its code came from


def test_go_live_refit_reproduces_from_its_own_lineage(trained: Trained) -> None:
    """The refit is a fit of the evaluated version's best parameters on its whole window (train +
    holdout partitions), recorded like any training run: it rebuilds exactly too."""
    report = trained.reproduce(trained.refit_version)

    assert report["match"] is True, report["reasons"]
    assert (report["project"], report["version"]) == (PROJECT, trained.refit_version)
    assert report["run_id"] != trained.run_id  # a run of its own
    metrics = report["metrics"]
    assert set(metrics) == {"cv_mae", "cv_mae_std", "n_train_rows"}  # a refit is never evaluated
    for name, pair in metrics.items():
        assert isinstance(pair["recorded"], float), name
        assert pair["recorded"] == pair["reproduced"], name
    assert any("no holdout_* metrics" in note for note in report["notes"])
    assert report["search"] == "pinned"  # one candidate, the evaluated version's best parameters
    data = report["data"]
    assert data["version"] == trained.features_version
    assert len(data["train_partitions"]) == 20 + 7 and len(data["holdout_partitions"]) == 7
    assert data["train_partitions"][-7:] == data["holdout_partitions"]  # it learned from them too
    assert data["train_partitions"][0] == trained.first_train_partition
    assert data["recorded_sha256"] == data["reproduced_sha256"]
    assert report["predictions"]["rows"] > 0 and report["predictions"]["differing_rows"] == 0


def test_reproduction_time_travels_past_a_rewritten_partition(trained: Trained) -> None:
    uri = trained.features_uri
    newer = _rewrite_partition(uri, trained.first_train_partition)
    assert newer > trained.features_version
    current = lake.read(uri, None, PARTITION, [trained.first_train_partition])["cnt"].sum()
    recorded = lake.read(uri, trained.features_version, PARTITION, [trained.first_train_partition])[
        "cnt"
    ].sum()
    assert current != recorded  # the table really changed under the model

    report = trained.reproduce()

    assert report["match"] is True, report["reasons"]
    assert report["data"]["version"] == trained.features_version


def test_cli_pins_the_recorded_search_when_the_spec_changed(
    trained: Trained, capsys: pytest.CaptureFixture[str]
) -> None:
    # The CLI loads the packaged spec, whose search space is not the one the model was trained with.
    code = cli.main(["reproduce", "--project", PROJECT, "--version", trained.version, "--json"])
    report = json.loads(capsys.readouterr().out)

    assert code == 0
    assert report["match"] is True, report["reasons"]
    assert report["search"] == "pinned"
    assert any("search_space" in change for change in report["spec_changes"])
    assert all(pair["recorded"] == pair["reproduced"] for pair in report["metrics"].values())


def test_tampered_record_is_reported_as_a_mismatch(
    trained: Trained, capsys: pytest.CaptureFixture[str]
) -> None:
    with open_client(trained.cfg) as client:
        run = client.get_run(trained.run_id)
        sha, mae = run.data.tags["mlops.data_sha256"], run.data.metrics["holdout_mae"]
        client.set_tag(trained.run_id, "mlops.data_sha256", "0" * 64)
        client.log_metric(trained.run_id, "holdout_mae", mae + 1e-9, step=1)
    try:
        report = trained.reproduce()
        code = cli.main(["reproduce", "--project", PROJECT, "--version", trained.version])
        out = capsys.readouterr().out
    finally:
        with open_client(trained.cfg) as client:
            client.set_tag(trained.run_id, "mlops.data_sha256", sha)
            client.log_metric(trained.run_id, "holdout_mae", mae, step=2)

    assert report["match"] is False
    assert report["metrics"]["holdout_mae"] == {"recorded": mae + 1e-9, "reproduced": mae}
    assert report["metrics"]["cv_mae"]["recorded"] == report["metrics"]["cv_mae"]["reproduced"]
    assert any(reason.startswith("data changed") for reason in report["reasons"])
    assert any(reason.startswith("holdout_mae:") for reason in report["reasons"])
    assert code == 1
    assert "MISMATCH" in out and "data changed" in out


@pytest.mark.parametrize("damage", ["vacuumed", "deleted"])
def test_lost_table_version_is_a_clear_error(
    damage: str, trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from deltalake import DeltaTable

    uri = trained.features_uri
    backup = tmp_path / "features"
    shutil.copytree(uri, backup)
    try:
        if damage == "vacuumed":
            _rewrite_partition(uri, trained.first_train_partition)
            # full: every file the current version does not reference goes; a lite vacuum trusts the
            # log's tombstones, which has left version 0's files in place (a CI flake); and vacuum keeps
            # files stamped in its own millisecond (a strict `<`), so let the clock move first
            time.sleep(0.01)
            removed = DeltaTable(uri).vacuum(
                retention_hours=0, enforce_retention_duration=False, dry_run=False, full=True
            )
            assert removed, "the vacuum removed nothing, so the version was not damaged"
        else:
            shutil.rmtree(uri)
        with pytest.raises(ReproductionError, match=f"{uri} at version {trained.features_version}"):
            trained.reproduce()
        code = cli.main(["reproduce", "--project", PROJECT, "--version", trained.version])
        err = capsys.readouterr().err
    finally:
        shutil.rmtree(uri, ignore_errors=True)
        shutil.copytree(backup, uri)

    assert code == 1
    assert f"{uri} at version {trained.features_version}" in err
    assert ("no longer exists" if damage == "deleted" else "vacuumed") in err
    assert "Traceback" not in err


def test_a_version_whose_files_retention_purged_reproduces_from_its_lineage(
    trained: Trained, tmp_path: Path
) -> None:
    from mlflow.utils.file_utils import local_file_uri_to_path

    from mlops_pipelines.lib.registry.artifact_purge import purge_retired_models
    from mlops_pipelines.lib.registry.lookup import PURGED_TAG, RETIRED_TAG

    with open_client(trained.cfg) as client:
        client.set_model_version_tag(PROJECT, trained.version, RETIRED_TAG, "true")
        files = Path(local_file_uri_to_path(client.get_model_version_download_uri(PROJECT, trained.version)))
    backup = tmp_path / "files"
    shutil.copytree(files, backup)
    try:
        purged = purge_retired_models(trained.cfg, PROJECT, tmp_path / "lock")
        gone = not files.exists()
        report = trained.reproduce()
    finally:
        shutil.rmtree(files, ignore_errors=True)
        shutil.copytree(backup, files)
        with open_client(trained.cfg) as client:
            for tag in (RETIRED_TAG, PURGED_TAG):
                client.delete_model_version_tag(PROJECT, trained.version, tag)

    assert [p.version for p in purged.purged] == [trained.version] and gone
    # The metrics still decide; the missing files are a note, not a mismatch.
    assert report["match"] is True, report["reasons"]
    assert report["predictions"] is None
    assert any("purged by retention" in note for note in report["notes"])


def _record(space: dict, iterations: int, seed: int, best: dict[str, str]) -> TrainingRecord:
    tried = rendered_candidates(planned_candidates(space, iterations, seed))
    scores = pd.DataFrame(
        {"mean_mae": ["1.0"] * len(tried), "std_mae": ["0.1"] * len(tried), "rank": ["1"] * len(tried)}
    )
    return TrainingRecord(
        project=PROJECT,
        version="3",
        run_id="run-3",
        tags={"mlops.seed": str(seed)},
        params={**best, "family": "hist_gradient_boosting", "seed": str(seed)},
        metrics={"cv_mae": 1.0, "cv_mae_std": 0.1},
        candidates=pd.concat([tried, scores], axis=1),
    )


def test_metric_pairs_compare_exactly() -> None:
    assert MetricPair(0.3, 0.3).equal
    assert not MetricPair(0.1 + 0.2, 0.3).equal  # one ulp apart is a mismatch, not "close enough"
    assert MetricPair(float("nan"), float("nan")).equal
    assert not MetricPair(1.0, None).equal and not MetricPair(None, 1.0).equal


def test_search_is_replayed_when_the_spec_still_tries_the_recorded_candidates(
    specs: dict[str, ProjectSpec],
) -> None:
    spec = specs[PROJECT]
    record = _record(
        dict(spec.training.search_space),
        spec.training.search_iterations,
        spec.training.seed,
        {"model__max_iter": "200", "model__learning_rate": "0.1", "model__max_leaf_nodes": "31"},
    )
    plan = search_plan(spec, record)
    assert plan.mode == "replayed" and plan.changes == ()
    assert plan.spec.training == spec.training


def test_search_is_pinned_to_typed_recorded_params_when_the_spec_changed(
    specs: dict[str, ProjectSpec],
) -> None:
    spec = specs[PROJECT]
    record = _record(
        {"model__max_iter": [40, 80], "model__l2_regularization": [0.5]},
        4,
        7,
        {"model__max_iter": "80", "model__l2_regularization": "0.5"},
    )
    plan = search_plan(spec, record)
    assert plan.mode == "pinned"
    assert plan.spec.training.search_space == {"model__max_iter": [80], "model__l2_regularization": [0.5]}
    assert isinstance(plan.spec.training.search_space["model__max_iter"][0], int)
    assert plan.spec.training.seed == 7  # the recorded seed, not the spec's 42
    assert any(change.startswith("training.seed: recorded 7") for change in plan.changes)
    assert any("search_space" in change for change in plan.changes)
