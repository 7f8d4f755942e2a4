"""How long a run may take to start and to finish, in every mode, and the retrain runs past it.

Run monitoring (the daemon's) fails a run that has not started within START_TIMEOUT_SECONDS or
has run past its `dagster/max_runtime` tag (retrain runs carry `retraining.max_runtime_minutes`)
or DEFAULT_MAX_RUNTIME_SECONDS. The deployed stack's instance and the one `demo` and `ui` write
both turn it on with these numbers, so under `dagster dev` too a retrain orphaned by a killed
process is failed and retried instead of holding the project's retrains forever.

Not every instance runs monitoring: a user's own dagster.yaml, or the embedded demo with no
daemon at all. The retraining sensor therefore also fails, with a message saying why, a retrain
that is past the same limits plus STALE_GRACE_SECONDS (so wherever monitoring runs it acts
first); the policy then sees a failed retrain and retries it under a new run key. A QUEUED run is
never stale: it waits on the queue's limits, and a queue with no daemon runs nothing at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlops_pipelines import names

START_TIMEOUT_SECONDS = 180
DEFAULT_MAX_RUNTIME_SECONDS = 7200
STALE_GRACE_SECONDS = 600
POLL_INTERVAL_SECONDS = 15

NOT_YET_STARTED = ("NOT_STARTED", "STARTING")
STARTED = "STARTED"


@dataclass(frozen=True)
class RunTimes:
    run_id: str
    status: str  # a DagsterRunStatus value
    created: float  # epoch seconds
    started: float | None
    tags: dict[str, str]


def max_runtime_seconds(tags: dict[str, str]) -> float:
    """The run's own `dagster/max_runtime` tag, else the default (as run monitoring reads it)."""
    raw = tags.get(names.MAX_RUNTIME_TAG)
    try:
        return float(raw) if raw else float(DEFAULT_MAX_RUNTIME_SECONDS)
    except ValueError:
        return float(DEFAULT_MAX_RUNTIME_SECONDS)


def stale_reason(run: RunTimes, now: float) -> str | None:
    """Why `run` is past its limits (with the grace), or None while it may still be alive."""
    if run.status in NOT_YET_STARTED:
        waited = now - run.created
        if waited > START_TIMEOUT_SECONDS + STALE_GRACE_SECONDS:
            return (
                f"run {run.run_id} was created {waited:.0f} s ago and never started (limit "
                f"{START_TIMEOUT_SECONDS} s + {STALE_GRACE_SECONDS} s grace): its launcher is gone"
            )
        return None
    if run.status == STARTED and run.started is not None:
        limit = max_runtime_seconds(run.tags)
        ran = now - run.started
        if ran > limit + STALE_GRACE_SECONDS:
            return (
                f"run {run.run_id} has been STARTED for {ran:.0f} s, past its maximum runtime of "
                f"{limit:.0f} s ({names.MAX_RUNTIME_TAG}) + {STALE_GRACE_SECONDS} s grace: its process "
                "is presumed dead (no run monitoring failed it)"
            )
    return None
