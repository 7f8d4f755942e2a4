"""The models a replay serves: one fit per as-of partition, cached, fitted in parallel.

Every strategy (static, periodic, oracle, the project's policy) serves models of one kind: the
spec's pipeline with the hyperparameters chosen once at bootstrap, fitted on the labelled
window ending at an as-of partition. Two strategies that retrain at the same partition serve
the same model, so each fit is made once; the oracle needs a fit at every partition, and those
are made up front on worker processes (fork: the workers inherit the history, nothing large is
pickled but the fitted pipelines coming back).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops_pipelines.lib.training.fit import fit_pipeline
from mlops_pipelines.lib.training.window import evaluation_size

PROGRESS_SECONDS = 30.0
MAX_CHUNK = 4  # fits sent to a worker at a time

if TYPE_CHECKING:
    from mlops_pipelines.lib.backtest.history import History
    from mlops_pipelines.lib.metrics import Predictions
    from mlops_pipelines.spec import ProjectSpec


@dataclass(frozen=True)
class FitWindow:
    as_of: int  # index of the newest partition the model may know of
    first: int  # first labelled partition it learns from
    last: int  # last labelled partition it learns from (as_of minus the label delay)


def holdout_size(history: History, last: int) -> int:
    """How many partitions the loop evaluates a challenger on when partitions 0..`last` are
    labelled: the spec's holdout, more when they hold too few rows (`window.evaluation_size`)."""
    return evaluation_size(np.diff(history.starts[: last + 2]).tolist(), history.spec)


def fit_window(
    history: History, as_of: int, fold: bool = False, length: int | None = None
) -> FitWindow | None:
    """The window a model trained at `as_of` learns from: the spec's training window plus its
    evaluation partitions, all labelled by then. None when too few partitions are labelled.

    A served model needs what `select_window` needs: the holdout plus the training minimum. A
    `fold` model (one that predicts an evaluation fold) needs only the training minimum: the
    loop predicts its first model's first fold with that model's own challenger, fitted on its
    training partitions alone (`evaluation.backtest`)."""
    spec = history.spec
    last = as_of - spec.monitoring.label_delay_partitions
    span = (length or spec.training.window_partitions) + spec.training.holdout_partitions
    first = max(0, last - span + 1)
    minimum = max(2, spec.training.cv_folds) + (0 if fold else spec.training.holdout_partitions)
    if last - first + 1 < minimum:
        return None
    return FitWindow(as_of, first, last)


def training_problem(history: History, as_of: int) -> str | None:
    """Why the loop's training run as of `as_of` could not learn from its window, or None: too
    few labelled partitions, or labels its search cannot learn from (`readiness`: a classifier's
    window of one class, too few rows for the CV folds). A strategy whose retrain meets one keeps
    the model it has, as the loop keeps its champion when a retrain run fails."""
    from mlops_pipelines.lib.training.readiness import learnable_problem
    from mlops_pipelines.lib.training.window import select_window

    key = history.keys[as_of]
    if fit_window(history, as_of) is None:
        return f"too few labelled partitions as of {key} for a training window and its holdout"
    window = select_window(history.keys[: as_of + 1], history.spec, key)
    first = history.keys.index(window.train[0])
    last = first + len(window.train) - 1
    problem = learnable_problem(history.target(first, last), history.spec)
    return (
        None if problem is None else f"the training window {window.train[0]}..{window.train[-1]}: {problem}"
    )


_SHARED: dict[str, Any] = {}  # the history and parameters, inherited by forked workers


def chosen_length(history: History, last: int, params: Mapping[str, Any]) -> int:
    """The window length the loop's training would choose with partitions 0..`last` labelled
    (`training.window_choices`; the spec's window when it names none)."""
    spec = history.spec
    if not spec.training.window_choices:
        return spec.training.window_partitions
    from mlops_pipelines.lib.training.window_choice import Fold, choose_window, fit_and_score

    def rows(first: int, last: int) -> tuple[Any, Any]:
        return history.features(first, last), history.target(first, last)

    def fit_predict(fold: Fold) -> Predictions:
        return fit_and_score(rows(fold.first, fold.last), rows(fold.test_first, fold.test_last), spec, params)

    return choose_window(last + 1, spec, fit_predict).partitions


def _fit(as_of: int) -> tuple[int, Any]:
    history: History = _SHARED["history"]
    window = fit_window(history, as_of, fold=True)
    assert window is not None  # callers only ask for fittable partitions
    length = chosen_length(history, window.last, _SHARED["params"])
    if length != history.spec.training.window_partitions:
        window = fit_window(history, as_of, fold=True, length=length)
        assert window is not None  # the same labelled partitions, a different reach
    return as_of, fit_pipeline(
        history.features(window.first, window.last),
        history.target(window.first, window.last),
        history.spec,
        _SHARED["params"],
    )


class ModelBank:
    """Fitted pipelines by as-of index, and their predictions by (as-of, partition)."""

    def __init__(
        self,
        history: History,
        params: Mapping[str, Any],
        workers: int | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.history = history
        self.params = dict(params)
        self.workers = workers if workers is not None else min(2, os.cpu_count() or 1)
        self.progress = progress  # told every PROGRESS_SECONDS while a batch of fits runs
        self._models: dict[int, Any] = {}
        self._predictions: dict[tuple[int, int], Predictions] = {}
        self._problems: dict[int, str | None] = {}
        self.fits = 0

    def with_spec(self, spec: ProjectSpec) -> ModelBank:
        """The same rows under other monitoring, retraining or gate settings, sharing every fit
        and prediction (fits depend only on the training settings, which must not differ)."""
        if spec.training != self.history.spec.training:
            raise ValueError(f"{spec.name}: a bank's fits cannot be shared across training settings")
        other = ModelBank(replace(self.history, spec=spec), self.params, self.workers, self.progress)
        other._models, other._predictions = self._models, self._predictions
        other._problems = self._problems
        return other

    def problem(self, as_of: int) -> str | None:
        """`training_problem` as of `as_of`, asked once."""
        if as_of not in self._problems:
            self._problems[as_of] = training_problem(self.history, as_of)
        return self._problems[as_of]

    def usable(self, as_of: int) -> bool:
        """Whether a retrain as of `as_of` gives a model (blind strategies keep theirs otherwise)."""
        return self.problem(as_of) is None

    def fittable(self, as_of: int) -> bool:
        """Whether a model can be fitted as of `as_of`: a fold model's minimum (the served models'
        as-ofs are checked by `fit_window` where they are chosen)."""
        return fit_window(self.history, as_of, fold=True) is not None

    def prefit(self, as_ofs: Iterable[int]) -> None:
        """Fit every missing model of `as_ofs`, on worker processes when there are several."""
        todo = sorted({a for a in as_ofs if a not in self._models and self.fittable(a)})
        if not todo:
            return
        _SHARED.update(history=self.history, params=self.params)
        if self.workers <= 1 or len(todo) < 4:
            self._collect(map(_fit, todo), len(todo))
        else:
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(self.workers, mp_context=context) as pool:
                # Small chunks: results come back a chunk at a time, so a large chunk of slow
                # fits (a 300k-row multiclass stream: 120 fits of 4 s) kept the progress silent
                # for minutes, then its pace was read from one fit in eight minutes.
                chunk = max(1, min(len(todo) // (self.workers * 8), MAX_CHUNK))
                self._collect(pool.map(_fit, todo, chunksize=chunk), len(todo))

    def _collect(self, results: Iterable[tuple[int, Any]], total: int) -> None:
        """Keep each fitted model as it arrives; a long batch (the oracle's) reports its pace."""
        started = last = time.perf_counter()
        for done, (as_of, model) in enumerate(results, start=1):
            self._models[as_of] = model
            self.fits += 1
            now = time.perf_counter()
            if self.progress is not None and now - last >= PROGRESS_SECONDS and done < total:
                rate = done / (now - started)
                self.progress(
                    f"{self.history.spec.name}: fitted {done} of {total} models, "
                    f"about {(total - done) / rate:.0f} s to go"
                )
                last = now

    def model(self, as_of: int) -> Any:
        if as_of not in self._models:
            if not self.fittable(as_of):
                raise ValueError(
                    f"{self.history.spec.name}: too few labelled partitions to fit a model as of "
                    f"{self.history.keys[as_of]}"
                )
            self.prefit([as_of])
        return self._models[as_of]

    def predict(self, as_of: int, partition: int) -> Predictions:
        """The predictions of the model fitted at `as_of` on partition `partition`'s rows."""
        from mlops_pipelines.lib.metrics import predict

        key = (as_of, partition)
        if key not in self._predictions:
            history = self.history
            self._predictions[key] = predict(
                self.model(as_of),
                history.features(partition, partition),
                history.target(partition, partition),
                history.spec,
            )
        return self._predictions[key]
