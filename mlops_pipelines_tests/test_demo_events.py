"""A failed run's error in the demo names what the step raised, not Dagster's wrapper around it
(real in-process Dagster runs)."""

from __future__ import annotations

import dagster as dg

from mlops_pipelines.demo_events import failure, replay_error, skip_warning


@dg.op
def reads_a_column() -> None:
    raise ValueError("column 'temp' has 24 null value(s) in 2024-01-02")


@dg.op
def succeeds() -> int:
    return 1


@dg.job
def broken() -> None:
    reads_a_column()


@dg.job
def fine() -> None:
    succeeds()


def test_a_failed_step_is_named_by_its_own_exception() -> None:
    result = broken.execute_in_process(raise_on_error=False)
    error = failure(result, "daily 2024-01-02")
    assert str(error) == "daily 2024-01-02: ValueError: column 'temp' has 24 null value(s) in 2024-01-02"
    assert error.reason == "ValueError: column 'temp' has 24 null value(s) in 2024-01-02"
    assert "Execution of step" not in str(error)


def test_a_run_without_a_failed_step_says_the_run_failed() -> None:
    result = fine.execute_in_process()
    assert str(failure(result, "daily")) == "daily: run failed"


def test_a_replay_that_never_trained_a_first_model_is_an_error_naming_why() -> None:
    keys = ["2024-01-01", "2024-01-02"]
    waits = [{"until": "2024-01-02", "reason": "target 'rain' has a single class ['no']: nothing to learn"}]
    summary = {"partitions": 2, "champion_version": None, "first_model_waits": waits}
    error = replay_error(summary, keys)
    assert error is not None
    assert str(error) == (
        "no first model in 2 partitions (2024-01-01..2024-01-02): "
        "target 'rain' has a single class ['no']: nothing to learn"
    )
    # Its twins: a replay that trained one, and one too short to reach the bootstrap point.
    assert replay_error({**summary, "champion_version": "2"}, keys) is None
    assert replay_error({"partitions": 2, "champion_version": None}, keys) is None


def test_only_drift_not_confirmed_by_performance_is_a_warning() -> None:
    message = (
        "no retrain; drift on 2024-01-03..2024-01-04 not confirmed by performance: warning only (7 checks)"
    )
    assert (
        skip_warning(message) == "drift on 2024-01-03..2024-01-04 not confirmed by performance: warning only"
    )
    assert skip_warning("no trigger: no drift streak") is None
    assert skip_warning(None) is None
