"""The registry on a real MLflow SQLite store: aliases, promotion, rollback, retirement, integrity."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_pipelines.lib.provenance import Provenance
from mlops_pipelines.lib.registry import (
    ModelIntegrityError,
    PromotionConflict,
    RegistryError,
    RollbackError,
    aliases,
    get_alias,
    get_version,
    list_versions,
    load_model,
    promote,
    record_rejection,
    register_challenger,
    retire_old_versions,
    rollback,
    verify_loadable,
)
from mlops_pipelines.lib.registry_support import TAG_VALUE_LIMIT, AliasLockTimeoutError, alias_lock
from mlops_pipelines.lib.tracking import LoggedModel, TrackingConfig, TrackingUnavailable, log_training_run

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
    return [_log(cfg, frame, c=c) for c in (0.1, 1.0, 10.0)]


def _lock(tmp_path: Path) -> Path:
    return tmp_path / "locks" / "promotion.lock"


def _decision(outcome: str, **extra: Any) -> str:
    return json.dumps({"outcome": outcome, **extra})


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


def test_promotions_move_champion_and_previous_champion_with_decisions_on_both(
    cfg: TrackingConfig, classifiers: list[LoggedModel], tmp_path: Path
) -> None:
    register_challenger(cfg, "promo", classifiers[0], {})
    first = promote(cfg, "promo", "1", _decision("promote", n=1), _lock(tmp_path), expected_champion=None)
    assert (first.champion.version, first.previous_champion) == ("1", None)
    assert aliases(cfg, "promo") == {"champion": "1"}  # the promoted challenger is no longer a candidate

    register_challenger(cfg, "promo", classifiers[1], {})
    second = promote(cfg, "promo", "2", _decision("promote", n=2), _lock(tmp_path), expected_champion="1")
    assert second.previous_champion is not None and second.previous_champion.version == "1"
    assert aliases(cfg, "promo") == {"champion": "2", "previous-champion": "1"}
    new, old = get_version(cfg, "promo", "2"), get_version(cfg, "promo", "1")
    assert json.loads(new.tags["promotion_decision"]) == {"outcome": "promote", "n": 2}
    assert json.loads(old.tags["superseded_decision"]) == {"outcome": "promote", "n": 2}
    assert old.tags["superseded_by"] == "2"
    assert new.tags["promotion_decision_artifact"] == second.decision_artifact
    assert second.decision_artifact is not None and second.decision_artifact.startswith(
        f"runs:/{new.run_id}/"
    )


def test_promotion_against_a_stale_champion_conflicts_and_changes_nothing(
    cfg: TrackingConfig, classifiers: list[LoggedModel], tmp_path: Path
) -> None:
    register_challenger(cfg, "stale", classifiers[0], {})
    promote(cfg, "stale", "1", _decision("promote"), _lock(tmp_path), expected_champion=None)
    register_challenger(cfg, "stale", classifiers[1], {})
    with pytest.raises(PromotionConflict, match="champion is 1, expected unset"):
        promote(cfg, "stale", "2", _decision("promote"), _lock(tmp_path), expected_champion=None)
    with pytest.raises(ValueError, match="not valid JSON"):
        promote(cfg, "stale", "2", "{oops", _lock(tmp_path), expected_champion="1")
    assert aliases(cfg, "stale") == {"champion": "1", "challenger": "2"}


def test_concurrent_promotions_leave_exactly_one_champion(
    cfg: TrackingConfig, classifiers: list[LoggedModel], tmp_path: Path
) -> None:
    for logged in classifiers:
        register_challenger(cfg, "race", logged, {})
    promote(cfg, "race", "1", _decision("promote"), _lock(tmp_path), expected_champion=None)
    start = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def attempt(version: str) -> None:
        start.wait()
        try:
            promote(cfg, "race", version, _decision("promote"), _lock(tmp_path), expected_champion="1")
            outcomes[version] = "promoted"
        except PromotionConflict:
            outcomes[version] = "conflict"

    threads = [threading.Thread(target=attempt, args=(v,)) for v in ("2", "3")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes.values()) == ["conflict", "promoted"]
    winner = next(v for v, outcome in outcomes.items() if outcome == "promoted")
    assert aliases(cfg, "race")["champion"] == winner
    assert aliases(cfg, "race")["previous-champion"] == "1"


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


def test_rollback_restores_previous_champion_once(
    cfg: TrackingConfig, classifiers: list[LoggedModel], tmp_path: Path
) -> None:
    for version, logged in enumerate(classifiers[:2], start=1):
        register_challenger(cfg, "rb", logged, {})
        promote(
            cfg,
            "rb",
            str(version),
            _decision("promote"),
            _lock(tmp_path),
            expected_champion=None if version == 1 else "1",
        )
    restored = rollback(cfg, "rb", _lock(tmp_path))
    assert restored.version == "1"
    assert aliases(cfg, "rb") == {"champion": "1"}
    assert get_version(cfg, "rb", "2").tags["rolled_back_to"] == "1"
    with pytest.raises(RollbackError, match="rb: no previous champion"):
        rollback(cfg, "rb", _lock(tmp_path))
    with pytest.raises(RollbackError, match="never_registered"):
        rollback(cfg, "never_registered", _lock(tmp_path))


def test_retire_keeps_newest_and_every_role_but_keeps_lineage(
    cfg: TrackingConfig, classifiers: list[LoggedModel], tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    for logged in [*classifiers, classifiers[0], classifiers[1]]:
        register_challenger(cfg, "old", logged, {})
    promote(cfg, "old", "1", _decision("promote"), _lock(tmp_path), expected_champion=None)
    client = MlflowClient(tracking_uri=cfg.tracking_uri, registry_uri=cfg.resolved_registry_uri)
    client.set_registered_model_alias("old", "audit", "2")
    # Versions 1..5: champion 1, challenger 5; keep=2 keeps 4 and 5.
    assert retire_old_versions(cfg, "old", 2, _lock(tmp_path)) == ["3", "2"]
    assert aliases(cfg, "old") == {"champion": "1", "challenger": "5"}
    retired = get_version(cfg, "old", "2")
    assert retired.retired and retired.tags["retired_at"]
    assert not get_version(cfg, "old", "1").retired
    assert client.get_run(str(retired.run_id)).info.lifecycle_stage == "active"
    assert retire_old_versions(cfg, "old", 2, _lock(tmp_path)) == []
    with pytest.raises(RegistryError, match="retired"):
        promote(cfg, "old", "2", _decision("promote"), _lock(tmp_path), expected_champion="1")
    with pytest.raises(ValueError, match="keep must be >= 1"):
        retire_old_versions(cfg, "old", 0, _lock(tmp_path))


def test_rejection_is_recorded_and_large_decisions_point_at_their_artifact(
    cfg: TrackingConfig, classifiers: list[LoggedModel], tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    register_challenger(cfg, "reject", classifiers[0], {})
    big = _decision("reject", reason="worse on slice", table=["x" * 50] * 200)
    assert len(big) > TAG_VALUE_LIMIT
    record_rejection(cfg, "reject", "1", big)
    ref = get_version(cfg, "reject", "1")
    summary = json.loads(ref.tags["rejection_decision"])
    assert summary["truncated"] is True and summary["outcome"] == "reject" and summary["chars"] == len(big)
    run_id, path = summary["artifact"].removeprefix("runs:/").split("/", 1)
    client = MlflowClient(tracking_uri=cfg.tracking_uri)
    stored = Path(client.download_artifacts(run_id, path, str(tmp_path)))
    assert stored.read_text() == big
    assert ref.tags["rejected_at"]
    assert aliases(cfg, "reject") == {"challenger": "1"}


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
