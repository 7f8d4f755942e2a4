"""The prediction-log schema: partition keys, uniform columns for every task, and Delta round trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_pipelines.lib.frames import EVENT_TIME, PARTITION
from mlops_pipelines.lib.lake import append, read
from mlops_pipelines.lib.scoring.prediction_log import (
    LOG_COLUMNS,
    Predictions,
    build_log_frame,
    partition_key,
    partition_keys,
)
from mlops_pipelines.spec import ProjectSpec, Task


@pytest.fixture(scope="module")
def bike_rows(shared_data_dir: Path) -> pd.DataFrame:
    frame = pd.read_csv(shared_data_dir / "bike_sharing" / "hour.csv").iloc[[0, 30, 400]]
    frame["dteday"] = pd.to_datetime(frame["dteday"])
    return frame.drop(columns=["cnt"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def adult_rows(shared_data_dir: Path, specs: dict[str, ProjectSpec]) -> pd.DataFrame:
    names = list(specs["adult_income"].columns)
    frame = pd.read_csv(
        shared_data_dir / "adult" / "adult.data",
        header=None,
        names=names,
        skipinitialspace=True,
        na_values=["?"],
    )
    # Rows 27 and 61 have missing workclass/occupation: nulls must survive as nulls.
    return frame.iloc[[0, 27, 61]].drop(columns=["income"]).reset_index(drop=True)


@pytest.mark.parametrize(
    ("stamp", "grain", "key"),
    [
        (datetime(2024, 3, 6, 17, 45), "daily", "2024-03-06"),
        (datetime(2024, 3, 6, 17, 45), "hourly", "2024-03-06-17:00"),
        (datetime(2024, 3, 6, 17, 45), "weekly", "2024-03-04"),  # a Wednesday -> its Monday
        (datetime(2024, 3, 4, 0, 0), "weekly", "2024-03-04"),  # a Monday is its own week
        (datetime(2024, 3, 7, 1, 30, tzinfo=timezone(timedelta(hours=2))), "daily", "2024-03-06"),  # UTC day
        (datetime(2024, 3, 6, 17, 45), "monthly", "2024-03-01"),
        (datetime(2024, 3, 6, 17, 45), "quarterly", "2024-01-01"),
        (datetime(2024, 12, 31, 23, 59), "quarterly", "2024-10-01"),
        (datetime(2024, 3, 6, 17, 45), "yearly", "2024-01-01"),
    ],
)
def test_partition_key_follows_the_grain(stamp: datetime, grain: str, key: str) -> None:
    assert partition_key(stamp, grain) == key
    assert partition_keys(pd.Series([pd.Timestamp(stamp).tz_localize(None)]), grain).iloc[0] == partition_key(
        pd.Timestamp(stamp).tz_localize(None), grain
    )


@pytest.mark.parametrize("grain", ["daily", "hourly", "weekly"])
def test_partition_keys_of_many_rows_match_the_scalar_key(grain: str) -> None:
    rng = np.random.default_rng(7)
    stamps = pd.Series(pd.Timestamp("1999-12-27") + pd.to_timedelta(rng.integers(0, 10**7, 5000), unit="min"))
    stamps.iloc[[3, 4000]] = pd.NaT
    keys = partition_keys(stamps, grain)
    expected = [None if pd.isna(t) else partition_key(t, grain) for t in stamps]
    assert [None if pd.isna(k) else k for k in keys] == expected
    assert keys.index.equals(stamps.index) and keys.nunique() > 50


def test_partition_key_rejects_an_unknown_grain() -> None:
    with pytest.raises(ValueError, match="fortnightly"):
        partition_key(datetime(2024, 1, 1), "fortnightly")


def test_weekly_keys_follow_the_anchor_day() -> None:
    wednesday = datetime(2024, 3, 6, 17, 45)
    assert partition_key(wednesday, "weekly", "sunday") == "2024-03-03"
    assert partition_key(datetime(2024, 3, 3), "weekly", "sunday") == "2024-03-03"
    assert partition_key(wednesday, "weekly", "wednesday") == "2024-03-06"


def test_regression_frame_has_every_column_typed(
    specs: dict[str, ProjectSpec], bike_rows: pd.DataFrame
) -> None:
    spec = specs["bike_sharing"]
    frame = build_log_frame(
        spec,
        bike_rows,
        Predictions.regression([1.0, 2.5, 3.0]),
        "champion",
        "7",
        ["a", "b", "c"],
        [1.0, 2.0, 3.0],
    )
    assert list(frame.columns) == [*LOG_COLUMNS, *spec.feature_columns]
    # Event time is the spec's date plus its hour column; the partition is its day.
    expected = [
        d + pd.Timedelta(hours=int(h)) for d, h in zip(bike_rows["dteday"], bike_rows["hr"], strict=True)
    ]
    assert frame[EVENT_TIME].tolist() == expected
    assert expected[1].hour != 0  # the hour column really moved it
    assert frame[PARTITION].tolist() == [d.strftime("%Y-%m-%d") for d in bike_rows["dteday"]]
    assert frame["prediction"].tolist() == [1.0, 2.5, 3.0]
    assert frame["prediction_label"].isna().all() and frame["score"].isna().all()
    assert frame["entity"].tolist() == [str(v) for v in bike_rows["instant"]]  # the spec's entity key
    assert str(frame["hr"].dtype) == "Int64" and str(frame["temp"].dtype) == "float64"
    assert "cnt" not in frame.columns and "casual" not in frame.columns


def test_classification_frame_labels_and_positive_scores(
    specs: dict[str, ProjectSpec], adult_rows: pd.DataFrame
) -> None:
    spec = specs["adult_income"]
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])
    predictions = Predictions.classification(proba, ["<=50K", ">50K"], spec.task, spec.classes)
    stamp = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    frame = build_log_frame(spec, adult_rows, predictions, "shadow", "3", "req-1", 4.2, stamp)
    assert frame["prediction_label"].tolist() == ["<=50K", ">50K", "<=50K"]
    assert frame["score"].tolist() == [0.1, 0.8, 0.5]  # the positive class '>50K'
    assert frame["prediction"].isna().all()
    # No time column: rows happen when they are scored (naive UTC).
    assert (frame[EVENT_TIME] == pd.Timestamp("2024-05-01 12:00")).all()
    assert frame["request_id"].tolist() == ["req-1"] * 3
    assert frame["workclass"].isna().sum() == adult_rows["workclass"].isna().sum() > 0
    assert frame["entity"].isna().all()  # adult_income declares no entity key


def test_multiclass_score_is_the_top_probability() -> None:
    predictions = Predictions.classification(np.array([[0.2, 0.5, 0.3]]), ["a", "b", "c"], Task.MULTICLASS)
    assert predictions.label is not None and predictions.score is not None
    assert predictions.label.tolist() == ["b"] and predictions.score.tolist() == [0.5]


def test_probabilities_that_do_not_match_the_classes_are_refused() -> None:
    with pytest.raises(ValueError, match="3 classes"):
        Predictions.classification(np.array([[0.2, 0.8]]), ["a", "b", "c"], Task.MULTICLASS)


def test_mismatched_lengths_and_unknown_routes_are_refused(
    specs: dict[str, ProjectSpec], bike_rows: pd.DataFrame
) -> None:
    spec = specs["bike_sharing"]
    with pytest.raises(ValueError, match="2 prediction"):
        build_log_frame(spec, bike_rows, Predictions.regression([1.0, 2.0]), "champion", "1", "r", 1.0)
    with pytest.raises(ValueError, match="request_ids"):
        build_log_frame(spec, bike_rows, Predictions.regression([1.0, 2.0, 3.0]), "champion", "1", ["r"], 1.0)
    with pytest.raises(ValueError, match="sideways"):
        build_log_frame(spec, bike_rows, Predictions.regression([1.0, 2.0, 3.0]), "sideways", "1", "r", 1.0)  # type: ignore[arg-type]


def test_a_feature_named_like_a_log_column_is_refused(specs: dict[str, ProjectSpec]) -> None:
    base = specs["wine_quality"]
    columns = dict(base.columns)
    columns["score"] = columns.pop("alcohol")
    spec = base.model_copy(update={"columns": columns})
    rows = pd.DataFrame({"score": [1.0]})
    with pytest.raises(ValueError, match=r"\['score'\]"):
        build_log_frame(spec, rows, Predictions.regression([1.0]), "batch", "1", "r", 1.0)


def test_log_frames_of_both_tasks_append_to_delta_and_read_back(
    tmp_path: Path, specs: dict[str, ProjectSpec], adult_rows: pd.DataFrame
) -> None:
    spec = specs["adult_income"]
    uri = str(tmp_path / "predictions")
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])
    predictions = Predictions.classification(proba, ["<=50K", ">50K"], spec.task, spec.classes)
    first = build_log_frame(spec, adult_rows, predictions, "champion", "1", ["a", "b", "c"], 1.0)
    # A batch whose optional columns are all null must still fit the table's schema.
    sparse = adult_rows.iloc[:1].assign(workclass=None, occupation=None, native_country=None)
    second = build_log_frame(spec, sparse, predictions.take(slice(0, 1)), "batch", "1", "d", 2.0)
    append(uri, first)
    append(uri, second)
    back = read(uri).sort_values("request_id", ignore_index=True)  # file order is not row order
    assert back["request_id"].tolist() == ["a", "b", "c", "d"]
    assert back["route"].tolist() == ["champion"] * 3 + ["batch"]
    assert back["workclass"].iloc[3] is None
    assert back["score"].tolist() == [0.1, 0.8, 0.5, 0.1]
