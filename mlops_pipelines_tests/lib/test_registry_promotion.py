"""Moving the registry aliases on a real MLflow SQLite store: promotion, rollback, retirement."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_pipelines.lib.registry.aliases import (
    PromotionConflict,
    RegistryError,
    RollbackError,
    aliases,
    get_version,
    promote,
    record_rejection,
    register_challenger,
    retire_old_versions,
    rollback,
)
from mlops_pipelines.lib.registry.decisions import TAG_VALUE_LIMIT
from mlops_pipelines.lib.registry.provenance import Provenance
from mlops_pipelines.lib.registry.tracking import LoggedModel, TrackingConfig, log_training_run


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrackingConfig]:
    patch = pytest.MonkeyPatch()
    guard = tmp_path_factory.mktemp("guard") / "global-mlflow.db"
    patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{guard}")  # created only if global state is used
    patch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    yield TrackingConfig.embedded(tmp_path_factory.mktemp("state"))
    patch.undo()
    assert not guard.exists(), "library code used MLflow's global tracking URI"


@pytest.fixture(scope="module")
def classifiers(cfg: TrackingConfig) -> list[LoggedModel]:
    """Registry versions are cheap entries: one training run backs them all."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(5)
    features = pd.DataFrame({"a": rng.normal(size=200), "b": rng.uniform(0, 5, 200)})
    pipeline = LogisticRegression().fit(features, (features["a"] > 0).astype(int))
    logged = log_training_run(
        cfg,
        "training",
        pipeline=pipeline,
        params={},
        metrics={},
        cv_results=[],
        figures={},
        input_example=features,
        task_is_classification=True,
        tags={},
        extra_json={},
        provenance=Provenance(None, None, None, "3.11.7", {}),
    )
    return [logged, logged, logged]


def _lock(tmp_path: Path) -> Path:
    return tmp_path / "locks" / "promotion.lock"


def _decision(outcome: str, **extra: Any) -> str:
    return json.dumps({"outcome": outcome, **extra})


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
