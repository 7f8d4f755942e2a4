"""`mlops-pipelines demo`: replay a project partition by partition through the closed loop.

Everything runs through the real Dagster instance under MLOPS_HOME: the daily cycle and the
late-label cycle as partition-range runs, ticks of the real retraining sensor
(`SensorDefinition.evaluate_tick` against that instance, its cursor kept between ticks), and its
run requests executed as retrain runs with their run keys. Afterwards `dagster dev` on the same
instance shows every run, materialization, check and observation.

Blocks of partitions keep Dagster's per-run cost down, yet the loop decides as if the sensor
ran as each partition closed: the sensor names the partition its signals were known at (the
retrain's as-of), the retrain trains up to it, and the partitions of the block after it are
scored and monitored again by the new champion before the sensor looks again. The first model
is trained as of the first partition, from half a training window, the holdout and the label
delay on, whose window it can learn from and be evaluated on (`evaluation.readiness`: a binary
stream whose first weeks hold one class waits), whatever the block size.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

import dagster as dg

from mlops_pipelines import names
from mlops_pipelines.definitions import build_definitions
from mlops_pipelines.demo_events import (
    DemoError,
    RunResult,
    blocked_line,
    blocked_summary,
    done_line,
    drift_events,
    failed_retrain,
    gate_decision,
    new_summary,
    note_skip,
    replay_error,
    report_link,
)
from mlops_pipelines.demo_inputs import (
    bootstrap_count,
    check_coverage,
    labelled_with,
    project_spec,
    replay_blocks,
    replay_keys,
)
from mlops_pipelines.demo_progress import Progress
from mlops_pipelines.demo_runs import ReplayRuns
from mlops_pipelines.jobs import daily_job_name, labels_job_name, retrain_job_name
from mlops_pipelines.settings import load_settings
from mlops_pipelines.spec import ProjectSpec

if TYPE_CHECKING:
    from mlops_pipelines.lib.ports import TableStore

__all__ = ["DemoError", "Replay", "bootstrap_count", "replay_all", "replay_blocks", "replay_keys", "run_demo"]

Echo = Callable[[str], Any] | None
MAX_TICKS_PER_BLOCK = 50  # each tick that retrains re-scores the block's tail; this bounds a runaway loop


class Replay(ReplayRuns):
    def __init__(
        self, spec: ProjectSpec, instance: dg.DagsterInstance, keys: list[str], echo: Echo, progress: Progress
    ) -> None:
        self.spec, self.instance, self.keys, self.echo, self.progress = spec, instance, keys, echo, progress
        self.defs = build_definitions({spec.name: spec})
        self.sensor = self.defs.resolve_sensor_def(names.scoped(spec.name, names.RETRAIN_SENSOR))
        self.cursor: str | None = None
        self.pending_as_of = ""  # the as-of of the retrain the last tick started
        self.blocked: set[str] = set()  # partitions whose batch was blocked: nothing downstream runs
        self.summary: dict[str, Any] = new_summary(spec.name)

    def block(self, block: list[str], boot: int) -> None:
        """One block: the daily cycle, labels, the bootstrap or the sensor's ticks, its line."""
        blocked = self.ingest(block)
        if len(blocked) == len(block):
            return
        done = self.keys.index(block[-1]) + 1
        has_champion = self.summary["champion_version"] is not None
        labelled = labelled_with(self.keys, block, self.spec.monitoring.label_delay_partitions)
        if has_champion:
            self.run_spans(labels_job_name(self.spec), labelled)
        self.summary["partitions"] = done
        if not has_champion:
            self.block_line(
                block, "ingested; " + (self.first_model(block, boot) if done >= boot else "no model yet")
            )
            return
        self.settle(block)
        events = drift_events(self.instance, self.spec, block)
        self.summary["drift_events"].extend(events)
        drifted = ", ".join(e["partition"] for e in events)
        self.block_line(block, f"drift in {len(events)} partition(s): {drifted}" if events else "no drift")

    def retrain(self, reason: str, trigger: str, as_of: str, tags: dict[str, str], config: Any) -> None:
        self.record(
            self.run(retrain_job_name(self.spec), run_config=config, tags=tags), reason, trigger, as_of
        )

    def record(self, result: RunResult, reason: str, trigger: str, as_of: str) -> None:
        """A finished retrain run in the summary: its entry, the gate's decision, the champion."""
        entry = {"run_id": result.run_id, "reason": reason, "partition": trigger, "as_of": as_of}
        self.summary["retrains"].append(entry)
        decision = gate_decision(result, self.spec, as_of)
        if decision is None:
            return
        self.summary["decisions"].append(decision)
        if decision["verdict"] == "promote":
            self.summary["promotions"].append(decision)
        if decision["champion_version"] is not None:
            self.summary["champion_version"] = decision["champion_version"]
            self.summary["champion_as_of"] = as_of if decision["verdict"] == "promote" else None
        before, after = decision["before"], decision["after"]
        self.say(
            f"  retrain as of {as_of} ({reason}): v{decision['version']} {str(decision['verdict']).upper()}"
            f" — {decision['metric']} champion {None if before is None else round(before, 4)}"
            f" -> challenger {None if after is None else round(after, 4)}"
            + (f", live as v{decision['refit_version']}" if decision.get("refit_version") else "")
        )

    def bootstrap(self, as_of: str) -> None:
        model_op = names.scoped(self.spec.name, names.MODEL)
        reason = "bootstrap: first model"
        tags = {
            names.KIND_TAG: names.KIND_BOOTSTRAP,
            names.TRIGGER_TAG: as_of,
            names.AS_OF_TAG: as_of,
            names.RUN_KEY_TAG: f"bootstrap:{as_of}",
        }
        config = {"ops": {model_op: {"config": {"as_of": as_of, "reason": reason}}}}
        self.retrain(reason, as_of, as_of, tags, config)

    def tables(self) -> TableStore:
        """The lake this replay's runs write (`StackReplay`: the stack's)."""
        from mlops_pipelines.resources.environment import environment_for

        return environment_for().lakehouse()

    def first_model(self, block: list[str], boot: int) -> str:
        """Train the first model as of the first partition of `block` from the bootstrap point on
        whose window it can learn and be evaluated on (`evaluation.readiness`, as the backtest)."""
        from mlops_pipelines.lib.evaluation.readiness import first_model_problem

        lake = self.tables()
        start = max(boot - 1, self.keys.index(block[0]))  # each block's partitions are asked once
        problem = None
        for as_of in self.keys[start : self.keys.index(block[-1]) + 1]:
            problem = first_model_problem(self.spec, lake, as_of)
            if problem is None:
                self.bootstrap(as_of)
                if as_of < block[-1]:  # a wait ended inside the block: score its rest, then tick
                    self.rescore(as_of, block[-1])
                    self.settle(block)
                return f"first model trained as of {as_of}"
        self.summary.setdefault("first_model_waits", []).append({"until": block[-1], "reason": problem})
        return f"first model waits: {problem}"

    def report(self, partition: str) -> None:
        """The Evidently report of a partition that triggered a retrain, against the champion it is
        about to challenge: rendered only here, so HTML stays off the replay's hot path."""
        result = self.run(
            daily_job_name(self.spec),
            partition,
            partition,
            run_config=self.drift_config("always"),
            asset_selection=[dg.AssetKey([self.spec.name, names.DRIFT])],
        )
        link = report_link(result)
        if link is not None:
            self.summary["reports"].append({"partition": partition, "report": link})

    def rescore(self, after: str, last: str) -> None:
        """Score and monitor the partitions after `after` up to `last` again, with the champion
        that a timely retrain would have put in place before they arrived."""
        tail = [k for k in self.keys if after < k <= last]
        selection = [dg.AssetKey([self.spec.name, n]) for n in (names.PREDICTIONS, names.DRIFT)]
        config = self.drift_config("never")
        self.run_spans(daily_job_name(self.spec), tail, run_config=config, asset_selection=selection)
        newest_labelled = self.keys.index(last) - self.spec.monitoring.label_delay_partitions
        self.run_spans(labels_job_name(self.spec), [k for k in tail if self.keys.index(k) <= newest_labelled])

    def tick(self) -> bool:
        """One sensor tick; True when it started a retrain."""
        context = dg.build_sensor_context(
            instance=self.instance, cursor=self.cursor, definitions=self.defs, resources=self.defs.resources
        )
        with self.progress.around():  # the sensor logs its verdict to the console: not onto the bar
            data = self.sensor.evaluate_tick(context)
        self.cursor, started = data.cursor, False
        note_skip(self.summary, data.skip_message)
        for request in data.run_requests or []:
            tags = {**request.tags, names.RUN_KEY_TAG: request.run_key or ""}
            if request.run_key and self.instance.get_runs(
                dg.RunsFilter(tags={names.RUN_KEY_TAG: request.run_key})
            ):
                continue  # a consumed run key never runs twice, as with the daemon
            trigger, reason = tags.get(names.TRIGGER_TAG, ""), tags.get(names.REASON_TAG, "sensor")
            as_of = tags.get(names.AS_OF_TAG, trigger)
            self.report(trigger)
            try:
                self.retrain(reason, trigger, as_of, tags, dict(request.run_config))
            except DemoError as err:  # as under the daemon: the sensor retries it, the champion serves on
                self.say(failed_retrain(self.summary, err, reason, trigger, as_of))
                as_of = ""  # no new champion: nothing to score again
            started = True
            self.pending_as_of = as_of
        return started

    def settle(self, block: list[str]) -> None:
        """Tick until the sensor asks for nothing more, re-scoring the block after each retrain."""
        for _ in range(MAX_TICKS_PER_BLOCK):
            if not self.tick():
                return
            if self.pending_as_of:
                self.rescore(self.pending_as_of, block[-1])
        raise DemoError(
            f"the sensor kept retraining in block {block[0]}..{block[-1]}: {MAX_TICKS_PER_BLOCK} ticks"
        )


def replay_all(replay: Replay, chunk: int, started: float) -> dict[str, Any]:
    """Every block of `replay` in order, then the summary: the blocked share, the time taken."""
    keys, boot = replay.keys, bootstrap_count(replay.spec)
    try:
        for block in replay_blocks(keys, chunk, boot):
            replay.block(block, boot)
    finally:
        replay.progress.close()
    blocked = replay.summary.get("blocked", [])
    if blocked:
        replay.summary["blocked_summary"] = blocked_summary(blocked, len(keys))
        replay.progress.note(blocked_line(replay.summary["blocked_summary"]))
    if (error := replay_error(replay.summary, keys)) is not None:
        raise error
    replay.summary["seconds"] = round(time.monotonic() - started, 1)
    replay.say(done_line(replay.summary))
    return replay.summary


def run_demo(
    project: str | None = None,
    until: str | None = None,
    chunk: int | None = None,
    echo: Echo = print,
    progress: TextIO | None = None,
) -> dict[str, Any]:
    """Replay `project`; the timeline goes to `echo`, one line per block (or a bar on a terminal)
    to `progress` (None: block lines go to `echo`). A summary with `blocked` entries means some
    partitions were not processed: the CLI exits 1 then."""
    settings = load_settings()
    spec = project_spec(project or ("bike_sharing" if settings.data_dir else "demand_sim"))
    keys, chunk = replay_keys(spec, until, chunk)
    empty = check_coverage(spec, keys, settings)
    started = time.monotonic()
    with dg.DagsterInstance.get() as instance:
        replay = Replay(spec, instance, keys, echo, Progress(len(keys), progress))
        replay.say(
            f"{spec.name}: replaying {len(keys)} {spec.partitions.grain.value} partitions "
            f"({keys[0]}..{keys[-1]}) on {settings.home}"
        )
        replay.step_over(empty)
        return replay_all(replay, chunk, started)
