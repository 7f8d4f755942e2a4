"""A retried training reuses the version an identical training already registered.

A retrain run that fails after its model step (the champion could not be re-scored, the
registry was briefly down) is retried by the sensor under a new run key. Training is
bit-deterministic, so the retry would only register a duplicate of the same model. The
training key is a hash of everything a training depends on (the rows' table, version, window
and content hash, the spec's features, target, task and training section, the code's commit
and lock file); a version carrying the same key that no gate has judged yet is that same
model, and is handed on instead of being trained again. Once a version was judged (promoted,
rejected, or went live as a refit), a new request trains and registers anew.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from mlops_pipelines import names
from mlops_pipelines.lib.training.artifact import ModelArtifact, TrainingWindow

if TYPE_CHECKING:
    from mlops_pipelines.lib.registry.lookup import ModelVersionRef
    from mlops_pipelines.lib.registry.provenance import Provenance
    from mlops_pipelines.lib.registry.session import TrackingConfig
    from mlops_pipelines.spec import ProjectSpec

# A version with any of these tags has been judged by the gate: it is never reused.
DECIDED_TAGS = (names.ML_PROMOTION_DECISION, names.ML_REJECTION_DECISION, names.ML_GATE_DECISION)
LINEAGE_TAGS = (
    names.ML_DAGSTER_RUN,
    names.ML_DAGSTER_ASSET,
    names.ML_PROJECT,
    names.ML_REASON,
    names.ML_FEATURES_URI,
    names.ML_FEATURES_VERSION,
    names.ML_TRAIN_PARTITIONS,
    names.ML_HOLDOUT_PARTITIONS,
    names.ML_EVALUATION_PARTITIONS,
    names.ML_AS_OF,
    names.ML_DATA_SHA,
    names.ML_SEED,
    names.ML_TRAINING_KEY,
    names.ML_BEST_PARAMS,
)


def training_key(
    spec: ProjectSpec,
    window: TrainingWindow,
    *,
    features_uri: str,
    features_version: int,
    data_sha256: str,
    provenance: Provenance,
) -> str:
    """sha256 of everything the trained model depends on (not of why or by whom it was trained)."""
    from mlops_pipelines.lib.features import feature_kinds

    document = {
        "project": spec.name,
        "task": spec.task.value,
        "target": spec.target,
        "features": dict(feature_kinds(spec)),
        "training": spec.training.model_dump(mode="json"),
        "features_uri": features_uri,
        "features_version": features_version,
        "train": list(window.train),
        "holdout": list(window.holdout),
        # Only when it reaches past the holdout, so the keys of every other window stay as they were.
        **({"evaluation": list(window.evaluation)} if window.evaluation else {}),
        "as_of": window.as_of,
        "data_sha256": data_sha256,
        "git_commit": provenance.git_commit,
        "lock_sha256": provenance.lock_sha256,
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def undecided_version(tracking: TrackingConfig, project: str, key: str) -> ModelVersionRef | None:
    """The newest version trained with `key` that no gate has judged (None: train anew)."""
    from mlops_pipelines.lib.registry.versions import find_versions

    found = find_versions(tracking, project, names.ML_TRAINING_KEY, key)
    usable = [r for r in found if not any(t in r.tags for t in DECIDED_TAGS) and r.artifact_sha256]
    return usable[0] if usable else None


def reused_artifact(
    spec: ProjectSpec, tracking: TrackingConfig, ref: ModelVersionRef, window: TrainingWindow
) -> ModelArtifact:
    """The `ModelArtifact` of an already registered version, from its tags and its run."""
    from mlops_pipelines.lib.registry.versions import make_challenger, run_summary

    tags = ref.tags
    if ref.run_id is None or names.ML_BEST_PARAMS not in tags or ref.artifact_sha256 is None:
        raise ValueError(f"{spec.name} version {ref.version}: no run, best parameters or sha256 to reuse")
    summary = run_summary(tracking, ref.run_id)
    metric = spec.training.primary_metric
    best_params: dict[str, Any] = json.loads(tags[names.ML_BEST_PARAMS])
    make_challenger(tracking, spec.name, ref.version)
    return ModelArtifact(
        project=spec.name,
        version=ref.version,
        run_id=ref.run_id,
        model_uri=f"models:/{spec.name}/{ref.version}",
        artifact_sha256=ref.artifact_sha256,
        features_uri=tags[names.ML_FEATURES_URI],
        features_version=int(tags[names.ML_FEATURES_VERSION]),
        window=window,
        best_params=best_params,
        seed=int(tags[names.ML_SEED]),
        primary_metric=metric,
        cv_score=summary.metrics[f"{names.META_CV_PREFIX}{metric}"],
        data_sha256=tags[names.ML_DATA_SHA],
        n_train_rows=int(summary.metrics["n_train_rows"]),
        reason=tags[names.ML_REASON],
        run_url=summary.run_url,
        tags={k: tags[k] for k in LINEAGE_TAGS if k in tags},
    )
