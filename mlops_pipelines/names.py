"""Every name the parts of the system agree on, spelled once.

Asset, check, op, job, schedule and sensor names; Dagster run tags; MLflow tags; the metadata keys
monitoring writes and the sensor, the demo and the UI read. A rename here is a rename everywhere:
`mlops_pipelines_tests/test_structure.py` fails on a stray literal of any elsewhere in the package;
imports nothing, so every module may import it."""

from __future__ import annotations

from typing import Final

# --- Assets: the last part of each asset key (the first part is the project name) ---
RAW: Final = "raw"
VALIDATED: Final = "validated"
QUARANTINE: Final = "quarantine"
FEATURES: Final = "features"
MODEL: Final = "model"
EVALUATION: Final = "evaluation"
CHAMPION: Final = "champion"
PREDICTIONS: Final = "predictions"
DRIFT: Final = "drift"
PERFORMANCE: Final = "performance"
DEPLOYMENT: Final = "deployment"

# --- Asset checks ---
SCHEMA_CHECK: Final = "schema"
EXPECTATIONS_CHECK: Final = "expectations"
PROMOTABLE_CHECK: Final = "promotable"
DRIFT_CHECK: Final = "drift"
KPI_CHECK: Final = "kpis"
FRESHNESS_CHECK: Final = "freshness"  # raw: late data (lib/ingestion/health.py)
ROW_COUNT_CHECK: Final = "row_count"  # raw: rows against recent partitions
RAW_HEALTH_OP: Final = "raw_health"  # the op running both (scoped per project)

# --- Ops, jobs, schedules, sensors: "<project>__<suffix>" ---
VALIDATE_OP: Final = "validate"  # the multi-asset writing validated + quarantine
DATA_JOB: Final = "data"
DAILY_JOB: Final = "daily"
LABELS_JOB: Final = "labels"
RETRAIN_JOB: Final = "retrain"
ROLLBACK_JOB: Final = "rollback"
DAILY_SCHEDULE: Final = "daily_schedule"
LABELS_SCHEDULE: Final = "labels_schedule"
FALLBACK_SCHEDULE: Final = "retrain_fallback"
RETRAIN_SENSOR: Final = "retrain_on_drift"
MAINTENANCE_JOB: Final = "maintenance"  # Delta compaction + vacuum, report retention
MAINTENANCE_OP: Final = "maintain"
MAINTENANCE_SCHEDULE: Final = "maintenance_schedule"
PROMOTION_POOL: Final = "mlops_promotion"
# Celery routing (dagster-celery reads this op tag): training and evaluation go to the `train`
# queue so a big-memory host can take them; every other step stays on dagster-celery's default.
CELERY_QUEUE_TAG: Final = "dagster-celery/queue"
TRAIN_QUEUE: Final = "train"
DEFAULT_QUEUE: Final = "dagster"
MAX_RUNTIME_TAG: Final = "dagster/max_runtime"  # seconds; run monitoring fails a run past it
# Runs that share a value never run at once (the stack's tag limit, 1 per value): a project's
# retrains (drift sensor, fallback schedule, bootstrap) and rollbacks.
SERIAL_TAG: Final = "mlops/serial"
SERIAL_MODEL_SUFFIX: Final = "model"


def scoped(project: str, suffix: str) -> str:
    """The name of a project's op, job, schedule or sensor."""
    return f"{project}__{suffix}"


# AssetIn metadata: the input may not exist yet (the champion before the first promotion).
OPTIONAL_INPUT: Final = "mlops/optional_input"

# --- Dagster run tags ---
RUN_KEY_TAG: Final = "dagster/run_key"
PARTITION_TAG: Final = "dagster/partition"
RANGE_START_TAG: Final = "dagster/asset_partition_range_start"
RANGE_END_TAG: Final = "dagster/asset_partition_range_end"
KIND_TAG: Final = "mlops/kind"  # bootstrap | retrain | scheduled | rollback
TRIGGER_TAG: Final = "mlops/trigger_partition"
AS_OF_TAG: Final = "mlops/as_of"
REASON_TAG: Final = "mlops/reason"
ATTEMPT_TAG: Final = "mlops/attempt"
TRIGGERING_EVENTS_TAG: Final = "mlops/triggering_events"
# Values of KIND_TAG: why a run of the retrain job started
KIND_BOOTSTRAP: Final = "bootstrap"
KIND_RETRAIN: Final = "retrain"
KIND_SCHEDULED: Final = "scheduled"

# --- MLflow run and model-version tags ---
ML_PROJECT: Final = "mlops.project"
ML_REASON: Final = "mlops.reason"
ML_FEATURES_URI: Final = "mlops.features_uri"
ML_FEATURES_VERSION: Final = "mlops.features_version"
ML_TRAIN_PARTITIONS: Final = "mlops.train_partitions"
ML_HOLDOUT_PARTITIONS: Final = "mlops.holdout_partitions"
# The partitions the evaluation scored (the holdout, or further back: training.window.evaluation_size).
ML_EVALUATION_PARTITIONS: Final = "mlops.evaluation_partitions"
ML_AS_OF: Final = "mlops.as_of"
ML_DATA_SHA: Final = "mlops.data_sha256"
ML_SEED: Final = "mlops.seed"
ML_MODEL_ID: Final = "mlops.model_id"
ML_KIND: Final = "mlops.kind"
ML_EVALUATED: Final = "mlops.evaluated"
ML_REFIT_OF: Final = "mlops.refit_of"  # a go-live refit names the evaluated version it refits
ML_DAGSTER_RUN: Final = "dagster.run_id"
ML_DAGSTER_ASSET: Final = "dagster.asset_key"
ML_ORPHAN_REASON: Final = "mlops.orphan_reason"  # why a RUNNING MLflow run was ended FAILED (orphans.py)

# --- Metadata keys the sensor, the demo and the UI read back ---
META_STATUS: Final = "status"
META_DRIFT_SHARE: Final = "drift_share"
META_DRIFTED_COLUMNS: Final = "drifted_columns"
META_KPI_BREACH: Final = "kpi_breach"
META_KPI_BREACHES: Final = "kpi_breaches"
META_CHAMPION_VERSION: Final = "champion_version"
META_MODEL_VERSION: Final = "model_version"
META_VERDICT: Final = "verdict"
META_CHALLENGER_VERSION: Final = "challenger_version"
META_CHAMPION_BEFORE: Final = "champion_before"
META_CHAMPION_AFTER: Final = "champion_after"
META_METRIC: Final = "metric"
META_CHALLENGER_SCORE: Final = "challenger_score"
META_CHAMPION_SCORE: Final = "champion_score"
META_AS_OF: Final = "as_of"
META_REPORT: Final = "evidently_report"
# What a maintenance run freed and kept (its op's output metadata).
META_LAKE_BYTES_FREED: Final = "lake_bytes_freed"
META_REPORT_BYTES_FREED: Final = "report_bytes_freed"
META_REPORTS_DELETED: Final = "reports_deleted"
META_KEPT_VERSIONS: Final = "kept_versions"
META_MODELS_PURGED: Final = "models_purged"  # retired versions whose model files were deleted
META_MODEL_BYTES_FREED: Final = "model_bytes_freed"
META_ESTIMATED: Final = "estimated_metric"
META_REALIZED: Final = "realized_metric"
META_PERFORMANCE_STATUS: Final = "performance_status"

# --- Metadata keys of scoring and monitoring (predictions, drift, performance, deployment) ---
META_MEAN_PREDICTION: Final = "mean_prediction"
META_MEAN_SCORE: Final = "mean_score"
META_WORST_STATUS: Final = "worst_status"
META_REFERENCE: Final = "reference"  # where the reference window came from
META_ROWS_CURRENT: Final = "rows_current"
META_ROWS_REFERENCE: Final = "rows_reference"
META_QUALITY_PROBLEMS: Final = "quality_problems"
META_SCORE_PREFIX: Final = "score_"  # + a column: its drift score
META_EVIDENTLY_DRIFT_SHARE: Final = "evidently_drift_share"
META_TARGET_DRIFT_STATUS: Final = "target_drift_status"
META_TARGET_DRIFT_SCORE: Final = "target_drift_score"
META_PREVIOUS_CHAMPION_VERSION: Final = "previous_champion_version"
META_CANARY_SHARE: Final = "configured_canary_share"
META_SHADOW: Final = "shadow"
META_DECISIONS: Final = "decisions"
META_ROLLBACKS: Final = "rollbacks"
META_PROMOTE_RECOMMENDED: Final = "promote_recommended"
META_LAST_DECISION: Final = "last_decision"
META_LAST_REASON: Final = "last_reason"
META_HISTORY: Final = "history"

# --- Metadata keys of a stored table slice (assets.common.slice_metadata) ---
META_TABLE: Final = "table"
META_TABLE_URI: Final = "table_uri"
META_TABLE_VERSION: Final = "table_version"
META_ROWS: Final = "rows"
META_PARTITIONS: Final = "partitions"
META_FIRST_PARTITION: Final = "first_partition"
META_LAST_PARTITION: Final = "last_partition"

# --- Metadata keys of the raw health checks (freshness, row_count) ---
META_LATE_PARTITIONS: Final = "late_partitions"
META_ANOMALIES: Final = "anomalies"
META_MAX_LATENESS_HOURS: Final = "max_lateness_hours"
META_WARN_AFTER_HOURS: Final = "warn_after_hours"
META_ERROR_AFTER_HOURS: Final = "error_after_hours"
META_CHECKED_PARTITIONS: Final = "checked_partitions"

# --- Metadata keys of the data stage (raw, validated + quarantine, features) ---
META_SOURCE: Final = "source"
META_ROWS_READ: Final = "rows_read"
META_ROWS_PER_PARTITION: Final = "rows_per_partition"
META_PARTITIONS_REJECTED: Final = "partitions_rejected"
META_PROBLEMS: Final = "problems"
META_PROBLEM_COUNT: Final = "problem_count"
META_ROWS_IN: Final = "rows_in"
META_ROWS_QUARANTINED: Final = "rows_quarantined"
META_QUARANTINE_SHARE: Final = "quarantine_share"
META_RAW_VERSION: Final = "raw_version"
META_QUARANTINE_REASONS: Final = "reasons"
META_BATCH_FAILURES: Final = "batch_failures"
META_BLOCKED_PARTITIONS: Final = "blocked_partitions"  # JSON list: what a failed blocking check refused
META_FAILED_EXPECTATIONS: Final = "failed_expectations"
META_VALIDATED_VERSION: Final = "validated_version"
META_FEATURE_COLUMNS: Final = "feature_columns"

# --- The model stage: training, evaluation, the champion (promotion and rollback) ---
KIND_ROLLBACK: Final = "rollback"  # a KIND_TAG value: a run of the rollback job
# The model-version tag the registry writes on promotion (lib.registry.decisions: "<kind>_decision").
ML_PROMOTION_DECISION: Final = "promotion_decision"
META_MLFLOW_RUN_ID: Final = "mlflow_run_id"
META_MLFLOW_RUN: Final = "mlflow_run"
META_CV_PREFIX: Final = "cv_"  # + the primary metric: its cross-validated score
META_TRAIN_ROWS: Final = "train_rows"
META_TRAIN_PARTITIONS: Final = "train_partitions"
META_WINDOW_CHOICE: Final = "window_choice"  # the lengths tried and why this one (training.window_choices)
META_HOLDOUT_PARTITIONS: Final = "holdout_partitions"
META_EVALUATION_PARTITIONS: Final = "evaluation_partitions"  # only when they reach past the holdout
META_FEATURES_VERSION: Final = "features_version"
META_BEST_PARAMS: Final = "best_params"
META_REASON: Final = "reason"
META_ARTIFACT_SHA: Final = "artifact_sha256"
META_HOLDOUT_ROWS: Final = "holdout_rows"
META_HOLDOUT_PREFIX: Final = "holdout_"  # + a metric: its value on the holdout
META_KPIS: Final = "kpis"
META_SLICES: Final = "slices"
META_IMPORTANCE: Final = "importance"
META_FAIRNESS: Final = "fairness"
META_MODEL_CARD: Final = "model_card"
META_LOAD_ERROR: Final = "load_error"
META_ACTION: Final = "action"  # gate | rollback
META_REASONS: Final = "reasons"
META_CI_LOW: Final = "ci_low"
META_CI_HIGH: Final = "ci_high"
META_RETIRED_VERSIONS: Final = "retired_versions"
META_DECISION_RECORD: Final = "decision_record"
META_REASON_FOR_TRAINING: Final = "reason_for_training"
META_CHAMPION_SOURCE: Final = "champion_source"
META_CHAMPION_RUN_ID: Final = "champion_run_id"
# The champion version's artifact sha256: with META_REFIT_VERSION, the record that this run produced
# the refit (run_records.DagsterLedger reads it before a model loads).
META_CHAMPION_SHA: Final = "champion_artifact_sha256"
META_CHAMPION_FEATURES_VERSION: Final = "champion_features_version"
META_CHAMPION_TRAIN_RANGE: Final = "champion_train_range"
META_CHAMPION_AS_OF: Final = "champion_as_of"
META_CHAMPION_METRIC: Final = "champion_metric"
META_CHAMPION_EVALUATED_SCORE: Final = "champion_evaluated_score"
META_CHAMPION_EVALUATED_ROWS: Final = "champion_evaluated_rows"
META_DECIDED_AT: Final = "decided_at"

# --- Performance signals on monitoring observations (the retraining sensor reads them) ---
META_ESTIMATED_DEGRADED: Final = "estimated_degraded"  # drift observations: bool, or None (no verdict)
META_REALIZED_DEGRADED: Final = "realized_degraded"  # performance observations: bool, or None
META_ROW_GROWTH: Final = "row_growth"  # drift observations: rows per partition / the champion's
META_ESTIMATED_REASON: Final = "estimated_reason"  # why the estimated verdict is what it is (or none)
META_REALIZED_REASON: Final = "realized_reason"
META_EXPECTED: Final = "expected_metric"  # the estimate for the labelled rows: what the champion should reach
META_KPI_BREACH_EXPLAINED: Final = "kpi_breach_explained"  # breaches the estimate expected too (not counted)

# --- Numbers per partition the Plots tab draws against the partition (assets/monitoring_metadata.py) ---
META_DRIFT_LEVEL: Final = "drift_level"  # the drift check as a number: 0 ok (or no verdict), 1 warn, 2 error
META_KPI_BREACH_COUNT: Final = "kpi_breach_count"  # KPI breaches that count (unexplained), 0 when none

# --- Calibrated drift thresholds on drift observations (lib/monitoring/calibration.py) ---
META_CALIBRATED: Final = "calibrated"  # bool: calibrated thresholds applied (False: the spec's fixed ones)
META_CALIBRATION_NOTE: Final = "calibration_note"  # why the fixed thresholds apply, when they do
META_WARN_SHARE: Final = "warn_share"  # the drift share that warns, as applied
META_ERROR_SHARE: Final = "error_share"
META_THRESHOLD_PREFIX: Final = "threshold_"  # + a column: its drift threshold, as applied
META_REFIT_VERSION: Final = "refit_version"  # champion: the go-live refit of the evaluated challenger

# --- The gate: rolling-origin evaluation, non-inferiority, refit before go-live, the estimator ---
# MLflow run and model-version tags
ML_TRAINING_KEY: Final = "mlops.training_key"  # hash of what a training saw: an identical retry reuses it
ML_BEST_PARAMS: Final = "mlops.best_params"  # the chosen hyperparameters as JSON (typed, for a refit)
ML_WINDOW_CHOICE: Final = "mlops.window_choice"  # why the training window has its length (window_choices)
ML_REFIT_VERSION: Final = "mlops.refit_version"  # on an evaluated version: the refit that went live
ML_EVALUATED_PARTITIONS: Final = "mlops.evaluated_partitions"  # 'first..last' of the gate's evaluation
ML_EVALUATED_METRIC: Final = "mlops.evaluated_metric"
ML_EVALUATED_SCORE: Final = "mlops.evaluated_score"  # pooled out-of-sample level of that metric
ML_EVALUATED_ROWS: Final = "mlops.evaluated_rows"
ML_EVALUATED_NOISE: Final = "mlops.evaluated_noise"  # its bootstrap standard error
ML_ESTIMATOR_URI: Final = "mlops.estimator_uri"  # the pickled PerformanceEstimator on the version's run
ML_ESTIMATOR_SHA: Final = "mlops.estimator_sha256"
# Decision tags the registry writes ("<kind>_decision", lib.registry.decisions)
ML_REJECTION_DECISION: Final = "rejection_decision"
ML_GATE_DECISION: Final = "gate_decision"  # the gate's verdict on a version that went live as a refit
# Metadata keys of the evaluation and the champion
META_POOLED_PREFIX: Final = "pooled_"  # + a metric: its pooled rolling-origin out-of-sample value
META_POOLED_ROWS: Final = "pooled_rows"
META_FOLDS: Final = "folds"
META_EVALUATED_PARTITIONS: Final = "evaluated_partitions"
META_EVALUATED_VERSION: Final = "evaluated_version"
META_MARGIN: Final = "margin"
META_MIN_IMPROVEMENT: Final = "min_improvement"
META_COMPARED_ROWS: Final = "compared_rows"
META_EXCLUDED_PARTITIONS: Final = "excluded_partitions"
META_IMPROVEMENT: Final = "improvement"
META_KPI_FLAGS: Final = "kpi_flags"
META_NEEDS_ATTENTION: Final = "needs_attention"  # bool: promoted with a KPI breach (alerted)
META_CHAMPION_EVALUATED_NOISE: Final = "champion_evaluated_noise"
META_CHAMPION_ESTIMATOR_URI: Final = "champion_estimator_uri"
META_CHAMPION_ESTIMATOR_SHA: Final = "champion_estimator_sha256"
# The audit trail (lib/registry/audit.py) and human approval (lib/registry/approvals.py)
AUDIT_TAG: Final = "mlops.audit"  # on the audit experiment and each entry's run: the project
AUDIT_SETTLED_TAG: Final = "mlops.audit.settled"  # a killed writer's pending entry, settled later
APPROVAL_JOB: Final = "approval"
ML_APPROVAL: Final = "mlops.approval"  # pending | approved | rejected | expired
ML_APPROVAL_EXPIRES: Final = "mlops.approval_expires_at"
ML_APPROVAL_CHAMPION: Final = "mlops.approval_champion"  # the champion the verdict was judged against
ML_APPROVAL_EVALUATED: Final = "mlops.approval_evaluated"  # the evaluated version a refit stands for
META_ALIAS_TIMELINE: Final = "alias_timeline"  # markdown: the newest audit entries
META_AUDIT_ENTRIES: Final = "audit_entries"
META_PENDING_APPROVALS: Final = "pending_approvals"
KIND_APPROVAL: Final = "approval"  # a KIND_TAG value: a run of the approval job
META_EXPIRED_APPROVALS: Final = "expired_approvals"  # maintenance: approvals it rejected as expired
