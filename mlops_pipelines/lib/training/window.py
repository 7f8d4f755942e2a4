"""Which rows a model learns from and is judged on: the training window and the labelled rows.

`select_window` picks the newest labelled partitions at or before `as_of` (the records it
returns live in `artifact`, with the `ModelArtifact` that carries them on); `split_features`
turns rows of the features table into model input, label, slice context and event time in
one total order, with a content hash for lineage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops_pipelines.lib.training.artifact import TrainingWindow

if TYPE_CHECKING:
    import pandas as pd

    from mlops_pipelines.spec import ProjectSpec


class TrainingWindowError(ValueError):
    """Not enough labelled partitions to train and hold out; the message gives the counts."""


def select_window(available: Sequence[str], spec: ProjectSpec, as_of: str | None = None) -> TrainingWindow:
    """The newest `window + holdout` labelled partitions at or before `as_of`.

    Labels arrive `label_delay_partitions` after their partition, so the newest partitions
    before `as_of` are not yet labelled and are left out; the holdout is the most recent part.
    """
    keys = sorted(available)
    if as_of is not None:
        keys = [k for k in keys if k <= as_of]
    end = as_of or (keys[-1] if keys else "")
    delay = spec.monitoring.label_delay_partitions
    labelled = keys[: len(keys) - delay] if delay else keys
    need_holdout = spec.training.holdout_partitions
    minimum_train = max(2, spec.training.cv_folds)
    if len(labelled) < need_holdout + minimum_train:
        raise TrainingWindowError(
            f"{spec.name}: {len(labelled)} labelled partition(s) at or before {end or 'now'}; training needs "
            f"at least {need_holdout + minimum_train} ({need_holdout} holdout + {minimum_train} train). "
            "Materialize more partitions of the features asset first."
        )
    holdout = labelled[-need_holdout:]
    train = labelled[:-need_holdout][-spec.training.window_partitions :]
    return TrainingWindow(train=tuple(train), holdout=tuple(holdout), as_of=end)


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
