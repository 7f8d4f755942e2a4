"""The gate's decision record: the verdict and every number behind it, stored with the versions.

Frozen pydantic models, so a record round-trips through JSON (the registry tags it on the
versions it names, and the decision file a person opens is its JSON). Fields added after the
first records were written have defaults, so older records still load.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from mlops_pipelines.lib.evaluation.holdout import KpiResult

# "pending": the gate would promote, but the project wants a person to approve it first.
Verdict = Literal["promote", "reject", "insufficient_evidence", "pending"]


class ApprovalRecord(BaseModel):
    """A person's approval of a promotion (lib/registry/approvals.py writes it into the record)."""

    model_config = ConfigDict(frozen=True)
    status: Literal["pending", "approved", "rejected", "expired"]
    requested_at: datetime
    expires_at: datetime
    champion_before: str | None  # the champion the verdict was judged against
    by: str | None = None
    reason: str | None = None
    decided_at: datetime | None = None


class SliceRegression(BaseModel):
    model_config = ConfigDict(frozen=True)
    column: str
    value: str
    n: int
    metric: str
    challenger: float
    champion: float
    relative_worsening: float  # 0.12 = 12% worse than the champion (point estimate)
    ci_low: float | None = None  # the slice's improvement interval (positive = better)
    ci_high: float | None = None


class FairnessRegression(BaseModel):
    model_config = ConfigDict(frozen=True)
    attribute: str
    metric: str
    challenger: float
    champion: float
    increase: float  # absolute; every fairness metric here is a gap, lower is better


class DecisionRecord(BaseModel):
    model_config = ConfigDict(frozen=True)
    project: str
    challenger_version: str  # the evaluated version
    champion_version: str | None
    metric: str
    higher_is_better: bool
    n_rows: int  # evaluated rows (pooled)
    challenger_score: float | None  # on the compared rows (every evaluated row without a champion)
    champion_score: float | None
    improvement: float | None  # challenger - champion, sign-adjusted: positive is better
    ci_low: float | None
    ci_high: float | None
    confidence: float
    bootstrap_samples: int
    min_improvement: float
    kpis: list[KpiResult]
    slice_regressions: list[SliceRegression]
    fairness_regressions: list[FairnessRegression]
    verdict: Verdict
    reasons: list[str]
    decided_at: datetime
    margin: float = 0.0  # non-inferiority margin, relative to the champion's score
    compared_rows: int | None = None  # None: no champion to compare with
    evaluated_score: float | None = None  # the challenger's pooled out-of-sample score
    evaluated_partitions: list[str] = []
    # Evaluated, but inside the champion's training range or predicted by a staler fold.
    excluded_partitions: list[str] = []
    kpi_flags: list[str] = []  # every KPI the challenger breaches, blocking or not
    needs_attention: bool = False  # promoted with a KPI breach: alert a person
    evaluated_version: str | None = None  # the version the gate judged (= challenger_version)
    refit_version: str | None = None  # the go-live refit of it; None until refit (or without one)
    approval: ApprovalRecord | None = None  # None: no approval asked (the project does not require one)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)
