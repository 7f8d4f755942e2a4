"""Ingest + validate + features for one 1M-row partition: the Dagster data job vs a plain script.

    python benchmarks/bench_ingest.py [--rows 1000000] [--repeats 3] [--quick]

Data: the packaged `demand_sim` project with its built-in simulator turned up to
`ceil(rows / 24)` rows per hour, so one daily partition holds ~1M rows (41,667 x 24 =
1,000,008 at the default). That is the realistic choice: it is the product's own source path
(`read_partition` on a simulator spec), the rows are distinct (repeating bike_sharing rows
would make the duplicate expectation quarantine almost everything) and the batch passes the
suite, so every step does its full work.

(a) Dagster: `run_job(build_definitions({name: spec}), "demand_sim__data", instance, key, key)`
    in a fresh process with a fresh MLOPS_HOME and an existing SQLite instance without runs
    (`harness.instance_template`; console log level WARNING, every event still goes to the
    instance's event log).
(b) Plain: the assets' own stage functions in one fresh process without Dagster:
    `ingest_partitions`, `validate_raw_slice`, `build_features_slice`, over the Dagster-free
    ports `lib.stores.DeltaTables` and `lib.stores.SourceFiles` (see `plain_data_stage`).
    The assets call exactly these functions, so the difference is Dagster's own cost.
Both pay the Great Expectations import (~4-8 s). The features table each path wrote is hashed
afterwards (untimed) to show both did the same work. Goal: (a) <= 1.5x (b), wall time.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from harness import (
    Sample,
    fresh_dir,
    instance_template,
    interleaved,
    measure,
    note,
    print_comparison,
    print_goals,
    print_table,
    python,
    ratio,
    remove,
    report,
    save_results,
    self_peak_mb,
    state_env,
    step_medians,
    step_seconds,
)

from mlops_pipelines import names

if TYPE_CHECKING:
    from mlops_pipelines.spec import ProjectSpec

GOAL = 1.5
PROJECT = "demand_sim"
PARTITION_KEY = "2024-02-01"


def big_spec(rows: int) -> ProjectSpec:
    """demand_sim whose simulator emits ~`rows` rows per daily partition."""
    from mlops_pipelines.spec import load_specs

    spec = load_specs()[PROJECT]
    assert spec.source.simulator is not None
    simulator = spec.source.simulator.model_copy(update={"rows_per_hour": math.ceil(rows / 24)})
    return spec.model_copy(update={"source": spec.source.model_copy(update={"simulator": simulator})})


def daily_window(key: str) -> tuple[datetime, datetime]:
    """[start, end) of a daily partition key, as `partitions.partition_window` gives it, without Dagster."""
    start = datetime.strptime(key, "%Y-%m-%d")
    return start, start + timedelta(days=1)


class _Laps:
    """Seconds per named step, accumulated."""

    def __init__(self, timings: dict[str, float]) -> None:
        self.timings = timings
        self.since = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = self.timings.get(name, 0.0) + now - self.since
        self.since = now


# The data job's steps (op names without the project); the plain path times the one stage
# function of each under that name.
DATA_STEPS = (names.RAW, names.VALIDATE_OP, names.FEATURES)


def group_data_steps(timings: dict[str, float]) -> dict[str, float]:
    """The plain path's seconds per data-job step (bench_cycle's plain daily cycle reports them too)."""
    return {step: timings.get(step, 0.0) for step in DATA_STEPS}


def plain_data_stage(spec: ProjectSpec, key: str, timings: dict[str, float]) -> dict[str, Any]:
    """raw -> validated + quarantine -> features for one partition: the three assets' stage functions.

    Each result holds only handles and counts, so each step's frames are freed when its
    function returns, as in a run. The imports count towards "raw", as in the run's first step.
    """
    lap = _Laps(timings)
    from mlops_pipelines.lib.features import build_features_slice
    from mlops_pipelines.lib.ingestion.stage import ingest_partitions
    from mlops_pipelines.lib.stores import DeltaTables, SourceFiles
    from mlops_pipelines.lib.validation.stage import validate_raw_slice
    from mlops_pipelines.settings import load_settings

    settings = load_settings()
    tables = DeltaTables(settings.lake_root)
    source = SourceFiles(settings.data_dir, settings.cache_dir)
    ingested = ingest_partitions(spec, {key: daily_window(key)}, source, tables)
    if not ingested.passed:
        raise RuntimeError(f"{spec.name} {key}: batch does not conform: {ingested.issues}")
    lap(names.RAW)
    validated = validate_raw_slice(spec, ingested.raw, tables)
    lap(names.VALIDATE_OP)
    features = build_features_slice(spec, validated.validated, tables)
    lap(names.FEATURES)
    return {
        "valid": validated.validated.rows,
        "quarantined": validated.rows_quarantined,
        "features_version": features.features.version,
    }


def child(task: dict[str, Any]) -> dict[str, Any]:
    """One measurement, in a fresh process."""
    started = time.perf_counter()
    out: dict[str, Any] = {}
    if task["what"] == "dagster":
        import dagster as dg

        from mlops_pipelines.definitions import build_definitions
        from mlops_pipelines.runner import run_job

        spec = big_spec(task["rows"])
        defs = build_definitions({spec.name: spec})
        with dg.DagsterInstance.get() as instance:
            out["setup_s"] = time.perf_counter() - started
            began = time.perf_counter()
            result = run_job(
                defs,
                names.scoped(spec.name, names.DATA_JOB),
                instance,
                task["key"],
                task["key"],
                log_level="WARNING",
            )
            out["work_s"] = time.perf_counter() - began
            if not result.success:
                failed = [e.message for e in result.all_events if e.is_step_failure]
                raise RuntimeError(f"data job failed: {failed}")
            out["steps"] = step_seconds(instance, result.run_id)
    elif task["what"] == "plain":
        spec = big_spec(task["rows"])
        out["setup_s"] = time.perf_counter() - started
        began = time.perf_counter()
        timings: dict[str, float] = {}
        out.update(plain_data_stage(spec, task["key"], timings))
        out["work_s"] = time.perf_counter() - began
        out["steps"] = timings
        out["dagster_imported"] = "dagster" in sys.modules
    elif task["what"] == "digest":
        out.update(features_digest(PROJECT))
    out["peak_mb_self"] = self_peak_mb()
    return out


def features_digest(project: str) -> dict[str, Any]:
    from mlops_pipelines.lib import lake
    from mlops_pipelines.lib.training.window import frame_sha256, ordered
    from mlops_pipelines.settings import load_settings

    frame = lake.read(load_settings().table_uri(project, names.FEATURES))
    return {"features_rows": len(frame), "features_sha256": frame_sha256(ordered(frame))}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the one partition (approx.)")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per path (median)")
    parser.add_argument("--quick", action="store_true", help="1 repeat")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        report(child(json.loads(args.child)))
        return
    if args.quick:
        args.repeats = 1

    digests: dict[str, dict[str, Any]] = {}
    instance = instance_template()

    def run(what: str) -> Sample:
        home = fresh_dir(f"ingest-{what}")
        try:
            env = state_env(home, instance=instance if what == "dagster" else None)
            task = {"what": what, "rows": args.rows, "key": PARTITION_KEY}
            sample = measure([python(), __file__, "--child", json.dumps(task)], env=env)
            if what not in digests:  # the first sample of each path: what did it write?
                digest = json.dumps({"what": "digest"})
                digests[what] = measure([python(), __file__, "--child", digest], env=env).result
            return sample
        finally:
            remove(home)

    note(f"bench_ingest: {args.rows:,} rows in partition {PARTITION_KEY}, {args.repeats} repeats per path")
    labels = {
        "dagster": "Dagster data job (run_job, in-process executor)",
        "plain": "plain script, same calls",
    }
    try:
        runs = interleaved({what: functools.partial(run, what) for what in labels}, labels, args.repeats)
    finally:
        remove(instance.parent)
    dagster, plain = runs["dagster"], runs["plain"]
    rows_made = plain.samples[0].result["valid"] + plain.samples[0].result["quarantined"]
    same = digests["dagster"]["features_sha256"] == digests["plain"]["features_sha256"]

    print_comparison(
        f"Ingest + validate + features, {rows_made:,} rows in one partition, median of {args.repeats} "
        "fresh processes",
        [dagster, plain],
        plain,
    )
    dagster_steps, plain_steps = step_medians(dagster), step_medians(plain)
    grouped = group_data_steps(plain_steps)
    print_table(
        "By step, medians (Dagster's from the instance's step stats; plain = the same stage function, timed)",
        ["step", "Dagster s", "plain s"],
        [(name, dagster_steps.get(names.scoped(PROJECT, name)), grouped[name]) for name in DATA_STEPS],
    )
    print(
        f"\nsame output: {'yes' if same else 'NO'} (features table sha256 "
        f"{digests['dagster']['features_sha256'][:12]} vs {digests['plain']['features_sha256'][:12]}, "
        f"{digests['plain']['features_rows']:,} rows); quarantined rows: "
        f"{plain.samples[0].result['quarantined']:,}; plain path imported dagster: "
        f"{plain.samples[0].result['dagster_imported']}"
    )
    goals = print_goals([("ingest Dagster / plain (wall)", ratio(dagster.seconds, plain.seconds), GOAL)])
    save_results(
        "bench_ingest",
        {
            "rows": rows_made,
            "partition": PARTITION_KEY,
            "data": "demand_sim simulator, rows_per_hour = ceil(rows / 24)",
            "dagster": dagster.as_dict(),
            "plain": plain.as_dict(),
            "same_output": same,
            "digests": digests,
            "goals": goals,
        },
    )


if __name__ == "__main__":
    main()
