"""When a run counts as orphaned: past its start timeout or its maximum runtime, plus grace."""

from __future__ import annotations

import pytest

from mlops_pipelines import names
from mlops_pipelines.run_limits import (
    DEFAULT_MAX_RUNTIME_SECONDS,
    STALE_GRACE_SECONDS,
    START_TIMEOUT_SECONDS,
    RunTimes,
    max_runtime_seconds,
    stale_reason,
)

NOW = 1_800_000_000.0


def _run(status: str, created_ago: float, started_ago: float | None, **tags: str) -> RunTimes:
    started = None if started_ago is None else NOW - started_ago
    return RunTimes("r1", status, NOW - created_ago, started, tags)


@pytest.mark.parametrize("status", ["NOT_STARTED", "STARTING"])
def test_a_run_that_never_started_is_stale_only_past_the_start_timeout_and_grace(status: str) -> None:
    limit = START_TIMEOUT_SECONDS + STALE_GRACE_SECONDS
    assert stale_reason(_run(status, limit - 1, None), NOW) is None
    reason = stale_reason(_run(status, limit + 1, None), NOW)
    assert reason is not None and "r1" in reason and "never started" in reason


def test_a_started_run_is_stale_past_its_own_max_runtime_tag_and_grace() -> None:
    tag = {names.MAX_RUNTIME_TAG: "600"}
    assert stale_reason(_run("STARTED", 9e9, 600 + STALE_GRACE_SECONDS - 1, **tag), NOW) is None
    reason = stale_reason(_run("STARTED", 9e9, 600 + STALE_GRACE_SECONDS + 1, **tag), NOW)
    assert reason is not None and "maximum runtime of 600 s" in reason and names.MAX_RUNTIME_TAG in reason


def test_without_a_tag_the_default_runtime_applies_and_a_bad_tag_falls_back_to_it() -> None:
    assert max_runtime_seconds({}) == DEFAULT_MAX_RUNTIME_SECONDS
    assert max_runtime_seconds({names.MAX_RUNTIME_TAG: "soon"}) == DEFAULT_MAX_RUNTIME_SECONDS
    edge = DEFAULT_MAX_RUNTIME_SECONDS + STALE_GRACE_SECONDS
    assert stale_reason(_run("STARTED", 9e9, edge - 1), NOW) is None
    assert stale_reason(_run("STARTED", 9e9, edge + 1), NOW) is not None


@pytest.mark.parametrize("status", ["QUEUED", "SUCCESS", "FAILURE", "CANCELED"])
def test_queued_and_finished_runs_are_never_stale(status: str) -> None:
    assert stale_reason(_run(status, 9e9, 9e9), NOW) is None


def test_a_started_run_without_a_recorded_start_is_not_guessed_stale() -> None:
    assert stale_reason(_run("STARTED", 9e9, None), NOW) is None
