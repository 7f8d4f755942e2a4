"""The loop's own champion gate, called on a replayed challenge.

The replay has no registry: its challenger is the recipe's rolling-origin predictions and its
champion the cached fit that served. Both are turned into the `Evidence` the real gate reads
(`evaluation_of` on the same rows, slices and fairness included) and `decide_promotion`
decides, so a backtest verdict is the verdict the champion asset would record on the same
rows. "Improved" is what the follow-up rule of the policy needs: promoted, and better than the
champion on the compared rows (the point estimate: on moving data a fresh model keeps winning,
on stable data it wins about half the time and the chain's backoff ends it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pandas as pd

from mlops_pipelines.lib.monitoring.policy_records import evidence_share, relative_gain

if TYPE_CHECKING:
    from mlops_pipelines.lib.backtest.models import ModelBank
    from mlops_pipelines.lib.evaluation.backtest import EvaluationRows
    from mlops_pipelines.lib.metrics import Predictions

# The replay's decisions carry no wall-clock meaning; one fixed instant keeps records stable.
REPLAY_DECIDED_AT = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class GateVerdict:
    verdict: str  # promote | reject | insufficient_evidence
    reason: str
    improved: bool | None  # promoted AND better than the champion; None: the gate could not judge
    evidence_share: float | None = None  # insufficient evidence: compared rows / the rows needed
    gain: float | None = None  # the improvement relative to the champion's score


def _rows(bank: ModelBank, partitions: list[int]) -> EvaluationRows:
    """The labelled rows of consecutive `partitions`, in the history's (= the gate's) order."""
    from mlops_pipelines.lib.evaluation.backtest import EvaluationRows
    from mlops_pipelines.lib.frames import PARTITION
    from mlops_pipelines.lib.training.window import split_features

    frame = bank.history.rows(partitions[0], partitions[-1])
    return EvaluationRows(split_features(frame, bank.history.spec), frame[PARTITION].to_numpy(dtype=object))


def _positional(pred: Predictions) -> Predictions:
    """The same predictions indexed 0..n-1, as `split_features` indexes the rows."""
    return replace(pred, index=pd.RangeIndex(len(pred.y_true)))


def judge(
    bank: ModelBank,
    partitions: list[int],
    pooled: Predictions,
    comparable: list[int],
    challenger: Predictions,
    champion: Predictions,
    versions: tuple[str, str],
) -> GateVerdict:
    """`decide_promotion` on the challenger's pooled predictions over `partitions` and both
    models on the `comparable` ones (a suffix of `partitions`); `versions` = (challenger, champion)."""
    from mlops_pipelines.lib.evaluation.backtest import evaluation_of
    from mlops_pipelines.lib.promotion.gate import Evidence, decide_promotion

    spec, keys = bank.history.spec, bank.history.keys
    everything = _rows(bank, partitions)
    compared = _rows(bank, comparable)
    if len(compared) != len(challenger.y_true) or len(compared) != len(champion.y_true):
        raise ValueError(
            f"{spec.name}: {len(compared)} comparable rows but {len(challenger.y_true)} challenger and "
            f"{len(champion.y_true)} champion predictions"
        )
    excluded = tuple(keys[p] for p in partitions if p not in comparable)
    evidence = Evidence(
        challenger_version=versions[0],
        evaluated=evaluation_of(_positional(pooled), everything, spec),
        evaluated_partitions=tuple(keys[p] for p in partitions),
        champion_version=versions[1],
        challenger=evaluation_of(_positional(challenger), compared, spec),
        champion=evaluation_of(_positional(champion), compared, spec),
        excluded_partitions=excluded,
    )
    decision = decide_promotion(evidence, spec, decided_at=REPLAY_DECIDED_AT)
    if decision.verdict == "insufficient_evidence":
        share = evidence_share(decision.compared_rows, spec.promotion.min_rows)
        return GateVerdict(decision.verdict, "; ".join(decision.reasons), None, share)
    improved = decision.verdict == "promote" and decision.improvement is not None and decision.improvement > 0
    gain = relative_gain(decision.improvement, decision.champion_score)
    return GateVerdict(decision.verdict, "; ".join(decision.reasons), improved, None, gain)


def insufficient(reason: str) -> GateVerdict:
    """No comparison at all (no labelled partition the champion did not train on): no rows."""
    return GateVerdict("insufficient_evidence", reason, None, 0.0)
