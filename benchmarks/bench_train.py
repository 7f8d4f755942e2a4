"""Train + evaluate + promote on bike_sharing: the Dagster retrain job vs a plain script.

    python benchmarks/bench_train.py [--repeats 3] [--quick] [--fresh]

Setup (untimed, cached under benchmarks/results/cache/train/): the `bike_sharing__data` job
materializes the spec's training window (120 train + 14 holdout + 1 unlabelled partition,
2011-01-01..2011-05-15) into a Delta lake. Every timed process then gets its own MLOPS_HOME
(a fresh MLflow SQLite store and artifact root; for Dagster, an existing instance without
runs, see `common.instance_template`) and reads features from that same lake
(MLOPS_LAKE_ROOT), which the retrain never writes.

(a) Dagster: `run_job(defs, "bike_sharing__retrain", instance)` (model -> evaluation ->
    champion, in-process executor as configured), in a fresh process.
(b) Plain: the calls the three assets make, in one fresh process without Dagster: read the
    pinned features version, select_window, split_features, train_model, log_training_run,
    register_challenger; verify_loadable, load_model, evaluate_model, model card, plots,
    log_evaluation; get_alias, decide_promotion, promote, retire_old_versions
    (see `plain_retrain`).
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
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import (
    REPO,
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


def report_path(settings: Settings, project: str, kind: str, name: str) -> Path:
    target = settings.reports_dir / project / kind / name
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _plain_model(spec: ProjectSpec, settings: Settings, cfg: TrackingConfig) -> Any:
    """The `model` asset's calls."""
    from mlops_pipelines.lib import lake
    from mlops_pipelines.lib.frames import PARTITION
    from mlops_pipelines.lib.registry.aliases import register_challenger
    from mlops_pipelines.lib.registry.provenance import collect_provenance
    from mlops_pipelines.lib.registry.tracking import log_training_run
    from mlops_pipelines.lib.training.search import train_model
    from mlops_pipelines.lib.training.window import ModelArtifact, select_window, split_features

    uri = settings.table_uri(spec.name, "features")
    version = lake.table_version(uri)
    window = select_window(lake.partition_keys(uri, PARTITION, version), spec, None)
    rows = lake.read(uri, version, PARTITION, list(window.train))
    labelled = split_features(rows, spec)
    trained = train_model(labelled.features, labelled.target, spec, event_time=labelled.event_time)
    tags = {
        "mlops.project": spec.name,
        "mlops.reason": "benchmark",
        "mlops.features_uri": uri,
        "mlops.features_version": str(version),
        "mlops.train_partitions": f"{window.train[0]}..{window.train[-1]}",
        "mlops.holdout_partitions": f"{window.holdout[0]}..{window.holdout[-1]}",
        "mlops.as_of": window.as_of,
        "mlops.data_sha256": labelled.sha256,
        "mlops.seed": str(spec.training.seed),
    }
    best = trained.cv_results.best
    logged = log_training_run(
        cfg,
        spec.name,
        pipeline=trained.pipeline,
        params={
            **trained.best_params,
            "family": spec.training.family,
            "seed": spec.training.seed,
            "cv_folds": spec.training.cv_folds,
            "search_iterations": spec.training.search_iterations,
            "search_space": json.dumps(spec.training.search_space, sort_keys=True),
            "primary_metric": spec.training.primary_metric,
            "window_partitions": spec.training.window_partitions,
            "holdout_partitions": spec.training.holdout_partitions,
        },
        metrics={
            f"cv_{trained.primary_metric}": best.mean_score,
            f"cv_{trained.primary_metric}_std": best.std_score,
            "n_train_rows": float(trained.n_train_rows),
            "training_seconds": trained.training_seconds,
        },
        cv_results=trained.cv_results.records(),
        figures={},
        input_example=labelled.features.head(5),
        task_is_classification=spec.task.is_classification,
        tags=tags,
        extra_json={"lineage": {**tags, "train": list(window.train), "holdout": list(window.holdout)}},
        provenance=collect_provenance(REPO),
        run_name=f"{spec.name}-benchmark-{window.as_of}",
    )
    ref = register_challenger(cfg, spec.name, logged, tags)
    return ModelArtifact(
        project=spec.name,
        version=ref.version,
        run_id=logged.run_id,
        model_uri=f"models:/{spec.name}/{ref.version}",
        artifact_sha256=logged.artifact_sha256,
        features_uri=uri,
        features_version=version,
        window=window,
        best_params=dict(trained.best_params),
        seed=spec.training.seed,
        primary_metric=trained.primary_metric,
        cv_score=best.mean_score,
        data_sha256=labelled.sha256,
        n_train_rows=trained.n_train_rows,
        reason="benchmark",
        run_url=logged.run_url,
        tags=tags,
    )


def _plain_evaluation(spec: ProjectSpec, settings: Settings, cfg: TrackingConfig, model: Any) -> Any:
    """The `evaluation` asset's calls."""
    from mlops_pipelines.lib import lake
    from mlops_pipelines.lib.evaluation.holdout import check_kpis, evaluate_model
    from mlops_pipelines.lib.evaluation.model_card import model_card
    from mlops_pipelines.lib.evaluation.plots import render_plots
    from mlops_pipelines.lib.frames import PARTITION
    from mlops_pipelines.lib.registry.model_loading import load_model, verify_loadable
    from mlops_pipelines.lib.registry.tracking import log_evaluation
    from mlops_pipelines.lib.training.window import split_features

    verify_loadable(cfg, spec.name, model.version)
    loaded = load_model(cfg, spec.name, model.version)
    rows = lake.read(model.features_uri, model.features_version, PARTITION, list(model.window.holdout))
    holdout = split_features(rows, spec)
    result = evaluate_model(
        loaded.model.get_raw_model(), holdout.features, holdout.target, spec, context=holdout.context
    )
    check_kpis(result, spec)
    card = model_card(
        spec, result, lineage={**model.tags, "model_version": model.version, "run_id": model.run_id}
    )
    report_path(settings, spec.name, "model_cards", f"v{model.version}.md").write_text(card.markdown, "utf-8")
    report_path(settings, spec.name, "model_cards", f"v{model.version}.json").write_text(card.json, "utf-8")
    log_evaluation(
        cfg,
        model.run_id,
        metrics={f"holdout_{k}": float(v) for k, v in result.metrics.items()},
        figures=render_plots(result),
        json_artifacts={"evaluation": result.to_dict(), "model_card": card.data},
    )
    return result


def _plain_champion(
    spec: ProjectSpec, settings: Settings, cfg: TrackingConfig, model: Any, evaluation: Any
) -> Any:
    """The `champion` asset's calls, for a registry without a champion (as in every sample)."""
    from mlops_pipelines.lib.promotion.gate import ModelScores, decide_promotion
    from mlops_pipelines.lib.registry.aliases import get_alias, promote, record_rejection, retire_old_versions

    lock = settings.locks_dir / f"{spec.name}.promotion.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    current = get_alias(cfg, spec.name, "champion")
    if current is not None:
        raise RuntimeError(f"{spec.name}: the plain path expects a fresh registry, found champion {current}")
    decision = decide_promotion(
        ModelScores(model.version, evaluation), None, spec, decided_at=datetime.now(UTC)
    )
    if decision.verdict == "promote":
        promote(cfg, spec.name, model.version, decision.to_json(), lock, expected_champion=None)
    else:
        record_rejection(cfg, spec.name, model.version, decision.to_json())
    retire_old_versions(cfg, spec.name, spec.promotion.keep_versions, lock)
    report_path(settings, spec.name, "decisions", f"v{model.version}.json").write_text(
        decision.to_json(), "utf-8"
    )
    after = get_alias(cfg, spec.name, "champion")
    return decision, after


def plain_retrain(spec: ProjectSpec, timings: dict[str, float]) -> dict[str, Any]:
    """model -> evaluation -> champion, one function per asset (frames are freed between them)."""
    from mlops_pipelines.settings import load_settings

    settings = load_settings()
    cfg = tracking_config(settings)
    t = time.perf_counter()
    model = _plain_model(spec, settings, cfg)
    timings["model"] = time.perf_counter() - t
    t = time.perf_counter()
    evaluation = _plain_evaluation(spec, settings, cfg, model)
    timings["evaluation"] = time.perf_counter() - t
    t = time.perf_counter()
    decision, after = _plain_champion(spec, settings, cfg, model, evaluation)
    timings["champion"] = time.perf_counter() - t
    return {
        "cv_score": model.cv_score,
        "holdout": {k: float(v) for k, v in evaluation.metrics.items()},
        "verdict": decision.verdict,
        "champion_after": after.version if after else None,
        "train_rows": model.n_train_rows,
    }


def _dagster_outcome(result: Any, spec: ProjectSpec) -> dict[str, Any]:
    meta = {}
    for event in result.get_asset_materialization_events():
        values = {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}
        meta[event.asset_key.path[-1]] = values
    metric = spec.training.primary_metric
    return {
        "cv_score": meta["model"][f"cv_{metric}"],
        "holdout": {
            k[len("holdout_") :]: v
            for k, v in meta["evaluation"].items()
            if k.startswith("holdout_") and k != "holdout_rows"
        },
        "verdict": meta["champion"]["verdict"],
        "champion_after": meta["champion"]["champion_after"],
        "train_rows": meta["model"]["train_rows"],
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
