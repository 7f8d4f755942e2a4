"""The registry on a real MLflow SQLite store: registration, verified loading, integrity, outages."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_pipelines.lib.registry.aliases import (
    ModelIntegrityError,
    RegistryError,
    aliases,
    get_alias,
    list_versions,
    load_model,
    register_challenger,
    verify_loadable,
)
from mlops_pipelines.lib.registry.decisions import AliasLockTimeoutError, alias_lock
from mlops_pipelines.lib.registry.provenance import Provenance
from mlops_pipelines.lib.registry.tracking import (
    LoggedModel,
    TrackingConfig,
    TrackingUnavailable,
    log_training_run,
)

PROVENANCE = Provenance(None, None, None, "3.11.7", {})
FEATURES = ["a", "b", "c"]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    rows = pd.DataFrame(
        {"a": rng.normal(size=200), "b": rng.uniform(0, 5, 200), "c": rng.choice(["x", "y"], 200)}
    )
    rows["label"] = ((rows["a"] + 0.3 * rng.normal(size=200)) > 0).astype(int)
    rows["amount"] = 3 * rows["a"] + rows["b"] + rng.normal(size=200)
    return rows


def _pipeline(estimator: Any) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    encode = ColumnTransformer([("cat", OneHotEncoder(), ["c"])], remainder="passthrough")
    return Pipeline([("pre", encode), ("model", estimator)])


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrackingConfig]:
    patch = pytest.MonkeyPatch()
    guard = tmp_path_factory.mktemp("guard") / "global-mlflow.db"
    patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{guard}")  # created only if global state is used
    patch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    yield TrackingConfig.embedded(tmp_path_factory.mktemp("state"))
    patch.undo()
    assert not guard.exists(), "library code used MLflow's global tracking URI"


def _log(cfg: TrackingConfig, frame: pd.DataFrame, *, classifier: bool = True, c: float = 1.0) -> LoggedModel:
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression

    target = "label" if classifier else "amount"
    estimator = LogisticRegression(C=c) if classifier else HistGradientBoostingRegressor(max_iter=20)
    pipeline = _pipeline(estimator).fit(frame[FEATURES], frame[target])
    return log_training_run(
        cfg,
        "training",
        pipeline=pipeline,
        params={"C": c},
        metrics={"score": 0.5},
        cv_results=[],
        figures={},
        input_example=frame[FEATURES],
        task_is_classification=classifier,
        tags={},
        extra_json={},
        provenance=PROVENANCE,
    )


@pytest.fixture(scope="module")
def classifiers(cfg: TrackingConfig, frame: pd.DataFrame) -> list[LoggedModel]:
    return [_log(cfg, frame, c=c) for c in (0.1, 1.0)]


def _lock(tmp_path: Path) -> Path:
    return tmp_path / "locks" / "promotion.lock"


def test_register_sets_challenger_with_the_training_sha(
    cfg: TrackingConfig, classifiers: list[LoggedModel]
) -> None:
    ref = register_challenger(cfg, "reg", classifiers[0], {"dagster.run_id": "r1"})
    assert (ref.version, ref.run_id, ref.artifact_sha256) == (
        "1",
        classifiers[0].run_id,
        classifiers[0].artifact_sha256,
    )
    assert ref.tags["dagster.run_id"] == "r1"
    assert get_alias(cfg, "reg", "challenger") == ref
    assert get_alias(cfg, "reg", "champion") is None
    assert get_alias(cfg, "no_such_project", "champion") is None
    assert register_challenger(cfg, "reg", classifiers[1], {}).version == "2"
    assert aliases(cfg, "reg") == {"challenger": "2"}


def test_failed_alias_step_deletes_the_half_registered_version(
    cfg: TrackingConfig, classifiers: list[LoggedModel], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    register_challenger(cfg, "half", classifiers[0], {})

    def refuse(self: Any, name: str, alias: str, version: str) -> None:
        raise MlflowException("alias store refused the write")

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", refuse)
    with pytest.raises(MlflowException, match="refused") as caught:
        register_challenger(cfg, "half", classifiers[1], {})
    assert "version 2 was deleted" in "".join(caught.value.__notes__)
    monkeypatch.undo()
    assert [r.version for r in list_versions(cfg, "half")] == ["1"]
    assert aliases(cfg, "half") == {"challenger": "1"}


def test_classifier_loads_verified_and_returns_probabilities(
    cfg: TrackingConfig, classifiers: list[LoggedModel], frame: pd.DataFrame
) -> None:
    register_challenger(cfg, "proba", classifiers[0], {})
    loaded = load_model(cfg, "proba", "challenger")
    assert (loaded.version, loaded.artifact_sha256) == ("1", classifiers[0].artifact_sha256)
    proba = np.asarray(loaded.model.predict(frame[FEATURES].head(20)))
    assert proba.shape == (20, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    verify_loadable(cfg, "proba", "1")


def test_regressor_loads_and_predicts_values(cfg: TrackingConfig, frame: pd.DataFrame) -> None:
    register_challenger(cfg, "regression", _log(cfg, frame, classifier=False), {})
    predictions = np.asarray(load_model(cfg, "regression", "1").model.predict(frame[FEATURES].head(7)))
    assert predictions.shape == (7,)
    assert np.corrcoef(predictions, frame["amount"].head(7))[0, 1] > 0.5


def test_alias_lock_times_out_while_another_holder_keeps_it(tmp_path: Path) -> None:
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with alias_lock(_lock(tmp_path)):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(10)
    try:
        with (
            pytest.raises(AliasLockTimeoutError, match=r"promotion\.lock"),
            alias_lock(_lock(tmp_path), timeout=0.2),
        ):
            pass
    finally:
        release.set()
        thread.join()
    with alias_lock(_lock(tmp_path), timeout=1):
        pass


def _model_file(logged: LoggedModel) -> Path:
    return Path(logged.artifact_location) / "model.pkl"


def test_tampered_artifact_is_refused_before_unpickling(cfg: TrackingConfig, frame: pd.DataFrame) -> None:
    logged = _log(cfg, frame)
    register_challenger(cfg, "tamper", logged, {})
    verify_loadable(cfg, "tamper", "1")
    data = bytearray(_model_file(logged).read_bytes())
    data[len(data) // 2] ^= 0xFF
    _model_file(logged).write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="tamper version 1: artifact sha256"):
        load_model(cfg, "tamper", "challenger")
    with pytest.raises(ModelIntegrityError, match="version 1"):
        verify_loadable(cfg, "tamper", "1")


def test_missing_artifact_or_missing_sha_is_refused(cfg: TrackingConfig, frame: pd.DataFrame) -> None:
    import shutil

    from mlflow import MlflowClient

    logged = _log(cfg, frame)
    register_challenger(cfg, "missing", logged, {})
    shutil.rmtree(logged.artifact_location)
    with pytest.raises(ModelIntegrityError, match="missing version 1: model artifact missing"):
        load_model(cfg, "missing", "1")

    client = MlflowClient(tracking_uri=cfg.tracking_uri, registry_uri=cfg.resolved_registry_uri)
    client.create_model_version("missing", logged.artifact_location, run_id=logged.run_id)
    with pytest.raises(ModelIntegrityError, match="version 2: no artifact_sha256 tag"):
        verify_loadable(cfg, "missing", "2")
    with pytest.raises(RegistryError, match="alias 'champion' is not set"):
        load_model(cfg, "missing", "champion")


def test_registry_outage_is_reported_quickly(tmp_path: Path, cfg: TrackingConfig) -> None:
    import socket
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    offline = TrackingConfig(
        cfg.tracking_uri, f"http://127.0.0.1:{port}", cfg.artifact_root, http_max_retries=1
    )
    started = time.monotonic()
    with pytest.raises(TrackingUnavailable, match=f"registry http://127.0.0.1:{port}"):
        get_alias(offline, "reg", "champion")
    assert time.monotonic() - started < 10
