"""Train + evaluate + promote on bike_sharing: the Dagster retrain job vs a plain script.

    python benchmarks/bench_train.py [--repeats 3] [--quick] [--fresh]

Setup (untimed, cached under benchmarks/results/cache/train/): the `bike_sharing__data` job
materializes the spec's training window (120 train + 14 holdout + 1 unlabelled partition,
2011-01-01..2011-05-15) into a Delta lake. Every timed process then gets its own MLOPS_HOME
(a fresh MLflow SQLite store and artifact root; for Dagster, an existing instance without
runs, see `harness.instance_template`) and reads features from that same lake
(MLOPS_LAKE_ROOT), which the retrain never writes.

(a) Dagster: `run_job(defs, "bike_sharing__retrain", instance)` (model -> evaluation ->
    champion, in-process executor as configured), in a fresh process.
(b) Plain: the stage functions the three assets call, in one fresh process without Dagster:
    `train_challenger`, `evaluate_challenger`, `decide_and_promote`, over the plain ports
    `lib.stores.DeltaTables` and a report directory (see `plain_retrain`).
Both find no champion (a fresh registry), so both promote version 1 without re-scoring one.
The CV score and holdout metrics of both are compared to show they trained the same model.
Goal: (a) <= 1.3x (b), wall time.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import (
    Sample,
    cached_setup,
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

if TYPE_CHECKING:
    from mlops_pipelines.lib.registry.session import TrackingConfig
    from mlops_pipelines.settings import Settings
    from mlops_pipelines.spec import ProjectSpec

GOAL = 1.3
PROJECT = "bike_sharing"


def bike_spec() -> ProjectSpec:
    from mlops_pipelines.spec import load_specs

    return load_specs()[PROJECT]


def tracking_config(settings: Settings) -> TrackingConfig:
    """What `resources.tracking.LocalMlflowTracking().config()` gives, without Dagster."""
    from mlops_pipelines.lib.registry.session import TrackingConfig

    return TrackingConfig(settings.tracking_uri, settings.registry_uri, settings.artifact_root)


def plain_retrain(spec: ProjectSpec, timings: dict[str, float]) -> dict[str, Any]:
    """model -> evaluation -> champion: the three stage functions the assets call, timed one by one."""
    from mlops_pipelines.lib.evaluation.stage import evaluate_challenger
    from mlops_pipelines.lib.promotion.stage import decide_and_promote
    from mlops_pipelines.lib.stores import DeltaTables, ReportDir
    from mlops_pipelines.lib.training.stage import train_challenger
    from mlops_pipelines.settings import load_settings

    settings = load_settings()
    cfg = tracking_config(settings)
    tables = DeltaTables(settings.lake_root)
    reports = ReportDir(settings.reports_dir)
    lock = settings.locks_dir / f"{spec.name}.promotion.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    model = train_challenger(spec, tables, cfg, as_of=None, reason="benchmark")
    timings["model"] = time.perf_counter() - t
    t = time.perf_counter()
    evaluation = evaluate_challenger(spec, model, tables, cfg, reports)
    timings["evaluation"] = time.perf_counter() - t
    if evaluation.evaluation is None:
        raise RuntimeError(f"{spec.name}: the challenger did not load: {evaluation.load_error}")
    t = time.perf_counter()
    outcome = decide_and_promote(spec, model, evaluation, tables, cfg, lock, reports)
    timings["champion"] = time.perf_counter() - t
    if outcome.champion_before is not None:
        raise RuntimeError(
            f"{spec.name}: expected a fresh registry, found champion {outcome.champion_before}"
        )
    return {
        "cv_score": model.cv_score,
        "holdout": {k: float(v) for k, v in evaluation.evaluation.metrics.items()},
        "verdict": outcome.decision.verdict,
        "champion_after": outcome.champion_after,
        "train_rows": model.n_train_rows,
    }


def _dagster_outcome(result: Any, spec: ProjectSpec) -> dict[str, Any]:
    from mlops_pipelines import names

    meta = {}
    for event in result.get_asset_materialization_events():
        values = {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}
        meta[event.asset_key.path[-1]] = values
    model, evaluation, champion = meta[names.MODEL], meta[names.EVALUATION], meta[names.CHAMPION]
    prefix = names.META_HOLDOUT_PREFIX
    return {
        "cv_score": model[f"{names.META_CV_PREFIX}{spec.training.primary_metric}"],
        "holdout": {
            k[len(prefix) :]: v
            for k, v in evaluation.items()
            if k.startswith(prefix) and k != names.META_HOLDOUT_ROWS
        },
        "verdict": champion[names.META_VERDICT],
        "champion_after": champion[names.META_CHAMPION_AFTER],
        "train_rows": model[names.META_TRAIN_ROWS],
    }


def child(task: dict[str, Any]) -> dict[str, Any]:
    """One measurement (or the setup), in a fresh process."""
    started = time.perf_counter()
    out: dict[str, Any] = {}
    if task["what"] in ("setup", "dagster"):
        import dagster as dg

        from mlops_pipelines.definitions import build_definitions
        from mlops_pipelines.runner import run_job

        spec = bike_spec()
        defs = build_definitions({spec.name: spec})
        with dg.DagsterInstance.get() as instance:
            out["setup_s"] = time.perf_counter() - started
            began = time.perf_counter()
            if task["what"] == "setup":
                job, first, last = f"{spec.name}__data", task["first"], task["last"]
            else:
                job, first, last = f"{spec.name}__retrain", None, None
            result = run_job(defs, job, instance, first, last, log_level="WARNING")
            out["work_s"] = time.perf_counter() - began
            if not result.success:
                failed = [e.message for e in result.all_events if e.is_step_failure]
                raise RuntimeError(f"{job} failed: {failed}")
            if task["what"] == "dagster":
                out.update(_dagster_outcome(result, spec))
                out["steps"] = step_seconds(instance, result.run_id)
    elif task["what"] == "plain":
        spec = bike_spec()
        out["setup_s"] = time.perf_counter() - started
        began = time.perf_counter()
        timings: dict[str, float] = {}
        out.update(plain_retrain(spec, timings))
        out["work_s"] = time.perf_counter() - began
        out["steps"] = timings
        out["dagster_imported"] = "dagster" in sys.modules
    out["peak_mb_self"] = self_peak_mb()
    return out


def build_setup(home: Path, first: str, last: str) -> dict[str, Any]:
    task = {"what": "setup", "first": first, "last": last}
    sample = measure([python(), __file__, "--child", json.dumps(task)], env=state_env(home))
    return {"first": first, "last": last, "data_job_seconds": sample.seconds}


def training_range() -> tuple[str, str]:
    """The partitions one retrain needs: window + holdout + the label delay, from the start."""
    from datetime import timedelta

    spec = bike_spec()
    count = spec.training.window_partitions + spec.training.holdout_partitions
    count += spec.monitoring.label_delay_partitions
    start = spec.partitions.start
    return start.isoformat(), (start + timedelta(days=count - 1)).isoformat()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per path (median)")
    parser.add_argument("--fresh", action="store_true", help="rebuild the cached setup")
    parser.add_argument("--quick", action="store_true", help="1 repeat")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        report(child(json.loads(args.child)))
        return
    if args.quick:
        args.repeats = 1

    first, last = training_range()
    setup_home, setup = cached_setup(
        "train",
        {"project": PROJECT, "first": first, "last": last},
        lambda h: build_setup(h, first, last),
        args.fresh,
    )
    lake_root = str(setup_home / "lake")
    instance = instance_template()

    def run(what: str) -> Sample:
        home = fresh_dir(f"train-{what}")
        try:
            template = instance if what == "dagster" else None
            env = state_env(home, extra={"MLOPS_LAKE_ROOT": lake_root}, instance=template)
            return measure([python(), __file__, "--child", json.dumps({"what": what})], env=env)
        finally:
            remove(home)

    note(f"bench_train: {PROJECT} {first}..{last}, {args.repeats} repeats per path")
    labels = {
        "dagster": "Dagster retrain job (run_job, in-process executor)",
        "plain": "plain script, same calls",
    }
    try:
        runs = interleaved({what: functools.partial(run, what) for what in labels}, labels, args.repeats)
    finally:
        remove(instance.parent)
    dagster, plain = runs["dagster"], runs["plain"]

    print_comparison(
        f"Train + evaluate + promote, {PROJECT} ({plain.samples[0].result['train_rows']:,} training rows), "
        f"median of {args.repeats} fresh processes, each with a fresh MLflow store",
        [dagster, plain],
        plain,
    )
    d_steps, p_steps = step_medians(dagster), step_medians(plain)
    print_table(
        "By step, medians (Dagster's from the instance's step stats)",
        ["step", "Dagster s", "plain s"],
        [
            (name, d_steps.get(f"{PROJECT}__{name}"), p_steps.get(name))
            for name in ("model", "evaluation", "champion")
        ],
    )
    d, p = dagster.samples[0].result, plain.samples[0].result
    same = d["cv_score"] == p["cv_score"] and d["holdout"] == p["holdout"]
    print(
        f"\nsame model: {'yes' if same else 'NO'} (cv {d['cv_score']:.6f} vs {p['cv_score']:.6f}; holdout mae "
        f"{d['holdout'].get('mae', float('nan')):.6f} vs {p['holdout'].get('mae', float('nan')):.6f}); "
        f"verdicts {d['verdict']} / {p['verdict']}; plain path imported dagster: {p['dagster_imported']}"
    )
    goals = print_goals([("retrain Dagster / plain (wall)", ratio(dagster.seconds, plain.seconds), GOAL)])
    save_results(
        "bench_train",
        {
            "project": PROJECT,
            "partitions": f"{first}..{last}",
            "setup": setup,
            "dagster": dagster.as_dict(),
            "plain": plain.as_dict(),
            "same_model": same,
            "goals": goals,
        },
    )


if __name__ == "__main__":
    main()
