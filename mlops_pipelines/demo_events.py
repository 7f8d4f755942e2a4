"""What the demo reads back from its runs and the instance: gate decisions, drift events, failures.

Kept apart from the replay loop (demo.py) so each reads in one sitting; everything here reads
the Dagster event log or a finished in-process run, nothing writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import dagster as dg

from mlops_pipelines import names
from mlops_pipelines.spec import ProjectSpec


class DemoError(RuntimeError):
    """The replay cannot go on; the message names the run and step that failed, `reason` only
    what failed (the same for every block a cause blocks, so blocked blocks group by it)."""

    def __init__(self, message: str, reason: str | None = None, partitions: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.reason = reason or message
        self.partitions = tuple(partitions)  # what failed blocking checks named as refused


class RunResult(Protocol):
    """What the demo reads of a finished run: an in-process result, or a run the deployed stack
    executed, read back from its instance (`stack/demo.py`)."""

    @property
    def run_id(self) -> str: ...

    @property
    def success(self) -> bool: ...

    @property
    def all_events(self) -> Sequence[dg.DagsterEvent]: ...

    def get_asset_materialization_events(self) -> Sequence[dg.DagsterEvent]: ...

    def get_asset_check_evaluations(self) -> Sequence[dg.AssetCheckEvaluation]: ...


def new_summary(project: str) -> dict[str, Any]:
    """The demo's summary before its first block: every key `demo --json` prints."""
    return {
        "project": project,
        "partitions": 0,
        "drift_events": [],
        "retrains": [],
        "promotions": [],
        "decisions": [],
        "warnings": [],
        "champion_version": None,
        "champion_as_of": None,
        "runs": 0,
        "reports": [],
    }


def step_error(event: Any) -> str:
    """What a failed step raised, past Dagster's wrapper ("Error occurred while executing op"):
    the error that names the problem, not "Execution of step ... failed"."""
    data = event.step_failure_data
    error = None if data is None else data.error
    while error is not None and error.cause is not None and (error.cls_name or "").startswith("Dagster"):
        error = error.cause
    return error.message.strip() if error is not None else (event.message or "step failed")


def failure(result: RunResult, what: str) -> DemoError:
    failed = [e for e in result.all_events if e.is_step_failure]
    detail = step_error(failed[0]) if failed else "run failed"
    # A blocking check fails its step with a generic message: name the check and its problems.
    checks = [c for c in result.get_asset_check_evaluations() if not c.passed]
    if checks:
        named = "; ".join(f"check {c.check_name} failed: {c.description}" for c in checks[:2])
        refused = {str(k) for c in checks for k in _blocked(c)}
        return DemoError(f"{what}: {detail}; {named}", reason=named, partitions=sorted(refused))
    return DemoError(f"{what}: {detail}", reason=detail)


def _blocked(check: dg.AssetCheckEvaluation) -> list[Any]:
    value = check.metadata.get(names.META_BLOCKED_PARTITIONS)
    found = getattr(value, "value", None)
    return found if isinstance(found, list) else []


def blocked_summary(blocked: list[dict[str, Any]], total: int) -> dict[str, Any]:
    """How much of the replay was blocked and why: the share of partitions, each reason once with
    the partitions it blocked (most first), so one cause over many blocks reads as one line."""
    count = sum(int(b["count"]) for b in blocked)
    reasons: dict[str, int] = {}
    for entry in blocked:
        reasons[entry["reason"]] = reasons.get(entry["reason"], 0) + int(entry["count"])
    return {
        "partitions": count,
        "of": total,
        "share": round(count / total, 4) if total else 0.0,
        "reasons": [{"reason": r, "partitions": n} for r, n in sorted(reasons.items(), key=lambda x: -x[1])],
    }


def replay_error(summary: dict[str, Any], keys: list[str]) -> DemoError | None:
    """What makes a finished replay a failure although it ran: every partition blocked, or
    partitions enough for a first model but none it could learn from (`first_model_waits`)."""
    blocked, waits = summary.get("blocked", []), summary.get("first_model_waits", [])
    span = f"{keys[0]}..{keys[-1]}" if keys else "no partitions"
    if blocked and not summary["partitions"]:
        return DemoError(
            f"every partition was blocked ({len(blocked)} block(s), {span}); first: {blocked[0]['error']}"
        )
    if waits and summary["champion_version"] is None:
        return DemoError(f"no first model in {len(keys)} partitions ({span}): {waits[-1]['reason']}")
    return None


def blocked_line(summary: dict[str, Any]) -> str:
    reasons = "; ".join(f"{r['reason']} ({r['partitions']} partition(s))" for r in summary["reasons"])
    return (
        f"BLOCKED: {summary['partitions']} of {summary['of']} partitions ({summary['share']:.0%}) "
        f"were not processed: {reasons}"
    )


def _meta(event: Any) -> dict[str, Any]:
    return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}


def gate_decision(result: RunResult, spec: ProjectSpec, as_of: str) -> dict[str, Any] | None:
    """The gate's decision as the champion materialization of a retrain run records it."""
    for event in result.get_asset_materialization_events():
        if event.asset_key == dg.AssetKey([spec.name, names.CHAMPION]):
            meta = _meta(event)
            return {
                "version": meta.get(names.META_CHALLENGER_VERSION),
                "refit_version": meta.get(names.META_REFIT_VERSION),
                "verdict": meta.get(names.META_VERDICT),
                "metric": meta.get(names.META_METRIC),
                "before": meta.get(names.META_CHAMPION_SCORE),
                "after": meta.get(names.META_CHALLENGER_SCORE),
                "champion_version": meta.get(names.META_CHAMPION_AFTER),
                "as_of": as_of,
            }
    return None


def report_link(result: RunResult) -> str | None:
    """The Evidently report a drift run rendered, if it rendered one."""
    for event in result.get_asset_materialization_events():
        link = _meta(event).get(names.META_REPORT)
        if link is not None:
            return str(link)
    return None


def drift_events(instance: dg.DagsterInstance, spec: ProjectSpec, block: list[str]) -> list[dict[str, Any]]:
    """The newest drift observation of each partition in `block` that found drift."""
    records = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey([spec.name, names.DRIFT]), asset_partitions=block),
        limit=len(block) * 8,
    ).records
    latest: dict[str, Any] = {}
    for record in sorted(records, key=lambda r: r.storage_id):
        observation = record.event_log_entry.asset_observation
        if observation is None or observation.partition is None:
            continue
        latest[observation.partition] = {k: getattr(v, "value", v) for k, v in observation.metadata.items()}
    return [
        {
            "partition": p,
            "status": m.get(names.META_STATUS),
            "drift_share": m.get(names.META_DRIFT_SHARE),
            "drifted_columns": [c for c in str(m.get(names.META_DRIFTED_COLUMNS) or "").split(", ") if c],
            "estimated_degraded": m.get(names.META_ESTIMATED_DEGRADED),
            "champion_version": m.get(names.META_CHAMPION_VERSION),
        }
        for p, m in sorted(latest.items())
        if m.get(names.META_STATUS) in ("warn", "error")
    ]


def failed_retrain(summary: dict[str, Any], error: DemoError, reason: str, trigger: str, as_of: str) -> str:
    """A retrain run that failed, kept in the summary; the line to print. Under the daemon the
    sensor retries it with a new run key and the champion serves on, so the replay goes on too."""
    entry = {"partition": trigger, "as_of": as_of, "reason": reason, "error": str(error)}
    summary.setdefault("failed_retrains", []).append(entry)
    return (
        f"  retrain as of {as_of} ({reason}): FAILED: {error}; v{summary['champion_version']} keeps serving"
    )


def done_line(summary: dict[str, Any]) -> str:
    failed = len(summary.get("failed_retrains", []))
    return (
        f"done in {summary['seconds']} s: {len(summary['retrains'])} retrain(s)"
        + (f" and {failed} failed retrain run(s)" if failed else "")
        + f", champion v{summary['champion_version']}"
    )


def note_skip(summary: dict[str, Any], message: str | None) -> None:
    """A sensor skip worth a warning (`skip_warning`), once, in the summary."""
    if (warning := skip_warning(message)) is not None and warning not in summary["warnings"]:
        summary["warnings"].append(warning)


def skip_warning(message: str | None) -> str | None:
    """The warning in a tick's skip message that says drift was not confirmed by performance."""
    if not message or "not confirmed by performance" not in message:
        return None
    return message.split("; ", 1)[-1].rsplit(" (", 1)[0]
