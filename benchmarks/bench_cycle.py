"""The daily cycle of one bike_sharing partition, and what monitoring costs late in the history.

    python benchmarks/bench_cycle.py [--repeats 2] [--multiprocess-repeats 1] [--monitor-repeats 3]
                                     [--quick] [--fresh]

Setup (untimed, cached under benchmarks/results/cache/cycle/, a few minutes the first time):
the `bike_sharing__data` job materializes partitions 0..700 (2011-01-01..2012-12-01) in one
run, then `bike_sharing__retrain` (as_of partition 134) makes version 1 the champion.

(a) One daily cycle (`bike_sharing__daily`: raw, validated + quarantine, features, predictions
    with the champion, drift with its Evidently report) for partition 135 (2011-05-16, the day
    after the champion's data), each in a fresh process, as the UI or the daemon's run worker
    executes it: `dagster.execute_job(dagster.reconstructable(factory), instance, tags=
    {"dagster/partition": key})`, where the factory returns the job from the product's code
    location (`mlops_pipelines.definitions.defs`):
      - with the code location's own executor (in_process_executor, the product's setting);
      - with `multiprocess_executor` (Dagster's default, one process per step), from a factory
        that rebuilds the same Definitions with that executor;
      - and a plain process calling the same stage functions without Dagster (`plain_daily`).
    In-process and plain alternate (median of --repeats); the multiprocess run, about twice as
    long and reported without a goal, runs --multiprocess-repeats times after them. All runs
    use a throw-away copy of the cached state. Goal: in-process run <= 2x plain (wall).
(b) Monitoring cost at partition 700 vs partition 10: in one process, after a warm-up run, the
    daily job alternates between the two partitions; the `drift` step time (from the
    instance's step stats) and the whole run are compared. The reference window is bounded
    (the champion's newest training partitions) and the current window is 7 partitions, so
    the cost should not grow with history. Goal: ratio 700 / 10 <= 1.3 (drift step).
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import (
    BENCH_DIR,
    Sample,
    Summary,
    cached_setup,
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
    working_copy,
)

if TYPE_CHECKING:
    import dagster as dg

    from mlops_pipelines.lib.frames import TableSlice
    from mlops_pipelines.lib.promotion.champion import ChampionRef
    from mlops_pipelines.settings import Settings
    from mlops_pipelines.spec import ProjectSpec

CYCLE_GOAL = 2.0
MONITOR_GOAL = 1.3
PROJECT = "bike_sharing"
SETUP_LAST = 700
RETRAIN_AS_OF = 134
RUN_INDEX = 135
MONITOR_INDICES = (10, 700)
DAILY_JOB = f"{PROJECT}__daily"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def partition_key(index: int) -> str:
    """bike_sharing's daily key number `index` (the spec starts at 2011-01-01)."""
    return (date(2011, 1, 1) + timedelta(days=index)).isoformat()


# Reconstructable targets: module-level functions a run (or each step process) calls to get the job.


def daily_job_in_process() -> dg.JobDefinition:
    """The daily job exactly as the code location defines it (in_process_executor)."""
    from mlops_pipelines.definitions import defs

    return defs.resolve_job_def(DAILY_JOB)


def daily_job_multiprocess() -> dg.JobDefinition:
    """The same job from the same Definitions, with Dagster's default multiprocess executor."""
    import dagster as dg

    from mlops_pipelines.definitions import defs

    rebuilt = dg.Definitions(
        assets=defs.assets,
        jobs=defs.jobs,
        resources=defs.resources,
        executor=dg.multiprocess_executor,
    )
    return rebuilt.resolve_job_def(DAILY_JOB)


def _plain_champion(settings: Settings) -> ChampionRef:
    """The champion as the `champion` asset hands it on, read from the registry version it names."""
    from bench_train import tracking_config

    from mlops_pipelines.lib.promotion.refs import champion_ref_of
    from mlops_pipelines.lib.registry.aliases import CHAMPION, get_alias

    current = get_alias(tracking_config(settings), PROJECT, CHAMPION)
    if current is None:
        raise RuntimeError(f"{PROJECT}: no champion; the setup should have made one")
    return champion_ref_of(PROJECT, current, "promotion", None)


def _plain_predictions(spec: ProjectSpec, features: TableSlice, champion: ChampionRef) -> float | None:
    """The `predictions` asset's stage function."""
    from bench_train import tracking_config

    from mlops_pipelines.lib.scoring.stage import score_partitions
    from mlops_pipelines.lib.stores import DeltaTables
    from mlops_pipelines.settings import load_settings

    settings = load_settings()
    tables = DeltaTables(settings.lake_root)
    return score_partitions(spec, features, champion, tables, tracking_config(settings)).mean_prediction


def _plain_drift(spec: ProjectSpec, features: TableSlice, champion: ChampionRef) -> dict[str, Any]:
    """The `drift` asset's stage function for one partition (report mode "always", the default)."""
    from mlops_pipelines.lib.monitoring.stage import monitor_drift
    from mlops_pipelines.lib.stores import DeltaTables, ReportDir
    from mlops_pipelines.settings import load_settings

    settings = load_settings()
    tables = DeltaTables(settings.lake_root)
    report = monitor_drift(spec, features, champion, tables, ReportDir(settings.reports_dir), "always")
    [row] = report.rows
    return {"drift_share": row.drift_share, "status": row.status}


def plain_daily(spec: ProjectSpec, key: str, timings: dict[str, float]) -> dict[str, Any]:
    """raw -> validated -> features -> predictions -> drift for one partition, without Dagster."""
    from bench_ingest import plain_data_stage

    from mlops_pipelines.lib.frames import TableSlice
    from mlops_pipelines.lib.stores import DeltaTables
    from mlops_pipelines.settings import load_settings

    data = plain_data_stage(spec, key, timings)
    settings = load_settings()
    uri = DeltaTables(settings.lake_root).uri(spec.name, "features")
    features = TableSlice(f"{spec.name}/features", uri, data["features_version"], (key,), -1)
    t = time.perf_counter()
    champion = _plain_champion(settings)
    mean_prediction = _plain_predictions(spec, features, champion)
    timings["predictions"] = time.perf_counter() - t
    t = time.perf_counter()
    drift = _plain_drift(spec, features, champion)
    timings["drift"] = time.perf_counter() - t
    return {"mean_prediction": mean_prediction, **drift}


def _outcome(result: Any) -> dict[str, Any]:
    meta = {}
    for event in result.get_asset_materialization_events():
        meta[event.asset_key.path[-1]] = {
            k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()
        }
    return {
        "mean_prediction": meta["predictions"].get("mean_prediction"),
        "drift_share": meta["drift"]["drift_share"],
        "status": meta["drift"]["status"],
    }


def _checked(result: Any, what: str) -> Any:
    if not result.success:
        failed = [e.message for e in result.all_events if e.is_step_failure]
        raise RuntimeError(f"{what} failed: {failed}")
    return result


def child(task: dict[str, Any]) -> dict[str, Any]:
    """One measurement (or the setup), in a fresh process."""
    started = time.perf_counter()
    out: dict[str, Any] = {}
    what = task["what"]
    if what == "plain":
        from mlops_pipelines.spec import load_specs

        spec = load_specs()[PROJECT]
        out["setup_s"] = time.perf_counter() - started
        began = time.perf_counter()
        timings: dict[str, float] = {}
        out.update(plain_daily(spec, task["key"], timings))
        out["work_s"] = time.perf_counter() - began
        out["steps"] = timings
        out["dagster_imported"] = "dagster" in sys.modules
        out["peak_mb_self"] = self_peak_mb()
        return out

    import dagster as dg

    from mlops_pipelines.definitions import defs
    from mlops_pipelines.runner import run_job

    with dg.DagsterInstance.get() as instance:
        out["setup_s"] = time.perf_counter() - started
        began = time.perf_counter()
        if what == "setup":
            first, last = partition_key(0), partition_key(task["last"])
            _checked(
                run_job(defs, f"{PROJECT}__data", instance, first, last, log_level="WARNING"), "data job"
            )
            config = {
                "ops": {f"{PROJECT}__model": {"config": {"as_of": task["as_of"], "reason": "benchmark"}}}
            }
            retrain = run_job(defs, f"{PROJECT}__retrain", instance, run_config=config, log_level="WARNING")
            out["retrain"] = step_seconds(instance, _checked(retrain, "retrain job").run_id)
        elif what in ("in_process", "multiprocess"):
            factory = daily_job_in_process if what == "in_process" else daily_job_multiprocess
            result = dg.execute_job(
                dg.reconstructable(factory),
                instance,
                run_config=QUIET,
                tags={"dagster/partition": task["key"]},
            )
            out.update(_outcome(_checked(result, f"{what} daily run")))
            out["steps"] = step_seconds(instance, result.run_id)
        elif what == "monitor":
            out.update(_monitor(defs, instance, task))
        out["work_s"] = time.perf_counter() - began
    out["peak_mb_self"] = self_peak_mb()
    return out


def _monitor(defs: Any, instance: Any, task: dict[str, Any]) -> dict[str, Any]:
    """Warm-up, then the daily job alternating between the partitions; run and drift-step seconds."""
    from mlops_pipelines.runner import run_job

    def once(index: int) -> tuple[float, float, dict[str, float]]:
        key = partition_key(index)
        began = time.perf_counter()
        result = _checked(run_job(defs, DAILY_JOB, instance, key, key, log_level="WARNING"), f"daily {key}")
        seconds = time.perf_counter() - began
        steps = step_seconds(instance, result.run_id)
        return seconds, steps[f"{PROJECT}__drift"], steps

    warm = once(task["indices"][0])
    runs: dict[str, dict[str, list[Any]]] = {
        str(i): {"run_s": [], "drift_s": [], "steps": []} for i in task["indices"]
    }
    for _ in range(task["repeats"]):
        for index in task["indices"]:
            seconds, drift, steps = once(index)
            runs[str(index)]["run_s"].append(seconds)
            runs[str(index)]["drift_s"].append(drift)
            runs[str(index)]["steps"].append(steps)
    return {"warm_up_s": warm[0], "runs": runs}


def _setup(home: Path) -> dict[str, Any]:
    task = {"what": "setup", "last": SETUP_LAST, "as_of": partition_key(RETRAIN_AS_OF)}
    sample = measure([python(), __file__, "--child", json.dumps(task)], env=cycle_env(home), timeout=3600)
    return {
        "partitions": f"{partition_key(0)}..{partition_key(SETUP_LAST)}",
        "seconds": sample.seconds,
        **sample.result,
    }


def cycle_env(home: Path) -> dict[str, str]:
    # Step processes of the multiprocess executor import this file by path: `common` must resolve.
    return state_env(home, extra={"PYTHONPATH": str(BENCH_DIR)})


VARIANTS = {
    "in_process": "Dagster run, in_process_executor (the product's)",
    "multiprocess": "Dagster run, multiprocess_executor",
    "plain": "plain process, same stage functions",
}
STEPS = ("raw", "validate", "features", "predictions", "drift")


def _by_step(what: str, summary: Summary) -> dict[str, float | None]:
    from bench_ingest import group_data_steps

    steps = step_medians(summary)
    if what == "plain":
        return {
            **group_data_steps(steps),
            "predictions": steps.get("predictions"),
            "drift": steps.get("drift"),
        }
    return {name: steps.get(f"{PROJECT}__{name}") for name in STEPS}


def measure_cycle(
    repeats: int, multi_repeats: int, env: dict[str, str]
) -> tuple[dict[str, Any], list[tuple[str, float | None, float]]]:
    """(a): in-process and plain `repeats` times, interleaved, then multiprocess; prints the tables."""
    run_key = partition_key(RUN_INDEX)
    note(
        f"bench_cycle (a): daily cycle of {PROJECT} {run_key}, {repeats} repeats ({multi_repeats} multiprocess)"
    )

    def one(what: str) -> Sample:
        task = {"what": what, "key": run_key}
        return measure([python(), __file__, "--child", json.dumps(task)], env=env, tree=True)

    compared = {w: functools.partial(one, w) for w in ("in_process", "plain")}
    measured = interleaved(compared, VARIANTS, repeats)
    measured |= interleaved({"multiprocess": functools.partial(one, "multiprocess")}, VARIANTS, multi_repeats)
    runs = {what: measured[what] for what in VARIANTS}
    plain = runs["plain"]
    print_comparison(
        f"(a) Daily cycle of one {PROJECT} partition ({run_key}), median of {repeats} fresh processes "
        f"({multi_repeats} for multiprocess)",
        list(runs.values()),
        plain,
    )
    steps = {what: _by_step(what, s) for what, s in runs.items()}
    print_table(
        "By step, medians (Dagster's from the instance's step stats, which start once a step's process "
        "has loaded the code)",
        ["step", *VARIANTS],
        [(name, *(steps[w][name] for w in VARIANTS)) for name in STEPS]
        + [("sum of steps", *(sum(v or 0.0 for v in steps[w].values()) for w in VARIANTS))]
        + [("whole run (work s)", *(runs[w].inner("work_s") for w in VARIANTS))],
    )
    keys = ("mean_prediction", "drift_share", "status")
    outcomes = {w: {k: s.samples[0].result.get(k) for k in keys} for w, s in runs.items()}
    same = len({json.dumps(o, sort_keys=True) for o in outcomes.values()}) == 1
    print(
        f"\nsame output: {'yes' if same else 'NO'} {outcomes['plain']}" + ("" if same else f" vs {outcomes}")
    )
    multi, single = runs["multiprocess"], runs["in_process"]
    print(
        f"multiprocess vs in-process: {multi.seconds - single.seconds:+.1f} s wall, "
        f"{multi.cpu_s - single.cpu_s:+.1f} s CPU, {(multi.tree_peak_mb or 0) - (single.tree_peak_mb or 0):+.0f} MB "
        f"tree RSS. The multiprocess executor starts one Python process per step ({len(STEPS)} here); each "
        "imports Dagster, the code location and its step's libraries again (Great Expectations; mlflow + "
        "sklearn; Evidently), which the in-process executor imports once per run. Predictions and drift may "
        "run side by side, but on 2 cores they mostly compete for the same CPUs."
    )
    goals = [
        (
            "daily cycle, in-process Dagster run / plain (wall)",
            ratio(single.seconds, plain.seconds),
            CYCLE_GOAL,
        )
    ]
    result = {
        "partition": run_key,
        "variants": {w: s.as_dict() for w, s in runs.items()},
        "same_output": same,
        "outcomes": outcomes,
        "multiprocess_ratio": ratio(multi.seconds, plain.seconds),
    }
    return result, goals


def measure_monitoring(
    repeats: int, env: dict[str, str]
) -> tuple[dict[str, Any], list[tuple[str, float | None, float]]]:
    """(b): one warm process alternating the two partitions; prints its table."""
    note(f"bench_cycle (b): drift at partitions {MONITOR_INDICES}, {repeats} runs each")
    task = {"what": "monitor", "indices": list(MONITOR_INDICES), "repeats": repeats}
    monitor = measure([python(), __file__, "--child", json.dumps(task)], env=env)
    runs = monitor.result["runs"]
    low, high = (str(i) for i in MONITOR_INDICES)
    med = {i: {k: statistics.median(runs[i][k]) for k in ("run_s", "drift_s")} for i in runs}
    drift_ratio = ratio(med[high]["drift_s"], med[low]["drift_s"])
    print_table(
        f"(b) Monitoring cost by position in the history: the daily job in one warm process, median of {repeats} "
        f"runs per partition (warm-up run {monitor.result['warm_up_s']:.1f} s not counted)",
        ["partition", "key", "drift step s", "whole run s"],
        [(i, partition_key(int(i)), med[i]["drift_s"], med[i]["run_s"]) for i in runs]
        + [(f"{high} / {low}", "", drift_ratio, ratio(med[high]["run_s"], med[low]["run_s"]))],
    )
    goals = [(f"monitoring at partition {high} / partition {low} (drift step)", drift_ratio, MONITOR_GOAL)]
    return {"indices": list(MONITOR_INDICES), "medians": med, "raw": monitor.result}, goals


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=2, help="fresh processes per variant in (a) (median)")
    parser.add_argument(
        "--multiprocess-repeats", type=int, default=1, help="fresh processes of the multiprocess run in (a)"
    )
    parser.add_argument("--monitor-repeats", type=int, default=3, help="runs per partition in (b)")
    parser.add_argument("--quick", action="store_true", help="one repeat in (a), two in (b)")
    parser.add_argument("--fresh", action="store_true", help="rebuild the cached setup")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        report(child(json.loads(args.child)))
        return
    if args.quick:
        args.repeats, args.monitor_repeats = 1, 2

    key = {"project": PROJECT, "last": SETUP_LAST, "as_of": RETRAIN_AS_OF}
    cached, setup = cached_setup("cycle", key, _setup, args.fresh)
    home = working_copy(cached, "cycle")
    try:
        env = cycle_env(home)
        cycle, cycle_goals = measure_cycle(args.repeats, args.multiprocess_repeats, env)
        monitoring, monitoring_goals = measure_monitoring(args.monitor_repeats, env)
    finally:
        remove(home.parent)
    goals = print_goals(cycle_goals + monitoring_goals)
    print(
        f"(reported, no goal) daily cycle, multiprocess Dagster run / plain (wall): {cycle['multiprocess_ratio']:.2f}x"
    )
    save_results(
        "bench_cycle",
        {"project": PROJECT, "setup": setup, "cycle": cycle, "monitoring": monitoring, "goals": goals},
    )


if __name__ == "__main__":
    main()
