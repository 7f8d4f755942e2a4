"""Which rows a model learns from and is judged on: the training window and the labelled rows.

`select_window` picks the newest labelled partitions at or before `as_of` (the records it
returns live in `artifact`, with the `ModelArtifact` that carries them on); `split_features`
turns rows of the features table into model input, label, slice context and event time in
one total order, with a content hash for lineage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops_pipelines.lib.training.artifact import TrainingWindow

if TYPE_CHECKING:
    import pandas as pd

    from mlops_pipelines.spec import ProjectSpec


class TrainingWindowError(ValueError):
    """Not enough labelled partitions to train and hold out; the message gives the counts."""


def evaluation_size(rows: Sequence[int], spec: ProjectSpec) -> int:
    """How many of the newest labelled partitions (`rows`: their row counts, oldest first) the
    challenger is evaluated on: `holdout_partitions`, extended back one partition at a time
    while they hold fewer rows than the gate needs (`promotion.min_rows`).

    Small partitions (a week of daily rows) otherwise leave the gate short of rows forever:
    every challenger "insufficient evidence", the first model serving for good. Only the
    evaluation grows: each of its rolling-origin folds is still predicted by a model fitted on
    as many partitions as the served one, and the served refit still learns from the training
    window plus holdout (a longer window hurts on trending data: bike_sharing by week, 34 weeks
    vs 55, oracle MAE 708 vs 1348). It stops where fewer than half a training window (at least
    `max(2, cv_folds)` partitions) would be left before it for the first fold to learn from.
    """
    holdout = spec.training.holdout_partitions
    train = max(2, spec.training.cv_folds, spec.training.window_partitions // 2)
    limit = len(rows) - train
    size, held = holdout, sum(rows[-holdout:])
    while size < limit and held < spec.promotion.min_rows:
        size += 1
        held += rows[-size]
    return size


def labelled_partitions(available: Sequence[str], spec: ProjectSpec, as_of: str | None = None) -> list[str]:
    """The partitions at or before `as_of` whose labels have arrived, oldest first: labels come
    `label_delay_partitions` after their partition, so the newest ones are left out."""
    keys = sorted(available)
    if as_of is not None:
        keys = [k for k in keys if k <= as_of]
    delay = spec.monitoring.label_delay_partitions
    return keys[: len(keys) - delay] if delay else keys


def select_window(
    available: Sequence[str],
    spec: ProjectSpec,
    as_of: str | None = None,
    rows: Mapping[str, int] | None = None,
    length: int | None = None,
) -> TrainingWindow:
    """The newest `window + holdout` labelled partitions at or before `as_of`.

    Labels arrive `label_delay_partitions` after their partition, so the newest partitions
    before `as_of` are not yet labelled and are left out; the holdout is the most recent part.
    With `rows` (rows per partition; a missing one counts 0) the window's `evaluation` holds the
    newest `evaluation_size` partitions when the holdout's rows are too few for the gate.
    `length` replaces `window_partitions` (a length `window_choice` chose).
    """
    end = as_of or (max(available) if len(available) else "")
    labelled = labelled_partitions(available, spec, as_of)
    need_holdout = spec.training.holdout_partitions
    minimum_train = max(2, spec.training.cv_folds)
    if len(labelled) < need_holdout + minimum_train:
        raise TrainingWindowError(
            f"{spec.name}: {len(labelled)} labelled partition(s) at or before {end or 'now'}; training needs "
            f"at least {need_holdout + minimum_train} ({need_holdout} holdout + {minimum_train} train). "
            "Materialize more partitions of the features asset first."
        )
    holdout = labelled[-need_holdout:]
    train = labelled[:-need_holdout][-(length or spec.training.window_partitions) :]
    size = need_holdout if rows is None else evaluation_size([rows.get(k, 0) for k in labelled], spec)
    evaluation = tuple(labelled[-size:]) if size > need_holdout else ()
    return TrainingWindow(train=tuple(train), holdout=tuple(holdout), as_of=end, evaluation=evaluation)


def frame_sha256(frame: pd.DataFrame) -> str:
    """Content hash of a frame (values and column names, in order), stable across processes."""
    import hashlib

    import pandas as pd

    digest = hashlib.sha256()
    digest.update("\0".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def ordered(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of the features table in their one total order (time, partition, row)."""
    from mlops_pipelines.lib.frames import EVENT_TIME, PARTITION, ROW_ID

    columns = sorted(frame.columns)
    rows = frame.sort_values([EVENT_TIME, PARTITION, ROW_ID], kind="stable")
    return rows[columns].reset_index(drop=True)


@dataclass(frozen=True)
class LabelledRows:
    features: pd.DataFrame
    target: pd.Series
    context: pd.DataFrame  # sensitive attributes and slice columns
    event_time: pd.Series
    sha256: str


def split_features(frame: pd.DataFrame, spec: ProjectSpec) -> LabelledRows:
    """Model input, label, slice context and event time from rows of the features table."""
    from mlops_pipelines.lib.features import build_target, feature_kinds
    from mlops_pipelines.lib.frames import EVENT_TIME

    rows = ordered(frame)
    context_columns = list(dict.fromkeys([*spec.sensitive_attributes, *spec.slices]))
    return LabelledRows(
        features=rows[list(feature_kinds(spec))],
        target=build_target(rows, spec),
        context=rows[context_columns],
        event_time=rows[EVENT_TIME],
        sha256=frame_sha256(rows),
    )
