"""Rebuilding a registered model version from its recorded lineage, and proving it matches exactly.

The training run recorded the features table, its Delta version, the train and holdout
partition ranges, a content hash of the training rows, the seed, the model family and the best
hyperparameters. `reproduce` reads exactly those rows again (Delta time travel), retrains, and
compares every recorded metric with `==`: training is bit-deterministic, so anything short of
identical is a finding, not noise.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_pipelines import names
from mlops_pipelines.lib.reproduction.record import (
    ReproductionError,
    TrainingRecord,
    read_features,
    read_record,
    search_plan,
)

if TYPE_CHECKING:
    from mlops_pipelines.lib.registry.session import TrackingConfig
    from mlops_pipelines.spec import ProjectSpec

__all__ = ["MetricPair", "Reproduction", "ReproductionError", "reproduce"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MetricPair:
    recorded: float | None  # None: the run never logged it
    reproduced: float | None  # None: the rebuild could not compute it

    @property
    def equal(self) -> bool:
        if self.recorded is None or self.reproduced is None:
            return False
        both_nan = math.isnan(self.recorded) and math.isnan(self.reproduced)
        return self.recorded == self.reproduced or both_nan


@dataclass(frozen=True)
class DataCheck:
    uri: str
    version: int
    train_partitions: tuple[str, ...]
    holdout_partitions: tuple[str, ...]
    train_rows: int
    holdout_rows: int
    recorded_sha256: str
    reproduced_sha256: str


@dataclass(frozen=True)
class PredictionCheck:
    rows: int
    differing_rows: int  # rows where the registered artifact and the rebuild disagree at all
    max_abs_diff: float  # largest difference of a prediction (regression) or probability


@dataclass(frozen=True)
class Reproduction:
    project: str
    version: str
    run_id: str
    metrics: dict[str, MetricPair]
    reasons: tuple[str, ...]  # why it is not an exact match; empty means it is
    search: str  # "replayed" (the recorded search again) or "pinned" (the recorded best params)
    spec_changes: tuple[str, ...]
    data: DataCheck
    predictions: PredictionCheck | None
    code: dict[str, Any]
    notes: tuple[str, ...] = field(default=())

    @property
    def match(self) -> bool:
        return not self.reasons

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready report the CLI prints (`match` and `metrics` are the stable keys)."""
        return {
            "project": self.project,
            "version": self.version,
            "match": self.match,
            "metrics": {name: asdict(pair) for name, pair in self.metrics.items()},
            "reasons": list(self.reasons),
            "run_id": self.run_id,
            "search": self.search,
            "spec_changes": list(self.spec_changes),
            "data": asdict(self.data),
            "predictions": None if self.predictions is None else asdict(self.predictions),
            "code": dict(self.code),
            "notes": list(self.notes),
        }


def compare_metrics(recorded: dict[str, float], reproduced: dict[str, float]) -> dict[str, MetricPair]:
    """Pairs for every name in either dict, in a stable order (recorded names first)."""
    names = list(dict.fromkeys([*recorded, *reproduced]))
    return {name: MetricPair(recorded.get(name), reproduced.get(name)) for name in names}


def compare_predictions(
    registered: Any, rebuilt: Any, features: Any, target: Any, spec: ProjectSpec
) -> PredictionCheck:
    """Score the holdout with both pipelines; classification compares labels and probabilities."""
    import numpy as np

    from mlops_pipelines.lib.metrics import predict

    theirs = predict(registered, features, target, spec)
    ours = predict(rebuilt, features, target, spec)
    differ = theirs.y_pred != ours.y_pred
    if theirs.proba is not None and ours.proba is not None and theirs.proba.shape == ours.proba.shape:
        differ |= (theirs.proba != ours.proba).any(axis=1)
        gap = np.abs(theirs.proba - ours.proba)
    elif spec.task.is_classification:
        differ[:] = True  # different class sets: nothing comparable
        gap = np.array([math.inf])
    else:
        gap = np.abs(theirs.y_pred.astype("float64") - ours.y_pred.astype("float64"))
    return PredictionCheck(len(features), int(differ.sum()), float(gap.max()) if gap.size else 0.0)


def _code_report(record: TrainingRecord, repo_dir: Path | None) -> dict[str, Any]:
    from mlops_pipelines.lib.registry.provenance import collect_provenance

    now = collect_provenance(repo_dir)
    recorded_libs = {
        k.removeprefix("provenance.lib."): v
        for k, v in record.tags.items()
        if k.startswith("provenance.lib.")
    }
    changed = {
        name: {"recorded": version, "current": now.libraries.get(name)}
        for name, version in recorded_libs.items()
        if now.libraries.get(name) != version
    }
    recorded_commit = record.tags.get("provenance.git_commit")
    return {
        "recorded_commit": recorded_commit,
        "current_commit": now.git_commit,
        "same_commit": recorded_commit is not None and recorded_commit == now.git_commit,
        "recorded_dirty": record.tags.get("provenance.git_dirty"),
        "current_dirty": now.git_dirty,
        "same_lock": record.tags.get("provenance.lock_sha256") == now.lock_sha256,
        "library_changes": changed,
    }


def _feature_change(registered: Any, spec: ProjectSpec) -> list[str]:
    from mlops_pipelines.lib.features import feature_kinds

    trained_on = [str(c) for c in getattr(registered, "feature_names_in_", [])]
    current = list(feature_kinds(spec))
    if trained_on and trained_on != current:
        return [f"features: the registered model takes {trained_on}; the current spec gives {current}"]
    return []


def reproduce(
    spec: ProjectSpec,
    cfg: TrackingConfig,
    version: str,
    *,
    storage_options: dict[str, str] | None = None,
    repo_dir: Path | None = None,
) -> Reproduction:
    """Retrain `version` of `spec.name` from its lineage and compare with what was recorded.

    Raises ReproductionError when the lineage cannot be replayed (the recorded table version is
    gone, a lineage tag is missing); a replay that runs but differs is a report with reasons.
    """
    from mlops_pipelines.lib.evaluation.holdout import evaluate_model
    from mlops_pipelines.lib.registry.lookup import ModelIntegrityError, ModelLoadError, ModelPurgedError
    from mlops_pipelines.lib.registry.model_loading import load_model
    from mlops_pipelines.lib.training.search import train_model
    from mlops_pipelines.lib.training.window import split_features

    record = read_record(cfg, spec.name, version)
    plan = search_plan(spec, record)
    rebuild_spec = plan.spec
    uri, table_version = record.features_uri, record.features_version
    train_keys, train_rows = read_features(uri, table_version, record.range("train"), storage_options)
    holdout_keys, holdout_rows = read_features(uri, table_version, record.range("holdout"), storage_options)
    train = split_features(train_rows, rebuild_spec)
    holdout = split_features(holdout_rows, rebuild_spec)
    reasons: list[str] = []
    notes = list(plan.notes)
    if train.sha256 != record.data_sha256:
        reasons.append(
            f"data changed: training rows of {uri} at version {table_version} hash to {train.sha256}, "
            f"the run recorded {record.data_sha256}"
        )

    trained = train_model(train.features, train.target, rebuild_spec, event_time=train.event_time)
    # Importance is left out: it never feeds the logged metrics, which come from the predictions alone.
    evaluation = evaluate_model(
        trained.pipeline,
        holdout.features,
        holdout.target,
        rebuild_spec,
        context=holdout.context,
        importance_rows=0,
    )
    metric = record.primary_metric
    best = trained.cv_results.best
    reproduced = {
        f"{names.META_CV_PREFIX}{metric}": best.mean_score,
        f"{names.META_CV_PREFIX}{metric}_std": best.std_score,
        "n_train_rows": float(trained.n_train_rows),
        **{f"{names.META_HOLDOUT_PREFIX}{k}": float(v) for k, v in evaluation.metrics.items()},
    }
    if not record.holdout_metrics:
        notes.append("the run has no holdout_* metrics (never evaluated): holdout metrics are not compared")
        reproduced = {k: v for k, v in reproduced.items() if not k.startswith(names.META_HOLDOUT_PREFIX)}
    metrics = compare_metrics(record.compared_metrics, reproduced)
    reasons.extend(
        f"{name}: recorded {pair.recorded!r}, reproduced {pair.reproduced!r}"
        for name, pair in metrics.items()
        if not pair.equal
    )
    chosen = record.render_params(trained.best_params)
    if chosen != record.best_params:
        reasons.append(f"best parameters: recorded {record.best_params}, reproduced {chosen}")

    spec_changes = list(plan.changes)
    predictions = None
    try:
        registered = load_model(cfg, spec.name, record.version).model.get_raw_model()
    except ModelPurgedError as err:
        # Not a mismatch: retention deleted the files on purpose; the metrics still decide.
        notes.append(f"predictions not compared: {err}")
    except (ModelIntegrityError, ModelLoadError) as err:
        reasons.append(f"registered artifact cannot be compared: {err}")
    else:
        spec_changes.extend(_feature_change(registered, rebuild_spec))
        predictions = compare_predictions(
            registered, trained.pipeline, holdout.features, holdout.target, rebuild_spec
        )
        if predictions.differing_rows:
            reasons.append(
                f"predictions: {predictions.differing_rows} of {predictions.rows} holdout rows differ from "
                f"the registered artifact (max abs difference {predictions.max_abs_diff!r})"
            )
    report = Reproduction(
        project=spec.name,
        version=record.version,
        run_id=record.run_id,
        metrics=metrics,
        reasons=tuple(reasons),
        search=plan.mode,
        spec_changes=tuple(spec_changes),
        data=DataCheck(
            uri,
            table_version,
            tuple(train_keys),
            tuple(holdout_keys),
            len(train_rows),
            len(holdout_rows),
            record.data_sha256,
            train.sha256,
        ),
        predictions=predictions,
        code=_code_report(record, repo_dir),
        notes=tuple(notes),
    )
    log.info("%s v%s: reproduction %s", spec.name, record.version, "matches" if report.match else "differs")
    return report
