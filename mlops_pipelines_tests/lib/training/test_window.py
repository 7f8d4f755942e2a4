"""Which partitions a challenger learns from and is evaluated on (`select_window`)."""

from __future__ import annotations

import pytest

from mlops_pipelines.lib.training.window import TrainingWindowError, evaluation_size, select_window
from mlops_pipelines.spec import ProjectSpec

KEYS = [f"2024-{1 + d // 28:02d}-{1 + d % 28:02d}" for d in range(60)]


def spec_of(
    specs: dict[str, ProjectSpec], window: int = 10, holdout: int = 4, min_rows: int = 200
) -> ProjectSpec:
    base = specs["demand_sim"]
    training = base.training.model_copy(update={"window_partitions": window, "holdout_partitions": holdout})
    promotion = base.promotion.model_copy(update={"min_rows": min_rows})
    return base.model_copy(update={"training": training, "promotion": promotion})


def test_the_holdout_is_the_evaluation_when_its_rows_are_enough(specs: dict[str, ProjectSpec]) -> None:
    spec = spec_of(specs)  # label delay 1: the newest key is not labelled yet
    window = select_window(KEYS, spec, rows=dict.fromkeys(KEYS, 50))  # 4 x 50 = 200 rows: enough
    assert window.holdout == tuple(KEYS[-5:-1]) and window.train == tuple(KEYS[-15:-5])
    assert window.evaluation == () and window.evaluated == window.holdout
    assert select_window(KEYS, spec) == window  # without row counts: the holdout, as always


def test_small_partitions_extend_the_evaluation_not_the_training_window(
    specs: dict[str, ProjectSpec],
) -> None:
    spec = spec_of(specs)
    window = select_window(KEYS, spec, rows=dict.fromkeys(KEYS, 7))  # 29 x 7 = 203 >= 200
    assert window.holdout == tuple(KEYS[-5:-1]) and window.train == tuple(KEYS[-15:-5])  # unchanged
    assert window.evaluation == tuple(KEYS[-30:-1]) and window.evaluated == window.evaluation
    # A partition without a count counts 0 rows: one more partition is needed.
    counts = dict.fromkeys(KEYS, 7)
    del counts[KEYS[-2]]
    assert len(select_window(KEYS, spec, rows=counts).evaluation) == 30


def test_the_extension_leaves_half_a_training_window_before_it(specs: dict[str, ProjectSpec]) -> None:
    spec = spec_of(specs)
    short = KEYS[:20]  # 19 labelled: at most 19 - 5 = 14 evaluated, however few rows they hold
    assert evaluation_size([1] * 19, spec) == 14
    window = select_window(short, spec, rows=dict.fromkeys(short, 1))
    assert window.evaluation == tuple(short[-15:-1]) and window.train == tuple(short[:-5][-10:])
    assert evaluation_size([1000] * 19, spec) == 4  # enough rows: the spec's holdout
    # The failure twin: too few labelled partitions for the holdout itself is still an error.
    with pytest.raises(
        TrainingWindowError, match=r"3 labelled partition\(s\) at or before .*needs at least 7"
    ):
        select_window(KEYS[:4], spec, rows=dict.fromkeys(KEYS, 7))
