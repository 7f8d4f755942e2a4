"""Training runs in a real MLflow SQLite store: what is recorded, and how failures look."""

from __future__ import annotations

import json
import socket
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_pipelines.lib.integrity import sha256_tree
from mlops_pipelines.lib.registry.provenance import Provenance
from mlops_pipelines.lib.registry.session import redact_uri
from mlops_pipelines.lib.registry.tracking import (
    ARTIFACT_SHA_TAG,
    TrackingConfig,
    TrackingUnavailable,
    ensure_experiment,
    experiment_name,
    log_evaluation,
    log_training_run,
    run_url,
)

PROVENANCE = Provenance("a" * 40, False, "b" * 64, "3.11.7", {"mlflow": "3.17.2"})


def _png() -> bytes:
    """A real 1x1 PNG, built by hand: matplotlib would add seconds of import time."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = pd.DataFrame(
        {"a": rng.normal(size=200), "b": rng.uniform(0, 5, 200), "c": rng.choice(["x", "y"], 200)}
    )
    rows["y"] = ((rows["a"] + 0.3 * rng.normal(size=200)) > 0).astype(int)
    return rows


def _classifier(fit_on: pd.DataFrame | None) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pipe = Pipeline(
        [
            (
                "pre",
                ColumnTransformer([("num", StandardScaler(), ["a", "b"]), ("cat", OneHotEncoder(), ["c"])]),
            ),
            ("model", LogisticRegression()),
        ]
    )
    return pipe.fit(fit_on[["a", "b", "c"]], fit_on["y"]) if fit_on is not None else pipe


@pytest.fixture(scope="module")
def guard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Any use of MLflow's process-global tracking URI would create this file."""
    patch = pytest.MonkeyPatch()
    path = tmp_path_factory.mktemp("guard") / "global-mlflow.db"
    patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{path}")
    patch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    yield path
    patch.undo()
    assert not path.exists(), "library code used MLflow's global tracking URI"


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory, guard: Path) -> TrackingConfig:
    return TrackingConfig.embedded(tmp_path_factory.mktemp("state"))


def _log(cfg: TrackingConfig, project: str, frame: pd.DataFrame, **overrides: Any) -> Any:
    arguments: dict[str, Any] = {
        "pipeline": _classifier(frame),
        "params": {"model__C": 1.0, "search_space": {"C": [0.1, 1.0]}},
        "metrics": {"roc_auc": 0.91, "f1": 0.8},
        "cv_results": [{"C": 0.1, "mean_score": 0.88}, {"C": 1.0, "mean_score": 0.9}],
        "figures": {"roc": _png()},
        "input_example": frame[["a", "b", "c"]],
        "task_is_classification": True,
        "tags": {"dagster.run_id": "r-123", "data.features.version": "7"},
        "extra_json": {"model_card": {"owner": "ml", "trained": pd.Timestamp("2024-01-01")}},
        "provenance": PROVENANCE,
    }
    arguments.update(overrides)
    return log_training_run(cfg, project, **arguments)


def _client(cfg: TrackingConfig) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=cfg.tracking_uri, registry_uri=cfg.resolved_registry_uri)


def test_training_run_records_params_metrics_artifacts_lineage_and_model_sha(
    cfg: TrackingConfig, frame: pd.DataFrame
) -> None:
    logged = _log(cfg, "demo", frame)
    run = _client(cfg).get_run(logged.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["model__C"] == "1.0"
    assert json.loads(run.data.params["search_space"]) == {"C": [0.1, 1.0]}
    assert run.data.metrics == {"roc_auc": 0.91, "f1": 0.8}
    assert run.data.tags["dagster.run_id"] == "r-123"
    assert run.data.tags["provenance.git_commit"] == "a" * 40
    assert run.data.tags["mlflow.source.git.commit"] == "a" * 40
    assert run.data.tags[ARTIFACT_SHA_TAG] == logged.artifact_sha256
    artifact_dir = Path(cfg.artifact_root) / "demo"
    run_dir = artifact_dir / logged.run_id / "artifacts"
    files = {p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file()}
    assert files == {"figures/roc.png", "cv_results.csv", "model_card.json", "provenance.json"}
    assert json.loads((run_dir / "model_card.json").read_text())["trained"] == "2024-01-01T00:00:00"
    # The recorded hash is the hash of the files the store holds, under the project's root.
    assert Path(logged.artifact_location).is_relative_to(artifact_dir)
    assert sha256_tree(Path(logged.artifact_location)) == logged.artifact_sha256
    assert logged.model_uri == f"models:/{logged.model_id}"
    assert logged.run_url is None


def test_bad_figure_fails_before_any_run_exists(cfg: TrackingConfig, frame: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="figure 'roc' is not PNG"):
        _log(cfg, "no_runs", frame, figures={"roc": b"<svg/>"})
    assert _client(cfg).get_experiment_by_name(experiment_name(cfg, "no_runs")) is None


def test_failure_after_the_run_started_marks_it_failed(cfg: TrackingConfig, frame: pd.DataFrame) -> None:
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        _log(cfg, "failing", frame, pipeline=_classifier(None))
    experiment = _client(cfg).get_experiment_by_name(experiment_name(cfg, "failing"))
    runs = _client(cfg).search_runs([experiment.experiment_id])
    assert [r.info.status for r in runs] == ["FAILED"]


def test_evaluation_lands_on_the_training_run(cfg: TrackingConfig, frame: pd.DataFrame) -> None:
    logged = _log(cfg, "evaluated", frame)
    log_evaluation(cfg, logged.run_id, {"holdout_auc": 0.87}, {"calibration": _png()}, {"slices": {"x": 0.9}})
    run = _client(cfg).get_run(logged.run_id)
    assert run.data.metrics["holdout_auc"] == 0.87
    assert run.data.metrics["roc_auc"] == 0.91
    paths = {a.path for a in _client(cfg).list_artifacts(logged.run_id, "evaluation")}
    assert paths == {"evaluation/figures", "evaluation/slices.json"}


def test_evaluation_of_an_unknown_run_raises(cfg: TrackingConfig) -> None:
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException, match="not found"):
        log_evaluation(cfg, "0" * 32, {"holdout_auc": 0.87}, {}, {})


def test_experiment_is_created_once_and_restored_after_deletion(cfg: TrackingConfig) -> None:
    first = ensure_experiment(cfg, "exp_once")
    assert ensure_experiment(cfg, "exp_once") == first
    _client(cfg).delete_experiment(first)
    assert ensure_experiment(cfg, "exp_once") == first
    experiment = _client(cfg).get_experiment(first)
    assert experiment.lifecycle_stage == "active"
    assert experiment.artifact_location == f"{cfg.artifact_root}/exp_once"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_server_fails_fast_naming_the_uri(
    tmp_path: Path, frame: pd.DataFrame, guard: Path
) -> None:
    port = _closed_port()
    uri = f"http://127.0.0.1:{port}"
    cfg = TrackingConfig(uri, None, str(tmp_path), http_max_retries=1, http_timeout_seconds=2)
    started = time.monotonic()
    with pytest.raises(TrackingUnavailable, match=f"127.0.0.1:{port}"):
        _log(cfg, "offline", frame)
    assert time.monotonic() - started < 10


def test_server_that_never_answers_times_out(tmp_path: Path, guard: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # accepts connections in the kernel, never replies
        uri = f"http://127.0.0.1:{listener.getsockname()[1]}"
        cfg = TrackingConfig(uri, None, str(tmp_path), http_max_retries=0, http_timeout_seconds=1)
        started = time.monotonic()
        with pytest.raises(TrackingUnavailable, match="unreachable or too slow"):
            ensure_experiment(cfg, "slow")
        assert time.monotonic() - started < 8


def test_config_rejects_paths_that_follow_the_working_directory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="four slashes"):
        TrackingConfig("sqlite:///mlflow.db", None, str(tmp_path))
    with pytest.raises(ValueError, match="artifact_root"):
        TrackingConfig(f"sqlite:///{tmp_path}/m.db", None, "mlartifacts")
    assert TrackingConfig(f"sqlite:///{tmp_path}/m.db", None, "s3://bucket/mlflow").artifact_root


def test_run_url_only_for_a_server() -> None:
    server = TrackingConfig("https://mlflow.example.com/", None, "s3://b/a")
    assert run_url(server, "3", "abc") == "https://mlflow.example.com/#/experiments/3/runs/abc"
    assert run_url(TrackingConfig("sqlite:////tmp/m.db", None, "/tmp/a"), "3", "abc") is None


def test_uri_passwords_never_reach_messages() -> None:
    assert (
        redact_uri("postgresql+psycopg2://ml:s3cret@db:5432/mlflow")
        == "postgresql+psycopg2://ml:***@db:5432/mlflow"
    )
    assert redact_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
