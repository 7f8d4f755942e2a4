"""How many partitions a model learns from: the spec's window, unless another length proved better.

`training.window_choices` names other window lengths to try (in partitions). Each length,
the spec's own included, is fitted on the partitions just before each of the newest
`window_choice_blocks` validation blocks (each `holdout_partitions` long, newest first) and
scored on that block, with the same parameters. Another length replaces the spec's window only
when it is better on every block AND the paired bootstrap interval of its improvement over the
pooled blocks lies wholly above zero (`promotion.confidence`); among several, the best pooled
score wins.

Why every block and not one holdout: on bike rentals by week (56 rows per block) a single
block, even with a 90 % bootstrap interval, once chose a 52-week window over 26 weeks, and that
model served at about half the quality on a growing series for the next four weeks. A length
that wins three blocks in a row is a property of the stream, not of one season's coincidence.

Pure: the caller fits and predicts (`FitPredict`), so the loop's training and the offline
backtest make the same choice with the same code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from mlops_pipelines.lib.metrics import Predictions
    from mlops_pipelines.spec import ProjectSpec


@dataclass(frozen=True)
class Fold:
    """Indexes into the labelled partitions (oldest 0): learn first..last, predict test_first..test_last."""

    first: int
    last: int
    test_first: int
    test_last: int


FitPredict = Callable[[Fold], "Predictions"]


class FoldError(ValueError):
    """A validation fold that cannot judge a length (its block holds a class the fold never saw)."""


NO_BETTER = "the spec's window: no other length was better on every block and clearly overall"


@dataclass(frozen=True)
class Candidate:
    partitions: int
    block_scores: tuple[float, ...]  # newest block first
    pooled: float
    wins_every_block: bool  # better than the spec's window on each block (False for the spec's own)
    improvement_low: float | None  # lower bound of the pooled improvement interval (positive = better)


@dataclass(frozen=True)
class WindowChoice:
    partitions: int  # the length the served model learns from
    default: int  # the spec's `window_partitions`
    candidates: tuple[Candidate, ...]  # the lengths tried, spec's first; empty when none was tried
    reason: str

    @property
    def changed(self) -> bool:
        return self.partitions != self.default


def candidate_lengths(spec: ProjectSpec) -> tuple[int, ...]:
    """The spec's window first, then each other `window_choices` length once."""
    own = spec.training.window_partitions
    return tuple(dict.fromkeys([own, *spec.training.window_choices]))


def validation_folds(labelled: int, length: int, spec: ProjectSpec) -> list[Fold] | None:
    """The folds that judge a `length`-partition window over `labelled` labelled partitions, newest
    block first; None when the oldest block leaves fewer than the training minimum before it."""
    block = spec.training.holdout_partitions
    minimum = max(2, spec.training.cv_folds)
    folds = []
    for b in range(spec.training.window_choice_blocks):
        test_last = labelled - 1 - b * block
        test_first = test_last - block + 1
        first = max(0, test_first - length)
        if test_first - first < minimum:
            return None
        folds.append(Fold(first, test_first - 1, test_first, test_last))
    return folds


def fit_and_score(
    train: tuple[pd.DataFrame, pd.Series],
    test: tuple[pd.DataFrame, pd.Series],
    spec: ProjectSpec,
    params: Mapping[str, Any],
) -> Predictions:
    """One fold: fit on `train` (features, target) with `params` and predict `test`. FoldError when
    the test block holds a class the fold never saw; FitError (fit_pipeline) when the fold holds
    one class or no rows."""
    from mlops_pipelines.lib.metrics import predict
    from mlops_pipelines.lib.training.fit import fit_pipeline

    if spec.task.is_classification:
        unseen = sorted(set(test[1].astype("str")) - set(train[1].astype("str")))
        if unseen:
            raise FoldError(f"class(es) {unseen} of a validation block are not in the rows before it")
    model = fit_pipeline(train[0], train[1], spec, params)
    return predict(model, test[0], test[1], spec)


def choose_window(labelled: int, spec: ProjectSpec, fit_predict: FitPredict) -> WindowChoice:
    """The window length to train on, given `labelled` labelled partitions (see the module doc).

    A fold that cannot judge (a class unseen before its block, a fold of one class, a metric
    undefined on a block) keeps the spec's window, and the reason names it: the choice is an
    optimisation, and the spec's window is what the loop would train on without it."""
    from mlops_pipelines.lib.metrics import UndefinedMetricError
    from mlops_pipelines.lib.training.fit import FitError

    own = spec.training.window_partitions
    lengths = candidate_lengths(spec)
    if len(lengths) == 1:
        return WindowChoice(own, own, (), "the spec's window (no other lengths to try)")
    base_folds = validation_folds(labelled, own, spec)
    if base_folds is None:
        return WindowChoice(
            own, own, (), f"the spec's window: {labelled} labelled partitions are too few to compare"
        )
    try:
        return _compare(labelled, spec, fit_predict, base_folds)
    except (UndefinedMetricError, FitError, FoldError) as error:  # e.g. ROC-AUC on a one-class block
        return WindowChoice(own, own, (), f"the spec's window: a validation fold cannot judge ({error})")


def _compare(
    labelled: int, spec: ProjectSpec, fit_predict: FitPredict, base_folds: list[Fold]
) -> WindowChoice:
    from mlops_pipelines.lib.metrics import concat, higher_is_better, metric_value
    from mlops_pipelines.lib.promotion.rules import improvement_interval

    own, lengths = spec.training.window_partitions, candidate_lengths(spec)
    metric, task = spec.training.primary_metric, spec.task
    sign = 1.0 if higher_is_better(metric) else -1.0
    base = [fit_predict(f) for f in base_folds]
    base_scores = tuple(metric_value(p, metric, task) for p in base)
    candidates = [Candidate(own, base_scores, metric_value(concat(base), metric, task), False, None)]
    seen = {tuple(f.first for f in base_folds)}
    for length in lengths[1:]:
        folds = validation_folds(labelled, length, spec)
        if folds is None or tuple(f.first for f in folds) in seen:
            continue  # too little history for this length, or the same rows as a length tried
        seen.add(tuple(f.first for f in folds))
        preds = [fit_predict(f) for f in folds]
        scores = tuple(metric_value(p, metric, task) for p in preds)
        wins = all(sign * (s - b) > 0 for s, b in zip(scores, base_scores, strict=True))
        low = None
        if wins:
            promotion = spec.promotion
            low = improvement_interval(
                concat(preds),
                concat(base),
                metric,
                promotion.bootstrap_samples,
                promotion.confidence,
                spec.training.seed,
            ).low
        candidates.append(Candidate(length, scores, metric_value(concat(preds), metric, task), wins, low))
    proven = [
        c
        for c in candidates[1:]
        if c.wins_every_block and c.improvement_low is not None and c.improvement_low > 0
    ]
    if not proven:
        return WindowChoice(
            own,
            own,
            tuple(candidates),
            NO_BETTER,
        )
    best = max(proven, key=lambda c: sign * c.pooled)
    blocks = len(best.block_scores)
    reason = (
        f"{best.partitions} partitions instead of {own}: better {metric} on each of the newest {blocks} "
        f"validation blocks ({_fmt(best.pooled)} vs {_fmt(candidates[0].pooled)} pooled) and clearly overall"
    )
    return WindowChoice(best.partitions, own, tuple(candidates), reason)


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def window_reach(spec: ProjectSpec) -> int:
    """How many of the newest labelled partitions a choice reads: the longest length before the
    oldest validation block, plus the blocks."""
    return (
        max(candidate_lengths(spec)) + spec.training.window_choice_blocks * spec.training.holdout_partitions
    )


def choose_from_rows(
    spec: ProjectSpec, labelled: list[str], rows: pd.DataFrame, params: Mapping[str, Any]
) -> WindowChoice:
    """`choose_window` over rows of the features table (`rows`: at least the newest
    `window_reach` of the `labelled` partitions), each length fitted with `params`."""
    from mlops_pipelines.lib.frames import PARTITION
    from mlops_pipelines.lib.training.window import split_features

    partition = rows[PARTITION]

    def part(first: int, last: int) -> tuple[pd.DataFrame, pd.Series]:
        labelled_rows = split_features(rows[partition.isin(labelled[first : last + 1])], spec)
        return labelled_rows.features, labelled_rows.target

    def fit_predict(fold: Fold) -> Predictions:
        return fit_and_score(part(fold.first, fold.last), part(fold.test_first, fold.test_last), spec, params)

    return choose_window(len(labelled), spec, fit_predict)


def choice_json(choice: WindowChoice) -> dict[str, Any]:
    """The choice for MLflow and asset metadata: each length's block scores and interval."""
    return {
        "chosen_partitions": choice.partitions,
        "spec_partitions": choice.default,
        "reason": choice.reason,
        "candidates": [
            {
                "partitions": c.partitions,
                "block_scores_newest_first": list(c.block_scores),
                "pooled": c.pooled,
                "better_on_every_block": c.wins_every_block,
                "improvement_lower_bound": c.improvement_low,
            }
            for c in choice.candidates
        ],
    }
