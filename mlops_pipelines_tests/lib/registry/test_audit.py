"""The audit trail on a real MLflow SQLite store: every alias move logged, failed moves not
claimed, killed writers settled, multi-step rollback refusing what cannot serve, and history."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_pipelines.lib.registry import audit
from mlops_pipelines.lib.registry.aliases import (
    PromotionConflict,
    RollbackError,
    aliases,
    promote,
    register_challenger,
    retire_old_versions,
    rollback,
)
from mlops_pipelines.lib.registry.history import HistoryError, champion_at, champion_timeline, parse_time
from mlops_pipelines.lib.registry.provenance import Provenance
from mlops_pipelines.lib.registry.tracking import LoggedModel, TrackingConfig, log_training_run

DECISION = '{"verdict": "promote", "reasons": ["challenger better"]}'


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrackingConfig]:
    patch = pytest.MonkeyPatch()
    patch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    yield TrackingConfig.embedded(tmp_path_factory.mktemp("audit-state"))
    patch.undo()


def _log(cfg: TrackingConfig, c: float) -> LoggedModel:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"a": rng.normal(size=80), "b": rng.normal(size=80)})
    label = (frame["a"] > 0).astype(int)
    return log_training_run(
        cfg,
        "training",
        pipeline=LogisticRegression(C=c).fit(frame, label),
        params={"C": c},
        metrics={"score": 0.5},
        cv_results=[],
        figures={},
        input_example=frame.head(5),
        task_is_classification=True,
        tags={},
        extra_json={},
        provenance=Provenance(None, None, None, "3.11.7", {}),
    )


def _project(cfg: TrackingConfig, name: str, versions: int) -> list[str]:
    return [register_challenger(cfg, name, _log(cfg, 0.1 * (i + 1)), {}).version for i in range(versions)]


def _promote_chain(cfg: TrackingConfig, name: str, lock: Path, versions: list[str]) -> None:
    champion = None
    for version in versions:
        promote(
            cfg, name, version, DECISION, lock, expected_champion=champion, actor="dagster run r-" + version
        )
        champion = version


def _done(cfg: TrackingConfig, name: str) -> list[audit.AuditEntry]:
    return [e for e in audit.read_entries(cfg, name) if e.status == audit.DONE]


def test_every_alias_move_is_logged_with_who_from_to_why_and_when(
    cfg: TrackingConfig, tmp_path: Path
) -> None:
    lock = tmp_path / "p.lock"
    versions = _project(cfg, "trail", 3)
    _promote_chain(cfg, "trail", lock, versions[:2])
    entries = _done(cfg, "trail")
    assert [e.action for e in entries] == ["register", "register", "register", "promote", "promote"]
    assert entries[1].moves == (audit.AliasMove("challenger", "1", "2"),)
    first, second = entries[3], entries[4]
    assert first.moves == (audit.AliasMove("champion", None, "1"),)
    assert second.moves == (
        audit.AliasMove("previous-champion", None, "1"),
        audit.AliasMove("champion", "1", "2"),
    )
    assert second.actor == "dagster run r-2"
    assert second.decision_id == audit.decision_id(DECISION) and second.reason == "promote: challenger better"
    assert abs(parse_time(second.at) - datetime.now(UTC)) < timedelta(minutes=5)

    retire_old_versions(cfg, "trail", 1, lock)  # v3 is challenger, v2 champion, v1 previous: none retired
    assert len(_done(cfg, "trail")) == 5, "nothing retired, nothing logged"


def test_a_failed_alias_move_leaves_no_entry_claiming_it(
    cfg: TrackingConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    lock = tmp_path / "p.lock"
    _project(cfg, "failing", 1)

    def refuse(self: Any, name: str, alias: str, version: str) -> None:
        raise MlflowException("alias store refused the write")

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", refuse)
    with pytest.raises(MlflowException, match="refused"):
        promote(cfg, "failing", "1", DECISION, lock, expected_champion=None)
    monkeypatch.undo()
    assert aliases(cfg, "failing") == {"challenger": "1"}
    assert [e.action for e in _done(cfg, "failing")] == ["register"]
    failed = [e for e in audit.read_entries(cfg, "failing", include_failed=True) if e.status == audit.FAILED]
    assert [e.action for e in failed] == ["promote"]


_KILLED: list[Any] = []  # open recordings, kept alive: a collected one would end its entry FAILED


def _pending(cfg: TrackingConfig, entry: audit.AuditEntry) -> None:
    """What a writer killed between opening its entry and ending it leaves behind."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=cfg.tracking_uri, registry_uri=cfg.resolved_registry_uri)
    recording = audit.recorded(client, cfg, entry)
    recording.__enter__()  # never exited: the process died here
    _KILLED.append(recording)


@pytest.mark.parametrize(("planned", "settled"), [("1", audit.DONE), ("9", audit.FAILED)])
def test_a_killed_writers_pending_entry_is_settled_by_the_next_writer(
    cfg: TrackingConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, planned: str, settled: str
) -> None:
    name = f"killed{planned}"
    lock = tmp_path / "p.lock"
    _project(cfg, name, 2)
    _promote_chain(cfg, name, lock, ["1"])
    move = audit.AliasMove("champion", "1", planned)
    _pending(cfg, audit.AuditEntry(name, "promote", (move,), "user x", None, "killed", audit.now_utc()))
    assert [e.status for e in audit.read_entries(cfg, name)][-1] == audit.PENDING
    monkeypatch.setattr(audit, "SETTLE_AFTER_SECONDS", 0.0)
    promote(cfg, name, "2", DECISION, lock, expected_champion="1")
    statuses = {e.reason: e.status for e in audit.read_entries(cfg, name, include_failed=True)}
    assert statuses["killed"] == settled


def test_rollback_to_a_version_several_steps_back(cfg: TrackingConfig, tmp_path: Path) -> None:
    lock = tmp_path / "p.lock"
    _promote_chain(cfg, "multi", lock, _project(cfg, "multi", 4))
    restored = rollback(cfg, "multi", lock, to_version="1", expected_champion="4", actor="user alice")
    assert restored.version == "1"
    assert aliases(cfg, "multi") == {"champion": "1"}
    last = _done(cfg, "multi")[-1]
    assert (last.action, last.actor) == ("rollback", "user alice")
    assert last.moves == (
        audit.AliasMove("champion", "4", "1"),
        audit.AliasMove("previous-champion", "3", None),
    )
    with pytest.raises(RollbackError, match="no previous champion"):
        rollback(cfg, "multi", lock)  # one step back: removed with the multi-step rollback
    assert retire_old_versions(cfg, "multi", 2, lock, actor="user bob") == ["2"]
    retired = _done(cfg, "multi")[-1]
    assert (retired.action, retired.versions, retired.actor) == ("retire", ("2",), "user bob")


def test_rollback_to_refuses_unknown_retired_never_served_and_broken_versions(
    cfg: TrackingConfig, tmp_path: Path
) -> None:
    lock = tmp_path / "p.lock"
    versions = _project(cfg, "refuse", 5)
    _promote_chain(cfg, "refuse", lock, versions[:3])
    before, entries = aliases(cfg, "refuse"), len(_done(cfg, "refuse"))
    with pytest.raises(RollbackError, match="version 99: it does not exist"):
        rollback(cfg, "refuse", lock, to_version="99")
    with pytest.raises(RollbackError, match="version 4 never served as champion"):
        rollback(cfg, "refuse", lock, to_version="4")
    with pytest.raises(RollbackError, match="version 3 is already the champion"):
        rollback(cfg, "refuse", lock, to_version="3")
    with pytest.raises(PromotionConflict, match="champion is 3, expected 2"):
        rollback(cfg, "refuse", lock, to_version="1", expected_champion="2")
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=cfg.tracking_uri, registry_uri=cfg.resolved_registry_uri)
    client.set_model_version_tag("refuse", "1", "retired", "true")
    with pytest.raises(RollbackError, match="version 1 is retired"):
        rollback(cfg, "refuse", lock, to_version="1")
    source = Path(client.get_model_version("refuse", "2").source.removeprefix("file://"))
    model_file = next(p for p in source.rglob("model.*") if p.is_file())
    model_file.write_bytes(model_file.read_bytes()[:-7] + b"broken!")
    with pytest.raises(RollbackError, match="version 2: it is broken"):
        rollback(cfg, "refuse", lock, to_version="2")
    with pytest.raises(RollbackError, match="no registered model named 'nobody'"):
        rollback(cfg, "nobody", lock, to_version="1")
    assert aliases(cfg, "refuse") == before
    assert len(_done(cfg, "refuse")) == entries, "a refused rollback logs no move"


def test_history_answers_which_version_served_at_a_time(cfg: TrackingConfig, tmp_path: Path) -> None:
    lock = tmp_path / "p.lock"
    _promote_chain(cfg, "hist", lock, _project(cfg, "hist", 3))
    rollback(cfg, "hist", lock)
    entries = audit.read_entries(cfg, "hist")
    timeline = champion_timeline(entries)
    assert [s.version for s in timeline] == ["1", "2", "3", "2"]
    assert [s.entry.action for s in timeline] == ["promote", "promote", "promote", "rollback"]
    assert timeline[-1].until is None and timeline[0].until == timeline[1].since
    assert champion_at("hist", entries, timeline[1].since).version == "2"
    assert champion_at("hist", entries, datetime.now(UTC) + timedelta(days=1)).version == "2"


def test_history_refuses_a_time_before_the_first_champion_and_an_unreadable_time(
    cfg: TrackingConfig, tmp_path: Path
) -> None:
    # Its own project: the test must not lean on another test having promoted first.
    _promote_chain(cfg, "early", tmp_path / "p.lock", _project(cfg, "early", 1))
    entries = audit.read_entries(cfg, "early")
    with pytest.raises(HistoryError, match="before the first champion"):
        champion_at("early", entries, datetime(2001, 1, 1, tzinfo=UTC))
    with pytest.raises(HistoryError, match="no champion move yet"):
        champion_at("nobody", audit.read_entries(cfg, "nobody"), datetime.now(UTC))
    with pytest.raises(HistoryError, match="cannot read the time 'last tuesday'"):
        parse_time("last tuesday")
    assert parse_time("2024-03-05T14:00") == datetime(2024, 3, 5, 14, tzinfo=UTC)
    assert parse_time("2024-03-05T16:00+02:00") == datetime(2024, 3, 5, 14, tzinfo=UTC)
