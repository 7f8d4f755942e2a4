"""The typed project spec: the single source of truth for one ML project.

A data scientist writes one YAML file; everything downstream (assets, checks,
training, monitoring, serving) reads only this model. Errors name the file,
the field and the problem.
"""

from __future__ import annotations

import os
import re
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlops_pipelines.lib.hints import did_you_mean
from mlops_pipelines.spec_approval import ApprovalSpec
from mlops_pipelines.spec_rules import Rule, rule_columns
from mlops_pipelines.spec_source import JoinSpec
from mlops_pipelines.spec_time import ArrivalSpec as ArrivalSpec
from mlops_pipelines.spec_time import TimeSpec

PROJECTS_DIR_ENV = "MLOPS_PROJECTS_DIR"
PACKAGED_PROJECTS = Path(__file__).parent / "projects"
_SLUG = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class SpecError(ValueError):
    """A project spec that cannot be used; the message names file, field and problem."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Task(StrEnum):
    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"

    @property
    def is_classification(self) -> bool:
        return self is not Task.REGRESSION


class Grain(StrEnum):
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"

    @property
    def delta(self) -> timedelta:
        """The period's length; for calendar grains (month, quarter, year) its shortest length."""
        days = {"daily": 1, "weekly": 7, "monthly": 28, "quarterly": 90, "yearly": 365}
        return timedelta(hours=1) if self is Grain.HOURLY else timedelta(days=days[self.value])


DType = Literal["int", "float", "str", "bool", "date", "datetime"]


class ColumnSpec(_Model):
    dtype: DType
    nullable: bool = False
    # Mostly null (a holiday's name, an event code): a partition null throughout is normal, so
    # validation's all-null check skips it. Needs nullable.
    sparse: bool = False
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None
    # What an unseen category means: reject the row (quarantine / HTTP 422) or accept it.
    unseen: Literal["reject", "accept"] = "reject"

    @model_validator(mode="after")
    def _coherent(self) -> ColumnSpec:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.categories is not None and self.dtype != "str":
            raise ValueError("categories are only allowed on dtype 'str'")
        if (self.min is not None or self.max is not None) and self.dtype not in ("int", "float"):
            raise ValueError("min/max are only allowed on dtype 'int' or 'float'")
        if self.sparse and not self.nullable:
            raise ValueError("sparse: true needs nullable: true (a sparse column is mostly null)")
        return self


class SourceFile(_Model):
    path: str
    read_options: dict[str, Any] = Field(default_factory=dict)
    # Constant columns added to every row of this file (e.g. a wine's colour).
    assign: dict[str, str | int | float] = Field(default_factory=dict)
    # Per-column value fixes applied right after reading (e.g. adult.test's '>50K.').
    replace: dict[str, dict[str, str]] = Field(default_factory=dict)
    # Columns written as percentages ('10.65%'), read as the number written (10.65), after replace.
    percent: list[str] = Field(default_factory=list)


class SimulatorSpec(_Model):
    seed: int = 7
    start: date = date(2024, 1, 1)
    days: int = Field(default=180, ge=14)
    rows_per_hour: int = Field(default=4, ge=1)
    concept_change: date = date(2024, 4, 15)
    bad_batch_every: int = Field(default=0, ge=0, description="every Nth day is corrupted; 0 disables")
    # Which drift the stream carries (lib/ingestion/scenarios.py documents each): "sudden" is the
    # original stream (one abrupt change at concept_change), "gradual" morphs the concept over
    # ramp_days from concept_change, "recurring" alternates two regimes every season_days, and
    # "none" is a stationary control whose days arrive in blocks dominated by one station.
    scenario: Literal["sudden", "gradual", "recurring", "none"] = "sudden"
    ramp_days: int = Field(default=60, ge=1, description="gradual: days the concept takes to move")
    season_days: int = Field(default=45, ge=7, description="recurring: days each regime lasts")
    group_block_days: int = Field(default=7, ge=1, description="none: days one station dominates")
    group_share: float = Field(default=0.8, gt=1 / 3, le=1.0, description="none: that station's row share")
    # A classification stream from the same world: a `busy` column ("yes" when the row's demand
    # exceeds this many) for a binary spec that excludes `demand` (it would leak the label).
    busy_above: float | None = Field(default=None, gt=0, description="adds the binary column 'busy'")

    @model_validator(mode="after")
    def _scenario_fits(self) -> SimulatorSpec:
        # Another scenario's parameter would be ignored without a word: refuse it unless it is
        # at its default (so a dumped spec, which spells out every field, still loads).
        owners = {"ramp_days": "gradual", "season_days": "recurring"}
        owners |= {"group_block_days": "none", "group_share": "none"}
        for field, owner in owners.items():
            if owner != self.scenario and getattr(self, field) != type(self).model_fields[field].default:
                raise ValueError(f"{field} is read only by scenario '{owner}', not '{self.scenario}'")
        end = self.start + timedelta(days=self.days)
        if self.scenario == "gradual":
            if not self.start <= self.concept_change < end:
                raise ValueError(f"concept_change ({self.concept_change}) must fall in [{self.start}, {end})")
            ramp_end = self.concept_change + timedelta(days=self.ramp_days)
            if ramp_end >= end:
                raise ValueError(
                    f"ramp_days ({self.ramp_days}) from concept_change ({self.concept_change}) ends on "
                    f"{ramp_end}, not before the simulation ends ({end}, start + days)"
                )
        if self.scenario == "recurring" and self.days < 3 * self.season_days:
            raise ValueError(
                f"season_days ({self.season_days}) leaves fewer than 3 seasons in days ({self.days}): "
                "a regime must come back to recur"
            )
        # 3 = the simulator's stations (lib/ingestion/simulate.STATIONS; a test pins the two).
        if self.scenario == "none" and self.days < 3 * self.group_block_days:
            raise ValueError(
                f"group_block_days ({self.group_block_days}) x 3 stations is longer than days "
                f"({self.days}): the blocks must cycle through every station"
            )
        return self


class SourceSpec(_Model):
    # csv (also .gz/.bz2/.zip/.xz/.zst), parquet, jsonl (JSON lines), arff; url: one csv/parquet download.
    kind: Literal["csv", "parquet", "jsonl", "arff", "url", "simulator"]
    files: list[SourceFile] = Field(default_factory=list)
    url: str | None = None
    sha256: str | None = None
    read_options: dict[str, Any] = Field(default_factory=dict)
    normalize_column_names: bool = True
    simulator: SimulatorSpec | None = None
    # Files joined to the rows of `files` on keys (features + labels): spec_source.JoinSpec.
    join: list[JoinSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _coherent(self) -> SourceSpec:
        if self.kind in ("csv", "parquet", "jsonl", "arff") and not self.files:
            raise ValueError(f"source kind '{self.kind}' needs at least one entry in 'files'")
        if self.kind == "url" and not (self.url and self.sha256):
            raise ValueError("source kind 'url' needs both 'url' and 'sha256'")
        if self.sha256 is not None and not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise ValueError("sha256 must be 64 lowercase hex characters")
        if self.kind == "simulator" and self.simulator is None:
            return self.model_copy(update={"simulator": SimulatorSpec()})
        return self


class PartitionSpec(_Model):
    grain: Grain = Grain.DAILY
    # The first partition starts at `start` rounded down to its period (lib/grains.anchored_start).
    start: date
    end: date | None = Field(default=None, description="exclusive; None means open-ended")
    # Weekly grain only: the weekday each week starts on (ISO weeks: Monday).
    week_start: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] = (
        "monday"
    )

    @model_validator(mode="after")
    def _ordered(self) -> PartitionSpec:
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        return self


class ValidationSpec(_Model):
    min_rows: int = Field(default=1, ge=1)
    max_quarantine_share: float = Field(default=0.2, ge=0.0, le=1.0)
    reject_duplicates: bool = True
    # A nullable column null in every row blocks a partition of at least this many rows. In fewer
    # rows a sparse column is often null throughout by chance (p ** rows: 0.1 % at 10 rows of a
    # half-null column), so there it is reported and lets the partition through. 1: always block.
    all_null_min_rows: int = Field(default=10, ge=1)
    # Stuck columns, duplicate keys, future timestamps, null shares: spec_rules.py.
    rules: list[Rule] = Field(default_factory=list)


class KPI(_Model):
    metric: str
    floor: float | None = None
    ceiling: float | None = None

    @model_validator(mode="after")
    def _bound(self) -> KPI:
        if (self.floor is None) == (self.ceiling is None):
            raise ValueError(f"KPI '{self.metric}' needs exactly one of 'floor' or 'ceiling'")
        return self


class FeatureSpec(_Model):
    exclude: list[str] = Field(default_factory=list, description="never features (leakage, ids)")
    time_features: list[Literal["hour", "dayofweek", "month"]] = Field(default_factory=list)


ModelFamily = Literal["hist_gradient_boosting", "linear", "random_forest"]


class TrainingSpec(_Model):
    family: ModelFamily = "hist_gradient_boosting"
    search_space: dict[str, list[Any]] = Field(default_factory=dict)
    search_iterations: int = Field(default=4, ge=1)
    cv_folds: int = Field(default=3, ge=2)
    window_partitions: int = Field(default=90, ge=1, description="training window, in partitions")
    holdout_partitions: int = Field(default=14, ge=1, description="time-based holdout, in partitions")
    # Other training-window lengths (partitions) each retrain tries beside `window_partitions`;
    # one replaces it only when better on every one of the newest `window_choice_blocks`
    # holdout-sized blocks and clearly overall (lib/training/window_choice.py). Empty: never.
    window_choices: list[Annotated[int, Field(ge=1)]] = Field(default_factory=list)
    window_choice_blocks: int = Field(default=3, ge=1, le=10)
    primary_metric: str = "rmse"
    seed: int = 42


class DriftSpec(_Model):
    numeric_method: Literal["ks", "psi", "wasserstein"] = "psi"
    numeric_threshold: float = Field(default=0.2, gt=0)
    categorical_method: Literal["psi", "jensenshannon", "chisquare"] = "psi"
    categorical_threshold: float = Field(default=0.2, gt=0)
    warn_share: float = Field(default=0.3, gt=0, le=1)
    error_share: float = Field(default=0.5, gt=0, le=1)
    min_rows: int = Field(default=30, ge=1)
    # The drift reference: the newest this-many partitions of the champion's training window.
    # None (the default): its whole training window, the rows the model learned from. A shorter
    # reference calls whatever the model saw outside it "drift": rows ordered by a group in
    # three-week cycles, against two weeks of reference, raised alarms on a stream without drift.
    # Cost: calibration runs (reference - current window + 1) drift computations per monitoring
    # run (90 partitions of 10,000 rows: about 10 s here); cap it when partitions are large.
    reference_partitions: int | None = Field(default=None, ge=1)
    # The current window rolls over this many partitions ending at the monitored one: a day of
    # 24 hourly rows is too small a sample for a stable PSI, a week is not.
    current_window_partitions: int = Field(default=1, ge=1)
    # Columns not monitored for drift: calendar columns take one value per daily partition and
    # would "drift" every day by construction.
    exclude: list[str] = Field(default_factory=list)
    report_sample_rows: int = Field(default=5000, ge=100)
    # Calibrate the thresholds on the reference itself (lib/monitoring/calibration.py): a window
    # counts as drifted only if it drifts more than windows inside the training period drift from
    # the rest of it. Fixed thresholds alone flagged 99 % of bike_sharing's weeks (weather moves
    # week to week); the thresholds above stay as floors. False: the fixed thresholds alone.
    calibrate: bool = True
    # The internal bar is this quantile of the reference windows' scores (the 1 - q quantile of
    # chi-square p-values). Too few non-overlapping windows to resolve it (< 1 / (1 - q)): the max.
    calibration_quantile: float = Field(default=0.95, gt=0.5, le=1)
    # Head-room over the internal bar (p-values: raised to this power), because a short reference
    # shows only a few independent windows. 1.5 is the knee on bike_sharing 2011-2012
    # (benchmarks/bench_drift_calibration.py): 1.25 flags 41 % of weeks, 1.5 30 %, 1.75 26 % but
    # catches an injected humidity jump in 38 % of calm weeks instead of 52 %.
    calibration_margin: float = Field(default=1.5, ge=1)


class PromotionSpec(_Model):
    bootstrap_samples: int = Field(default=500, ge=50)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    # 0 (default): non-inferiority, the gate of a loop that retrains on fresh data. Above 0: the
    # improvement's lower bound must clear it (a superiority gate, in the metric's units).
    min_improvement: float = Field(default=0.0, ge=0)
    # How much worse than the champion (relative to its score) the challenger may be at the
    # lower bound of the improvement interval and still be promoted. 5 %: at 1 % a few hundred
    # rows rejected fresh challengers whose point estimate was better (bootstrap intervals are
    # wider than 1 % there), and on moving data the fresher model is the safer bet. A challenger
    # whose whole interval lies below 0 is rejected whatever the margin: the evidence says worse.
    non_inferiority_margin: float = Field(default=0.05, ge=0, lt=1)
    # Evaluation rows needed to judge non-inferiority. Fewer (at least 30): a challenger at least
    # as good by the point estimate and not confidently worse is promoted (with `min_improvement`
    # above 0: only one clearly better); otherwise "insufficient evidence", the champion is kept.
    min_rows: int = Field(default=200, ge=1)
    # Rolling-origin folds over the holdout partitions: each fold is predicted by a model fitted
    # on everything before it, so the challenger is judged as it will serve (freshly trained).
    backtest_folds: int = Field(default=3, ge=1)
    # Refit the winner on the whole window, evaluation partitions included, before it goes live.
    refit: bool = True
    slice_tolerance: float = Field(default=0.05, ge=0)
    fairness_tolerance: float = Field(default=0.05, ge=0)
    keep_versions: int = Field(default=5, ge=2)
    # The maintenance job deletes the model files of retired versions (they can no longer be
    # loaded, served or restored; record, metrics and lineage stay, and `reproduce` rebuilds
    # one). False keeps every version's files, e.g. where an audit needs the exact bytes.
    purge_retired_models: bool = True
    # A person approves each promotion (spec_approval.py); off: the gate's verdict is applied at once.
    approval: ApprovalSpec = ApprovalSpec()


class RetrainingSpec(_Model):
    consecutive_drift: int = Field(default=2, ge=1)
    # Counted from a retrain's as-of: the cooldown from the newest retrain whose model went live (a
    # challenger the gate turned down left the champion it was judged against; fresh evidence
    # against it need not wait), the cap from every finished retrain. The defaults allow at most a
    # quarter of the retrains an oracle would make (8 per 32 partitions): backtests on drifting
    # data reach 98 % of the oracle only with retrains that frequent while the data moves; the
    # signals decide when.
    cooldown_partitions: int = Field(default=4, ge=0)
    max_retrains: int = Field(default=8, ge=1)
    # A retrain run past this is failed (run monitoring, else the sensor: run_limits.py) and retried.
    max_runtime_minutes: int = Field(default=120, ge=1)
    per_partitions: int = Field(default=32, ge=1)
    fallback_cron: str = "0 3 * * 0"
    # Performance signals (lib/monitoring/signals.py): a window counts as degraded when its metric
    # is worse than its baseline by more than this share (for ROC-AUC, of the baseline's distance
    # above chance) AND by more than `performance_z` times its bootstrap standard error (a
    # realized ROC-AUC whose window holds fewer than `performance_min_rows` rows of a class: at
    # least the standard error the class counts give).
    performance_margin: float = Field(default=0.05, ge=0, lt=1)
    performance_z: float = Field(default=2.5, gt=0)
    # Labelled partitions in a row with degraded realized performance that trigger a retrain.
    performance_consecutive: int = Field(default=2, ge=1)
    # Rows a window needs before a performance signal gives a verdict; a classifier's realized
    # window reaches back until its rarer class holds this many.
    performance_min_rows: int = Field(default=30, ge=1)
    # True: drift triggers only with some performance signal degraded; False: drift triggers
    # unless every partition of the streak has a performance verdict and none is degraded.
    drift_requires_performance: bool = False
    # Follow-ups: after a retrain, retrain again this many partitions after its as-of while
    # retraining pays off (the challenger beat the champion it was judged against: the data is
    # moving and the window is catching up). Each retrain that did not pay off doubles the wait;
    # after `follow_up_misses` of them in a row the chain stops until a signal starts a new one.
    # One that gained twice `performance_margin` comes back after half the spacing (not below
    # `per_partitions` / `max_retrains`); one the gate could not judge for want of rows lengthens
    # it by the rows it lacked. The first model starts no chain. 0 turns follow-ups off.
    follow_up_partitions: int = Field(default=7, ge=0)
    follow_up_misses: int = Field(default=2, ge=0)
    # Labelled partitions the realized-performance window spans (more rows, less noise).
    performance_window_partitions: int = Field(default=7, ge=1)
    # An episode (drift or degraded performance in a row) whose retrain was not promoted triggers
    # again this many partitions later while it lasts: by then the gate's evaluation window holds
    # more of the changed data. 0: one retrain per episode.
    rearm_partitions: int = Field(default=7, ge=0)
    # Growth: a whole performance window of partitions in a row holding at least this many times
    # the rows per partition the champion trained on triggers a retrain: a window of the grown
    # feed teaches a model more than the champion saw (and no drift or error need say so).
    # 0 turns it off; otherwise above 1.
    growth_factor: float = Field(default=3.0, ge=0)

    @field_validator("growth_factor")
    @classmethod
    def _growth(cls, value: float) -> float:
        if 0 < value <= 1:
            raise ValueError(f"growth_factor {value} must be 0 (off) or above 1")
        return value


class MonitoringSpec(_Model):
    label_delay_partitions: int = Field(default=1, ge=0)
    # Raw data health (lib/ingestion/health.py), on the data's own clock. Freshness: a partition
    # whose newest row arrived this long before it closed is late (WARN, then ERROR). Unset: an
    # eighth and a quarter of one partition (3 h and 6 h of a day).
    freshness_warn_after: timedelta | None = Field(default=None, gt=timedelta(0))
    freshness_error_after: timedelta | None = Field(default=None, gt=timedelta(0))
    # Row count: against the median of this many earlier partitions with rows; outside
    # [low, high] x that median is a WARN, an empty partition an ERROR.
    row_count_window: int = Field(default=14, ge=3)
    row_count_low: float = Field(default=0.5, gt=0, lt=1)
    row_count_high: float = Field(default=2.0, gt=1)

    @model_validator(mode="after")
    def _freshness_ordered(self) -> MonitoringSpec:
        warn, error = self.freshness_warn_after, self.freshness_error_after
        if warn is not None and error is not None and warn >= error:
            raise ValueError(
                f"freshness_warn_after ({warn}) must be shorter than freshness_error_after ({error})"
            )
        return self


class ServingSpec(_Model):
    entity_key: str | None = None
    shadow: bool = True
    canary_share: float = Field(default=0.0, ge=0, le=1)
    max_batch_rows: int = Field(default=1000, ge=1)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    canary_max_error_rate: float = Field(default=0.05, ge=0, le=1)
    canary_max_p99_ms: float = Field(default=250.0, gt=0)
    baking_requests: int = Field(default=500, ge=1)
    # auto: compile to ONNX when it matches scikit-learn on the model's input example, else
    # scikit-learn; onnx: refuse a version that does not compile; sklearn: never compile.
    runtime: Literal["auto", "onnx", "sklearn"] = "auto"


class ProjectSpec(_Model):
    name: str
    description: str = ""
    task: Task
    source: SourceSpec
    columns: dict[str, ColumnSpec] = Field(alias="schema")
    target: str
    time: TimeSpec
    partitions: PartitionSpec
    features: FeatureSpec = FeatureSpec()
    sensitive_attributes: list[str] = Field(default_factory=list)
    slices: list[str] = Field(default_factory=list)
    kpis: list[KPI] = Field(default_factory=list)
    validation: ValidationSpec = ValidationSpec()
    training: TrainingSpec = TrainingSpec()
    drift: DriftSpec = DriftSpec()
    promotion: PromotionSpec = PromotionSpec()
    retraining: RetrainingSpec = RetrainingSpec()
    monitoring: MonitoringSpec = MonitoringSpec()
    serving: ServingSpec = ServingSpec()
    data_dir: str | None = Field(default=None, description="overrides MLOPS_DATA_DIR for this project")

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError("must be lowercase letters, digits and '_', starting with a letter")
        return value

    @model_validator(mode="after")
    def _columns_exist(self) -> ProjectSpec:
        known = set(self.columns)
        named = {"target": [self.target], "features.exclude": self.features.exclude}
        named["sensitive_attributes"] = self.sensitive_attributes
        named["slices"] = self.slices
        if self.time.column:
            named["time.column"] = [self.time.column]
        if self.time.hour_column:
            named["time.hour_column"] = [self.time.hour_column]
        if self.time.month_column:
            named["time.month_column"] = [self.time.month_column]
        if self.time.day_column:
            named["time.day_column"] = [self.time.day_column]
        if self.drift.exclude:
            named["drift.exclude"] = self.drift.exclude
        if self.serving.entity_key:
            named["serving.entity_key"] = [self.serving.entity_key]
        if self.validation.rules:
            named["validation.rules"] = [c for rule in self.validation.rules for c in rule_columns(rule)]
        if self.source.join:
            named["source.join.on"] = [key for join in self.source.join for key in join.on]
        for field, cols in named.items():
            missing = [c for c in cols if c not in known]
            if missing:
                hint = "".join(f"; '{c}'{did_you_mean(c, known).removeprefix(';')}" for c in missing)
                hint = hint if "did you mean" in hint else ""
                raise ValueError(f"{field} names column(s) {missing} that are not in 'schema'{hint}")
        if not self.feature_columns and not self.features.time_features:
            # Caught here, once, by name: otherwise the first training run fails on an empty pipeline.
            left_out = ", ".join([c for c in (self.target, self.time.column) if c] + self.features.exclude)
            fix = (
                "add features.time_features (hour, dayofweek, month) for a series with only a time "
                "and a target, or keep a column out of features.exclude"
                if self.time.column
                else "keep a column out of features.exclude, or add one to learn from"
            )
            raise ValueError(
                f"no feature columns: every schema column is the target, the time column or in "
                f"features.exclude ({left_out}); {fix}"
            )
        if self.task.is_classification and self.columns[self.target].dtype not in ("str", "int", "bool"):
            raise ValueError(f"target '{self.target}' of a {self.task.value} task must be str, int or bool")
        if self.task is Task.REGRESSION and self.columns[self.target].dtype not in ("int", "float"):
            raise ValueError(f"target '{self.target}' of a regression task must be int or float")
        return self

    @model_validator(mode="after")
    def _partitions_within_data(self) -> ProjectSpec:
        # A simulator's data ends `days` after its start (lib/data_end.py): later partitions stay empty.
        simulator, end = self.source.simulator, self.partitions.end
        if self.source.kind == "simulator" and simulator is not None and end is not None:
            data_end = simulator.start + timedelta(days=simulator.days)
            if end > data_end:
                raise ValueError(
                    f"partitions.end ({end}) is after the simulator's data ends ({data_end}, "
                    "simulator.start + simulator.days): those partitions would stay empty; "
                    "lower partitions.end or raise simulator.days"
                )
        if self.source.kind == "simulator" and simulator is not None:
            # The simulator emits `busy` exactly when busy_above is set: a schema that disagrees
            # would fail every batch's validation instead of failing here, once, by name.
            emits, declared = simulator.busy_above is not None, "busy" in self.columns
            if emits != declared:
                raise ValueError(
                    "schema declares column 'busy' but source.simulator.busy_above is not set"
                    if declared
                    else "source.simulator.busy_above is set: declare column 'busy' in 'schema' "
                    '({dtype: str, categories: ["no", "yes"]}) and exclude \'demand\' from features'
                )
            # `busy` is `demand` thresholded: whichever is not the target would leak it.
            other = {"busy": "demand", "demand": "busy"}.get(self.target)
            if emits and other is not None and other not in self.features.exclude:
                raise ValueError(
                    f"features.exclude must list '{other}': with source.simulator.busy_above it is "
                    f"derived from the target '{self.target}' and would leak it"
                )
        return self

    @property
    def feature_columns(self) -> list[str]:
        """Input columns the model sees (before derived time features)."""
        dropped = {self.target, *self.features.exclude}
        if self.time.column:
            dropped.add(self.time.column)
        return [c for c in self.columns if c not in dropped]

    @property
    def drift_reference_partitions(self) -> int:
        """How many partitions a drift reference spans before any champion says what it trained
        on (`drift.reference_partitions`, else the training window)."""
        return self.drift.reference_partitions or self.training.window_partitions

    @property
    def classes(self) -> list[str] | None:
        target = self.columns[self.target]
        return list(target.categories) if target.categories else None


def _format_error(path: Path, err: ValidationError) -> str:
    lines = []
    for item in err.errors():
        loc = ".".join(str(p) for p in item["loc"]) or "<root>"
        lines.append(f"{path}: field '{loc}': {item['msg']}")
    return "\n".join(lines)


def parse_spec(data: Any, source: Path | str = "<memory>") -> ProjectSpec:
    path = Path(source)
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return ProjectSpec.model_validate(data)
    except ValidationError as err:
        raise SpecError(_format_error(path, err)) from None


def load_spec(path: Path | str) -> ProjectSpec:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise SpecError(f"{path}: cannot read spec: {err.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise SpecError(f"{path}: invalid YAML: {err}") from None
    return parse_spec(data, path)


def spec_directories(extra: str | None = None) -> list[Path]:
    """Packaged examples first, then the user's directory (env var read at call time)."""
    dirs = [PACKAGED_PROJECTS]
    user = extra if extra is not None else os.environ.get(PROJECTS_DIR_ENV)
    if user:
        dirs.extend(Path(p) for p in user.split(os.pathsep) if p)
    return dirs


def load_specs(directories: list[Path] | None = None) -> dict[str, ProjectSpec]:
    """All specs by name; a later directory overrides an earlier one's project of the same name."""
    specs: dict[str, ProjectSpec] = {}
    for directory in directories or spec_directories():
        if not directory.is_dir():
            raise SpecError(f"{directory}: projects directory does not exist")
        for path in sorted(directory.glob("*.y*ml")):
            spec = load_spec(path)
            specs[spec.name] = spec
    return specs
