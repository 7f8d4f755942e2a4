"""Group-fairness report for binary classifiers over the spec's sensitive attributes.

Small groups make rate differences mostly noise (adult's 'Other' race has a handful of
positives in a holdout), so a group enters a difference only with enough rows or labels; the
excluded groups are listed so a reader sees what the numbers do not cover.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from mlops_pipelines.lib.metrics import Predictions

FAIRNESS_METRICS = (
    "demographic_parity_difference",
    "equal_opportunity_difference",
    "equalized_odds_difference",
)
MIN_GROUP_ROWS = 30  # rows a group needs to enter the demographic parity difference
MIN_GROUP_LABELS = 10  # positives (and negatives) a group needs to enter the error-rate differences
MISSING_GROUP = "<missing>"


@dataclass(frozen=True)
class GroupRate:
    group: str
    n: int
    positives: int  # rows whose true label is the positive class
    selection_rate: float  # share predicted positive
    true_positive_rate: float | None  # None when the group has no positive rows


@dataclass(frozen=True)
class AttributeFairness:
    attribute: str
    # None when fewer than two groups qualify: no difference can be measured.
    demographic_parity_difference: float | None
    equal_opportunity_difference: float | None
    equalized_odds_difference: float | None
    groups: tuple[GroupRate, ...]
    excluded_groups: tuple[str, ...]  # too small for at least one of the differences

    def value(self, metric: str) -> float | None:
        if metric not in FAIRNESS_METRICS:
            raise ValueError(f"unknown fairness metric '{metric}'; known: {FAIRNESS_METRICS}")
        result: float | None = getattr(self, metric)
        return result


@dataclass(frozen=True)
class FairnessReport:
    positive_label: str
    attributes: tuple[AttributeFairness, ...]

    def attribute(self, name: str) -> AttributeFairness:
        for item in self.attributes:
            if item.attribute == name:
                return item
        raise KeyError(f"fairness report has no sensitive attribute '{name}'")


def group_labels(values: pd.Series) -> np.ndarray:
    """A column's values as group names: strings, with nulls as their own group."""
    return np.asarray(
        values.astype("object").where(values.notna(), MISSING_GROUP).astype("str"), dtype=object
    )


def _difference(
    metric: str, y: np.ndarray, p: np.ndarray, groups: np.ndarray, keep: set[str]
) -> float | None:
    from fairlearn import metrics as fl

    if len(keep) < 2:
        return None
    mask = np.isin(groups, sorted(keep))
    function = getattr(fl, metric)
    return float(function(y[mask], p[mask], sensitive_features=groups[mask]))


def attribute_fairness(attribute: str, y: np.ndarray, p: np.ndarray, groups: np.ndarray) -> AttributeFairness:
    """Rate differences between the groups of one attribute; `y` and `p` are 0/1 arrays."""
    rates: list[GroupRate] = []
    by_rows: set[str] = set()
    by_positives: set[str] = set()
    by_both: set[str] = set()
    for group in sorted(set(groups)):
        mask = groups == group
        positives = int(y[mask].sum())
        negatives = int(mask.sum()) - positives
        tpr = float(p[mask][y[mask] == 1].mean()) if positives else None
        rates.append(GroupRate(group, int(mask.sum()), positives, float(p[mask].mean()), tpr))
        if mask.sum() >= MIN_GROUP_ROWS:
            by_rows.add(group)
        if positives >= MIN_GROUP_LABELS:
            by_positives.add(group)
            if negatives >= MIN_GROUP_LABELS:
                by_both.add(group)
    everyone = {rate.group for rate in rates}
    return AttributeFairness(
        attribute=attribute,
        demographic_parity_difference=_difference("demographic_parity_difference", y, p, groups, by_rows),
        equal_opportunity_difference=_difference("equal_opportunity_difference", y, p, groups, by_positives),
        equalized_odds_difference=_difference("equalized_odds_difference", y, p, groups, by_both),
        groups=tuple(rates),
        excluded_groups=tuple(sorted(everyone - (by_rows & by_positives & by_both))),
    )


def fairness_report(pred: Predictions, context: pd.DataFrame, attributes: list[str]) -> FairnessReport:
    """Fairness of a binary classifier's labels across each attribute in `context` (aligned rows)."""
    if pred.positive is None:
        raise ValueError("fairness metrics are defined here for binary classification only")
    missing = [a for a in attributes if a not in context.columns]
    if missing:
        raise ValueError(f"sensitive attribute column(s) {missing} missing from the context frame")
    y = (pred.y_true == pred.positive).astype("int64")
    p = (pred.y_pred == pred.positive).astype("int64")
    rows = context.loc[pred.index]
    report = tuple(attribute_fairness(a, y, p, group_labels(rows[a])) for a in attributes)
    return FairnessReport(positive_label=pred.positive, attributes=report)
