"""`mlops-pipelines demo`: replay a project partition by partition through the closed loop.

Everything runs through the real Dagster instance under MLOPS_HOME: the daily cycle and the
late-label cycle as partition-range runs, then one tick of the real retraining sensor
(`SensorDefinition.evaluate_tick` against that instance, its cursor stored between ticks),
whose run requests are executed as retrain runs with their run keys. Afterwards `dagster dev`
on the same instance shows every run, materialization, check and observation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import dagster as dg

from mlops_pipelines import names
from mlops_pipelines.definitions import build_definitions
from mlops_pipelines.jobs import daily_job_name, labels_job_name, retrain_job_name
from mlops_pipelines.names import TRIGGER_TAG
from mlops_pipelines.partitions import partition_keys
from mlops_pipelines.runner import run_job
from mlops_pipelines.settings import load_settings
from mlops_pipelines.spec import ProjectSpec, load_specs

Echo = Callable[[str], Any] | None


class DemoError(RuntimeError):
    """The replay cannot go on; the message names the run and step that failed."""


def _failure(result: dg.ExecuteInProcessResult, what: str) -> DemoError:
    failed = [e for e in result.all_events if e.is_step_failure]
    detail = failed[0].message if failed else "run failed"
    return DemoError(f"{what}: {detail}")


def _promotion(result: dg.ExecuteInProcessResult, spec: ProjectSpec) -> dict[str, Any] | None:
    """The gate's decision as the champion materialization of a retrain run records it."""
    for event in result.get_asset_materialization_events():
        if event.asset_key == dg.AssetKey([spec.name, names.CHAMPION]):
            meta = {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}
            return {
                "version": meta.get(names.META_CHALLENGER_VERSION),
                "verdict": meta.get(names.META_VERDICT),
                "metric": meta.get(names.META_METRIC),
                "before": meta.get(names.META_CHAMPION_SCORE),
                "after": meta.get(names.META_CHALLENGER_SCORE),
                "champion_version": meta.get(names.META_CHAMPION_AFTER),
            }
    return None


class Replay:
    def __init__(self, spec: ProjectSpec, instance: dg.DagsterInstance, echo: Echo) -> None:
        self.spec = spec
        self.instance = instance
        self.echo = echo
        self.defs = build_definitions({spec.name: spec})
        self.sensor = self.defs.resolve_sensor_def(names.scoped(spec.name, names.RETRAIN_SENSOR))
        self.cursor: str | None = None
        self.summary: dict[str, Any] = {
            "project": spec.name,
            "partitions": 0,
            "drift_events": [],
            "retrains": [],
            "promotions": [],
            "champion_version": None,
            "runs": 0,
            "reports": [],
        }

    def say(self, text: str) -> None:
        if self.echo is not None:
            self.echo(text)

    def run(
        self, job: str, first: str | None = None, last: str | None = None, **kwargs: Any
    ) -> dg.ExecuteInProcessResult:
        result = run_job(self.defs, job, self.instance, first, last, log_level="CRITICAL", **kwargs)
        self.summary["runs"] += 1
        if not result.success:
            raise _failure(result, f"{job} {first or ''}..{last or ''} (run {result.run_id})")
        return result

    def retrain(
        self,
        reason: str,
        partition: str,
        run_config: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        config = run_config or {
            "ops": {
                names.scoped(self.spec.name, names.MODEL): {"config": {"as_of": partition, "reason": reason}}
            }
        }
        bootstrap = {
            names.KIND_TAG: names.KIND_BOOTSTRAP,
            TRIGGER_TAG: partition,
            names.RUN_KEY_TAG: f"bootstrap:{partition}",
        }
        result = self.run(retrain_job_name(self.spec), run_config=config, tags=tags or bootstrap)
        self.summary["retrains"].append({"run_id": result.run_id, "reason": reason, "partition": partition})
        promotion = _promotion(result, self.spec)
        if promotion is not None:
            self.summary["promotions"].append(promotion)
            if promotion["champion_version"] is not None:
                self.summary["champion_version"] = promotion["champion_version"]
            before = promotion["before"]
            self.say(
                f"  retrain at {partition} ({reason}): v{promotion['version']} {promotion['verdict'].upper()}"
                f" — {promotion['metric']} champion {before if before is None else round(before, 4)}"
                f" -> challenger {round(promotion['after'], 4) if promotion['after'] is not None else None}"
            )

    def report(self, partition: str) -> None:
        """The Evidently report of the partition that triggered a retrain, against the champion it
        is about to challenge: rendered only here, so HTML stays off the replay's hot path."""
        result = self.run(
            daily_job_name(self.spec),
            partition,
            partition,
            run_config={"ops": {names.scoped(self.spec.name, names.DRIFT): {"config": {"report": "always"}}}},
            asset_selection=[dg.AssetKey([self.spec.name, names.DRIFT])],
        )
        for event in result.get_asset_materialization_events():
            link = event.materialization.metadata.get(names.META_REPORT)
            if link is not None:
                self.summary["reports"].append(
                    {"partition": partition, "report": getattr(link, "value", link)}
                )
                self.say(f"  drift report for {partition}: {getattr(link, 'value', link)}")

    def tick(self) -> None:
        context = dg.build_sensor_context(
            instance=self.instance, cursor=self.cursor, definitions=self.defs, resources=self.defs.resources
        )
        data = self.sensor.evaluate_tick(context)
        self.cursor = data.cursor
        for request in data.run_requests or []:
            tags = {**request.tags, names.RUN_KEY_TAG: request.run_key or ""}
            if request.run_key and self.instance.get_runs(
                dg.RunsFilter(tags={names.RUN_KEY_TAG: request.run_key})
            ):
                continue  # a consumed run key never runs twice, as with the daemon
            reason = tags.get(names.REASON_TAG, "sensor")
            trigger = tags.get(TRIGGER_TAG, "")
            self.report(trigger)
            self.retrain(
                reason,
                trigger,
                run_config=dict(request.run_config),
                tags=tags,
            )


def run_demo(
    project: str | None = None, until: str | None = None, chunk: int | None = None, echo: Echo = print
) -> dict[str, Any]:
    settings = load_settings()
    specs = load_specs()
    name = project or ("bike_sharing" if settings.data_dir else "demand_sim")
    if name not in specs:
        raise DemoError(f"unknown project {name!r}; known: {sorted(specs)}")
    spec = specs[name]
    keys = [k for k in partition_keys(spec) if until is None or k <= until]
    # Dagster pays a fixed cost per run; long replays take bigger steps between sensor ticks.
    chunk = chunk or (28 if len(keys) > 365 else 14)
    started = time.monotonic()
    with dg.DagsterInstance.get() as instance:
        replay = Replay(spec, instance, echo)
        replay.say(
            f"{spec.name}: replaying {len(keys)} {spec.partitions.grain.value} partitions "
            f"({keys[0]}..{keys[-1]}) on {settings.home}"
        )
        bootstrap_at = (
            spec.training.window_partitions // 2
            + spec.training.holdout_partitions
            + spec.monitoring.label_delay_partitions
        )
        delay = spec.monitoring.label_delay_partitions
        champion = False
        for start in range(0, len(keys), chunk):
            block = keys[start : start + chunk]
            try:
                replay.run(
                    daily_job_name(spec),
                    block[0],
                    block[-1],
                    run_config={
                        "ops": {names.scoped(spec.name, names.DRIFT): {"config": {"report": "never"}}}
                    },
                )
            except DemoError as err:
                # A blocked batch stops its own run (blocking checks), not the product: record it, go on.
                replay.summary.setdefault("blocked", []).append(
                    {"partitions": f"{block[0]}..{block[-1]}", "error": str(err)}
                )
                replay.say(f"[{start + len(block):>4}/{len(keys)}] {block[0]}..{block[-1]}  BLOCKED: {err}")
                continue
            labelled = keys[max(0, start - delay) : max(0, start + len(block) - delay)]
            if champion and labelled:
                replay.run(labels_job_name(spec), labelled[0], labelled[-1])
            replay.summary["partitions"] = start + len(block)
            if not champion and start + len(block) >= bootstrap_at:
                replay.retrain("bootstrap: first model", block[-1])
                champion = replay.summary["champion_version"] is not None
                continue
            before = len(replay.summary["drift_events"])
            # Drift events are read back from the instance's event log by the sensor; the
            # timeline shows them from the same observations.
            replay.summary["drift_events"].extend(_recent_drift(instance, spec, block))
            new = replay.summary["drift_events"][before:]
            replay.say(
                f"[{start + len(block):>4}/{len(keys)}] {block[0]}..{block[-1]}"
                + (
                    f"  drift in {len(new)} partition(s): " + ", ".join(e["partition"] for e in new)
                    if new
                    else "  no drift"
                )
            )
            if champion:
                replay.tick()
        replay.summary["seconds"] = round(time.monotonic() - started, 1)
        replay.say(
            f"done in {replay.summary['seconds']} s: {len(replay.summary['retrains'])} retrain(s), "
            f"champion v{replay.summary['champion_version']}"
        )
        return replay.summary


def _recent_drift(instance: dg.DagsterInstance, spec: ProjectSpec, block: list[str]) -> list[dict[str, Any]]:
    records = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey([spec.name, names.DRIFT]), asset_partitions=block),
        limit=len(block) * 4,
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
        }
        for p, m in sorted(latest.items())
        if m.get(names.META_STATUS) in ("warn", "error")
    ]
