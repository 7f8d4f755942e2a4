"""Evidently reports on bounded samples: real Evidently, rendered once per module (its import is slow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_pipelines.lib.features import FeatureKind
from mlops_pipelines.lib.monitoring.drift import compute_drift
from mlops_pipelines.lib.monitoring.report_html import ASSETS_DIR
from mlops_pipelines.lib.monitoring.reports import (
    ReportError,
    ReportInfo,
    prepare_columns,
    render_drift_report,
    render_performance_report,
    sample_frame,
)
from mlops_pipelines.spec import DriftSpec, Task

KINDS: dict[str, FeatureKind] = {
    "x": "numeric",
    "y": "numeric",
    "colour": "categorical",
    "broken": "numeric",
    "empty": "categorical",
}
SPEC = DriftSpec(
    numeric_method="ks", numeric_threshold=0.1, categorical_method="chisquare", categorical_threshold=0.05
)


def frames(rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    reference = pd.DataFrame(
        {
            "x": rng.normal(0, 1, rows),
            "y": rng.normal(0, 1, rows),
            "colour": rng.choice(["red", "green", "blue"], rows, p=[0.5, 0.3, 0.2]),
            "broken": rng.normal(0, 1, rows),
            "empty": rng.choice(["a", "b"], rows),
        }
    )
    current = pd.DataFrame(
        {
            "x": rng.normal(1.0, 1, rows),
            "y": rng.normal(0, 1, rows),
            "colour": rng.choice(["red", "green", "blue"], rows, p=[0.2, 0.3, 0.5]),
            "broken": ["12 kg"] * rows,  # strings in a numeric column: Evidently raises TypeError
            "empty": [None] * rows,  # all-null: Evidently raises ValueError
        }
    )
    return reference, current


@pytest.fixture(scope="module")
def drift_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[ReportInfo, pd.DataFrame, pd.DataFrame]:
    reference, current = frames(rows=20_000)
    path = tmp_path_factory.mktemp("reports") / "drift" / "2024-01-02.html"
    info = render_drift_report(reference, current, KINDS, SPEC, path, sample_rows=600, seed=3)
    return info, reference, current


def test_report_is_written_atomically_on_a_bounded_sample(
    drift_report: tuple[ReportInfo, pd.DataFrame, pd.DataFrame],
) -> None:
    info, _, _ = drift_report
    assert info.path.is_file() and info.path.stat().st_size > 100_000
    assert "<html" in info.path.read_text(encoding="utf-8")[:2000].lower()
    # No partial file left; Evidently's library is shared next to it, not inlined (report_html.py).
    assert sorted(p.name for p in info.path.parent.iterdir()) == [info.path.name, ASSETS_DIR]
    assert f'<script src="{ASSETS_DIR}/evidently-' in info.path.read_text(encoding="utf-8")
    assert (info.sample_rows_reference, info.sample_rows_current) == (600, 600)
    assert info.seconds > 0


def test_report_skips_columns_evidently_cannot_take(
    drift_report: tuple[ReportInfo, pd.DataFrame, pd.DataFrame],
) -> None:
    info, _, _ = drift_report
    assert len(info.skipped) == 2
    assert "'broken'" in info.skipped[0] and "non-numeric" in info.skipped[0]
    assert "'empty'" in info.skipped[1] and "current" in info.skipped[1]


def test_report_agrees_with_our_verdict_on_the_same_sample(
    drift_report: tuple[ReportInfo, pd.DataFrame, pd.DataFrame],
) -> None:
    info, reference, current = drift_report
    kept = {k: v for k, v in KINDS.items() if k in ("x", "y", "colour")}
    ours = compute_drift(sample_frame(reference, 600, 3), sample_frame(current, 600, 4), kept, SPEC)
    assert ours.drifted_columns == ("x", "colour")
    assert info.evidently_drift_share == pytest.approx(ours.drift_share)
    # Same sample, same definitions: Evidently shows exactly our scores (KS statistic, not a p-value).
    assert info.column_scores == pytest.approx({c.column: c.score for c in ours.columns})


def test_performance_reports_regression_and_classification(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    truth = rng.normal(10, 2, 3000)
    frame = pd.DataFrame({"target": truth, "prediction": truth + rng.normal(0, 1, 3000)})
    regression = render_performance_report(
        frame, Task.REGRESSION, tmp_path / "reg.html", sample_rows=1000, seed=0
    )
    assert regression.path.is_file() and regression.rows_current == 1000
    assert regression.metrics["RMSE"] == pytest.approx(1.0, abs=0.1)

    labels = rng.choice(["no", "yes"], 2000)
    noisy = np.where(rng.random(2000) < 0.9, labels, "yes")
    labelled = pd.DataFrame({"y": labels, "yhat": noisy})
    binary = render_performance_report(
        labelled, Task.BINARY, tmp_path / "cls.html", 5000, 0, target="y", prediction="yhat", pos_label="yes"
    )
    assert binary.rows_current == 2000
    assert binary.metrics["Accuracy"] == pytest.approx(float(np.mean(labels == noisy)))


def test_performance_report_names_a_missing_column(tmp_path: Path) -> None:
    frame = pd.DataFrame({"target": [1.0, 2.0]})
    with pytest.raises(ReportError, match="prediction"):
        render_performance_report(frame, Task.REGRESSION, tmp_path / "r.html", 100, 0)
    assert not (tmp_path / "r.html").exists()


def test_report_refuses_when_no_column_is_usable(tmp_path: Path) -> None:
    reference, current = frames(rows=200)
    bad: dict[str, FeatureKind] = {"broken": "numeric", "empty": "categorical", "absent": "numeric"}
    with pytest.raises(ReportError, match="'absent'"):
        render_drift_report(reference, current, bad, SPEC, tmp_path / "r.html", sample_rows=100, seed=0)
    assert not (tmp_path / "r.html").exists()


def test_sample_is_seeded_bounded_and_ordered() -> None:
    frame = pd.DataFrame({"v": np.arange(10_000)})
    first, again, other = (
        sample_frame(frame, 500, 7),
        sample_frame(frame, 500, 7),
        sample_frame(frame, 500, 8),
    )
    assert len(first) == 500 and first["v"].is_monotonic_increasing
    pd.testing.assert_frame_equal(first, again)
    assert not first["v"].equals(other["v"])
    assert (
        sample_frame(frame.head(50), 500, 7) is not None and len(sample_frame(frame.head(50), 500, 7)) == 50
    )


def test_prepare_columns_converts_types() -> None:
    reference = pd.DataFrame({"n": ["1.5", "2", None], "c": [True, False, None]})
    current = pd.DataFrame({"n": [1, 2, 3], "c": [True, True, True]})
    ref, cur, kept, skipped = prepare_columns(reference, current, {"n": "numeric", "c": "categorical"})
    assert skipped == [] and list(kept) == ["n", "c"]
    assert ref["n"].dtype == cur["n"].dtype == "float64" and ref["n"].isna().sum() == 1
    assert ref["c"].tolist()[:2] == ["True", "False"] and pd.isna(ref["c"].iloc[2])
