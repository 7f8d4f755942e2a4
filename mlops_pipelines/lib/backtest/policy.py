"""The project's own policy, replayed partition by partition with the loop's own functions.

After each partition closes: its calibrated drift and estimated performance are observed, the
labels of the partition `label_delay` back arrive and its realized performance is observed,
then `should_retrain` (the sensor's pure policy) decides with the retrain history so far. A
retrain judges the challenger recipe the way the gate does (rolling-origin folds over the
newest labelled partitions, against the champion on the same rows it did not train on) with
the loop's own `decide_promotion` (`backtest.gate`) and, on "promote", the refit as of the
decision partition serves from the next one.

Differences from a Dagster replay, on purpose and documented: hyperparameters are searched once
(at bootstrap) instead of at every retrain, and the gate's champion comparison runs on the
backtest's cached fits; everything that decides WHEN to retrain is the loop's own code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops_pipelines.lib.backtest.gate import insufficient, judge
from mlops_pipelines.lib.backtest.models import holdout_size
from mlops_pipelines.lib.backtest.schedules import ReplayEvent, Schedule
from mlops_pipelines.lib.backtest.scoring import concat
from mlops_pipelines.lib.backtest.signals import (
    ReplayChampion,
    champion_of,
    drift_observation,
    observation,
    realized_observation,
)
from mlops_pipelines.lib.evaluation.backtest import fold_count, fold_partitions
from mlops_pipelines.lib.monitoring.policy import (
    DRIFT_STATUSES,
    MonitoringObservation,
    RetrainRecord,
    should_retrain,
)

if TYPE_CHECKING:
    from mlops_pipelines.lib.backtest.history import History
    from mlops_pipelines.lib.backtest.models import ModelBank
    from mlops_pipelines.lib.metrics import Predictions


@dataclass(frozen=True)
class Challenge:
    partitions: list[int]  # the evaluation partitions
    pooled: Predictions  # the recipe's out-of-sample predictions on all of them (rolling origin)
    comparable: list[int]  # the evaluation partitions the champion did not train on
    challenger: Predictions  # the pooled predictions on the comparable partitions
    champion: Predictions | None  # the champion there (None: no comparable partition)


def origin_folds(history: History, as_of: int) -> tuple[list[int], list[tuple[list[int], int]]] | None:
    """The newest labelled partitions as of `as_of` the loop evaluates on (`holdout_size`) and
    its folds, each with the as-of its recipe model is fitted at (when the fold's first partition
    opens: labels up to the partition before it); None when none is labelled yet."""
    spec = history.spec
    last = as_of - spec.monitoring.label_delay_partitions
    if last < 0:
        return None
    k = holdout_size(history, last)
    partitions = list(range(max(0, last - k + 1), last + 1))
    if not partitions:
        return None
    holdout = min(spec.training.holdout_partitions, len(partitions))
    count = fold_count(len(partitions), holdout, spec.promotion.backtest_folds)
    delay = spec.monitoring.label_delay_partitions
    # The loop's folds (`evaluation.backtest`).
    folds = [(list(run), run[0] - 1 + delay) for run in fold_partitions(partitions, count)]
    return partitions, folds


def retrain_problem(history: History, as_of: int) -> str | None:
    """Why the loop's retrain as of `as_of` would fail for its labels, or None: its training
    window cannot be learned (`readiness`: a classifier's window of one class), or a fold model
    of its evaluation would be fitted on one class. The loop's run fails then and its champion
    keeps serving; the replay does the same."""
    from mlops_pipelines.lib.backtest.models import fit_window, training_problem

    problem = training_problem(history, as_of)
    planned = origin_folds(history, as_of) if history.spec.task.is_classification else None
    for fold, fit_as_of in planned[1] if planned and problem is None else []:
        window = fit_window(history, fit_as_of, fold=True)
        if window is None:  # no fold model: the first model has no evaluation yet, as in the loop
            continue
        labels = history.target(window.first, window.last).astype("str")
        if labels.nunique() < 2:
            keys = history.keys
            return (
                f"the evaluation fold {keys[fold[0]]}..{keys[fold[-1]]} would be fitted on "
                f"{keys[window.first]}..{keys[window.last]}: a single class {labels.unique().tolist()}"
            )
    return problem


def rolling_origin(bank: ModelBank, as_of: int, champion: ReplayChampion | None) -> Challenge | None:
    """The evaluation partitions as of `as_of` (`origin_folds`), each fold predicted by the
    recipe fitted on everything before it; None when none is labelled yet."""
    spec = bank.history.spec
    planned = origin_folds(bank.history, as_of)
    if planned is None:
        return None
    partitions, folds = planned
    parts: list[Predictions] = []
    learned_until: dict[int, int] = {}  # partition -> the newest partition its fold model learned from
    for fold, fit_as_of in folds:
        if not bank.fittable(fit_as_of):
            return None
        parts.extend(bank.predict(fit_as_of, p) for p in fold)
        learned_until.update((p, fold[0] - 1) for p in fold)
    pooled = concat(parts)
    if champion is None:
        return Challenge(partitions, pooled, [], pooled, None)
    # As the loop's gate (`promotion.evidence.excluded_partitions`): not where the champion saw
    # the labels, nor where the fold model learned from older data than the champion.
    trained_until = champion.model_at - spec.monitoring.label_delay_partitions
    comparable = [p for p in partitions if p > trained_until and learned_until[p] >= trained_until]
    if not comparable:
        return Challenge(partitions, pooled, [], pooled, None)
    ours = concat([parts[partitions.index(p)] for p in comparable])
    theirs = concat([bank.predict(champion.model_at, p) for p in comparable])
    return Challenge(partitions, pooled, comparable, ours, theirs)


def replay_policy(bank: ModelBank, boot: int, scored: range) -> Schedule:
    """The policy's schedule over `scored`, its retrains and the gate's decisions."""
    history, spec = bank.history, bank.history.spec
    keys = list(history.keys)
    delay = spec.monitoring.label_delay_partitions
    first = rolling_origin(bank, boot, None)
    champion = champion_of(bank, "1", boot, None if first is None else (first.partitions, first.pooled))
    observed: dict[str, MonitoringObservation] = {}
    retrains: list[RetrainRecord] = []
    serving: list[int] = []
    went_live: list[int] = []
    events: list[ReplayEvent] = []
    trainings = 1
    for i in scored:
        serving.append(champion.model_at)
        drift = drift_observation(bank, champion, i)
        observed[keys[i]] = observation(keys[i], drift, None, i, champion.label)
        if drift[0] in DRIFT_STATUSES:  # a drift alarm, whether or not it leads to a retrain
            events.append(ReplayEvent(keys[i], "alarm", None, f"drift {drift[0]}, share {drift[1]}"))
        q = i - delay
        if q >= champion.first_served and keys[q] in observed:
            realized = realized_observation(bank, champion, q)
            old = observed[keys[q]]
            observed[keys[q]] = observation(
                keys[q],
                (old.status, old.drift_share, old.estimated_degraded, old.row_growth),
                realized,
                i,
                old.champion_version or "",
            )
        decision = should_retrain(list(observed.values()), retrains, spec.retraining, keys)
        if not decision.retrain or decision.run_key is None or i + 1 >= len(keys):
            continue
        trainings += 1
        events.append(ReplayEvent(keys[i], "retrain", keys[i], decision.reason))
        trigger = decision.trigger_partition or keys[i]
        problem = retrain_problem(history, i)
        if problem is not None:  # the loop's run fails naming it, is retried, the champion serves on
            retrains.append(RetrainRecord(trigger, decision.run_key, False, keys[i]))
            events.append(ReplayEvent(keys[i], "fail", keys[i], f"{problem}; the champion keeps serving"))
            continue
        challenge = rolling_origin(bank, i, champion)
        if challenge is None or challenge.champion is None:
            outcome = insufficient("no labelled evaluation partition the champion did not train on")
        else:
            versions = (str(int(champion.label) + 1), champion.label)
            outcome = judge(
                bank,
                challenge.partitions,
                challenge.pooled,
                challenge.comparable,
                challenge.challenger,
                challenge.champion,
                versions,
            )
        promoted = outcome.verdict == "promote"
        retrains.append(
            RetrainRecord(
                trigger,
                decision.run_key,
                True,
                keys[i],
                outcome.improved,
                promoted,
                outcome.evidence_share,
                outcome.gain,
            )
        )
        kind = "promote" if promoted else "reject"
        events.append(ReplayEvent(keys[i], kind, keys[i], outcome.reason))
        if outcome.verdict != "promote" or challenge is None:
            continue
        evaluation = (challenge.partitions, challenge.pooled)
        champion = champion_of(bank, str(int(champion.label) + 1), i, evaluation)
        went_live.append(i)
    return Schedule("policy", tuple(serving), tuple(went_live), trainings, tuple(events))
