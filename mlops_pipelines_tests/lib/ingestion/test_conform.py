"""Structural conformance: spec columns and nullable-safe dtypes, or the problems that stop a batch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_pipelines.lib.frames import EVENT_TIME, ROW_ID
from mlops_pipelines.lib.ingestion.conform import (
    QUARANTINE_COLUMNS,
    TARGET_DTYPES,
    Conformed,
    SchemaProblem,
    conform,
    quarantine_whole_batch,
)
from mlops_pipelines.spec import ProjectSpec, parse_spec


def bike_batch(rows: int = 6) -> pd.DataFrame:
    """A raw bike batch as pandas reads hour.csv: int64, float64 and the date as text."""
    hours = np.arange(rows)
    frame = pd.DataFrame(
        {
            "instant": hours + 1,
            "dteday": "2011-01-01",
            "season": 1,
            "yr": 0,
            "mnth": 1,
            "hr": hours,
            "holiday": 0,
            "weekday": 6,
            "workingday": 0,
            "weathersit": 1,
            "temp": 0.2 + hours / 100,
            "atemp": 0.25,
            "hum": 0.8,
            "windspeed": 0.1,
            "casual": hours,
            "registered": 2 * hours,
            "cnt": 3 * hours,
        }
    )
    frame[EVENT_TIME] = pd.Timestamp("2011-01-01") + pd.to_timedelta(hours, unit="h")
    return frame


def adult_batch() -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "age": [39, 50, 38],
            "workclass": ["State-gov", None, "Private"],
            "fnlwgt": [77516, 83311, 215646],
            "education": ["Bachelors", "Bachelors", "HS-grad"],
            "education_num": [13, 13, 9],
            "marital_status": ["Never-married", "Married-civ-spouse", "Divorced"],
            "occupation": ["Adm-clerical", None, "Handlers-cleaners"],
            "relationship": ["Not-in-family", "Husband", "Not-in-family"],
            "race": ["White", "White", "White"],
            "sex": ["Male", "Male", "Female"],
            "capital_gain": [2174, 0, 0],
            "capital_loss": [0, 0, 0],
            "hours_per_week": [40, 13, 40],
            "native_country": [np.nan, np.nan, np.nan],  # all missing: pandas reads float64
            "income": ["<=50K", ">50K", "<=50K"],
        }
    )
    frame[EVENT_TIME] = pd.date_range("2024-01-01", periods=3, freq="min")
    return frame


def problem(result: Conformed, column: str) -> SchemaProblem:
    found = [p for p in result.problems if p.column == column]
    assert len(found) == 1, result.problems
    return found[0]


def assert_conformed_dtypes(frame: pd.DataFrame, spec: ProjectSpec) -> None:
    assert list(frame.columns[: len(spec.columns)]) == list(spec.columns)
    for name, column in spec.columns.items():
        assert str(frame[name].dtype) == TARGET_DTYPES[column.dtype], name


def test_clean_bike_batch_conforms_to_spec_dtypes(specs: dict[str, ProjectSpec]) -> None:
    spec = specs["bike_sharing"]
    raw = bike_batch()[[EVENT_TIME, "cnt", *reversed(list(specs["bike_sharing"].columns)[:-1])]]
    result = conform(raw, spec)
    assert result.ok and result.problems == ()
    assert result.frame is not None
    assert_conformed_dtypes(result.frame, spec)
    assert list(result.frame.columns) == [*spec.columns, EVENT_TIME]
    assert result.frame["dteday"].iloc[0] == pd.Timestamp("2011-01-01")
    assert result.frame["temp"].tolist() == bike_batch()["temp"].tolist()


def test_missing_column_is_a_problem(specs: dict[str, ProjectSpec]) -> None:
    result = conform(bike_batch().drop(columns=["hum"]), specs["bike_sharing"])
    assert result.frame is None and not result.ok
    assert problem(result, "hum").kind == "missing"
    assert "column 'hum' missing" in problem(result, "hum").message


def test_extra_column_is_a_problem_but_system_columns_are_kept(specs: dict[str, ProjectSpec]) -> None:
    spec = specs["bike_sharing"]
    extra = bike_batch().assign(surprise=1)
    result = conform(extra, spec)
    assert result.frame is None
    assert problem(result, "surprise").kind == "extra"

    system = bike_batch().assign(_source_file="hour.csv")
    kept = conform(system, spec).frame
    assert kept is not None
    assert list(kept.columns[-2:]) == [EVENT_TIME, "_source_file"]


def test_duplicated_column_label_is_a_problem(specs: dict[str, ProjectSpec]) -> None:
    raw = bike_batch()
    doubled = pd.concat([raw, raw[["temp"]]], axis=1)
    result = conform(doubled, specs["bike_sharing"])
    assert result.frame is None
    assert problem(result, "temp").kind == "extra"
    assert "2 times" in problem(result, "temp").detail
    payload = json.loads(quarantine_whole_batch(doubled, result.problems, "p")["payload"].iloc[0])
    assert payload["temp"] == payload["temp.1"] == 0.2


def test_number_column_as_text_is_retyped_with_examples(specs: dict[str, ProjectSpec]) -> None:
    raw = bike_batch()
    raw["temp"] = ["0.24x", "n/a", "0.3", "0.4", "bad", "worse"]
    result = conform(raw, specs["bike_sharing"])
    found = problem(result, "temp")
    assert found.kind == "retyped"
    assert "expected float (float64), arrived object" in found.detail
    assert "4 value(s)" in found.detail
    assert "'0.24x', 'n/a', 'bad'" in found.detail and "worse" not in found.detail  # at most 3 examples
    assert found.message.startswith("column 'temp' retyped:")
    assert result.frame is None


def test_numeric_text_that_parses_is_cast(specs: dict[str, ProjectSpec]) -> None:
    raw = bike_batch()
    raw["temp"] = ["0.24", "0.3", None, "1e-1", "0.5", "0.6"]
    raw["cnt"] = ["1", "2", "3", "4", "5", "6"]
    frame = conform(raw, specs["bike_sharing"]).frame
    assert frame is not None
    assert frame["temp"].tolist()[:2] == [0.24, 0.3] and np.isnan(frame["temp"].iloc[2])
    assert frame["cnt"].tolist() == [1, 2, 3, 4, 5, 6] and str(frame["cnt"].dtype) == "Int64"


def test_fractional_values_in_int_column_are_retyped_not_truncated(specs: dict[str, ProjectSpec]) -> None:
    raw = bike_batch()
    raw["cnt"] = [1.0, 1.5, 3.0, np.nan, 5.0, 6.0]
    found = problem(conform(raw, specs["bike_sharing"]), "cnt")
    assert found.kind == "retyped"
    assert "1.5" in found.detail and "expected int (Int64), arrived float64" in found.detail


def test_int_column_widened_to_float_by_nan_is_fine(specs: dict[str, ProjectSpec]) -> None:
    raw = bike_batch()
    raw["cnt"] = [1.0, 2.0, 3.0, np.nan, 5.0, 6.0]
    frame = conform(raw, specs["bike_sharing"]).frame
    assert frame is not None
    assert str(frame["cnt"].dtype) == "Int64"
    assert frame["cnt"].isna().tolist() == [False, False, False, True, False, False]
    assert frame["cnt"].iloc[2] == 3


def test_unparseable_date_is_retyped(specs: dict[str, ProjectSpec]) -> None:
    raw = bike_batch()
    raw.loc[2, "dteday"] = "not a date"
    found = problem(conform(raw, specs["bike_sharing"]), "dteday")
    assert found.kind == "retyped" and "'not a date'" in found.detail

    timed = bike_batch()
    timed["dteday"] = "2011-01-01 05:30"
    assert "time of day" in problem(conform(timed, specs["bike_sharing"]), "dteday").detail


def test_datetimes_with_offsets_become_naive_utc(specs: dict[str, ProjectSpec]) -> None:
    raw = pd.DataFrame(
        {
            "timestamp": ["2024-01-01T01:00:00+01:00", "2024-01-01T01:00:00Z", "2024-01-01 02:00"],
            "hour": [0, 1, 2],
            "dayofweek": [0, 0, 0],
            "temp": [1.0, 2.0, 3.0],
            "humidity": [0.5, 0.5, 0.5],
            "windspeed": [0.1, 0.1, 0.1],
            "weather": ["clear", "rain", "mist"],
            "holiday": [0, 0, 0],
            "station": ["north", "south", "center"],
            "demand": [3, 4, 5],
        }
    )
    frame = conform(raw, specs["demand_sim"]).frame
    assert frame is not None and str(frame["timestamp"].dtype) == "datetime64[ns]"
    assert frame["timestamp"].tolist() == list(pd.date_range("2024-01-01", periods=3, freq="h"))

    raw.loc[1, "timestamp"] = "2024-13-45T00:00:00"
    assert problem(conform(raw, specs["demand_sim"]), "timestamp").kind == "retyped"


def test_str_columns_are_object_with_none_for_null(specs: dict[str, ProjectSpec]) -> None:
    spec = specs["adult_income"]
    frame = conform(adult_batch(), spec).frame
    assert frame is not None
    assert_conformed_dtypes(frame, spec)
    assert frame["workclass"].tolist() == ["State-gov", None, "Private"]
    # An all-missing text column read as float64 NaN becomes None, not the string 'nan'.
    assert frame["native_country"].tolist() == [None, None, None]


def test_str_column_codes_read_as_float_keep_their_integer_text(specs: dict[str, ProjectSpec]) -> None:
    raw = adult_batch()
    raw["native_country"] = [7.0, np.nan, 12.0]
    frame = conform(raw, specs["adult_income"]).frame
    assert frame is not None
    assert frame["native_country"].tolist() == ["7", None, "12"]


def test_str_column_with_containers_is_unparseable(specs: dict[str, ProjectSpec]) -> None:
    raw = adult_batch()
    raw["native_country"] = pd.Series(["Cuba", ["a", "list"], {"k": 1}], dtype=object)
    found = problem(conform(raw, specs["adult_income"]), "native_country")
    assert found.kind == "unparseable"
    assert "2 value(s)" in found.detail


def _bool_spec() -> ProjectSpec:
    return parse_spec(
        {
            "name": "flags",
            "task": "binary",
            "source": {"kind": "csv", "files": [{"path": "x.csv"}]},
            "schema": {"member": {"dtype": "bool", "nullable": True}, "label": {"dtype": "int"}},
            "target": "label",
            "time": {"arrival": {"start": "2024-01-01T00:00:00", "cadence": "PT1M"}},
            "partitions": {"start": "2024-01-01"},
        }
    )


def test_bool_text_tokens_are_cast_to_nullable_boolean() -> None:
    raw = pd.DataFrame({"member": ["yes", "No", None, "TRUE", "0"], "label": [1, 0, 1, 0, 1]})
    frame = conform(raw, _bool_spec()).frame
    assert frame is not None
    assert str(frame["member"].dtype) == "boolean"
    assert frame["member"].tolist() == [True, False, pd.NA, True, False]


def test_bool_text_that_is_not_a_truth_value_is_retyped() -> None:
    raw = pd.DataFrame({"member": ["yes", "maybe"], "label": [1, 0]})
    found = problem(conform(raw, _bool_spec()), "member")
    assert found.kind == "retyped" and "'maybe'" in found.detail


def test_quarantine_whole_batch_keeps_every_row_with_all_reasons(specs: dict[str, ProjectSpec]) -> None:
    raw = bike_batch().drop(columns=["hum"]).assign(surprise="x")
    raw.loc[1, "temp"] = np.nan
    raw.index = pd.RangeIndex(100, 106)  # positions, not index labels, identify rows
    result = conform(raw, specs["bike_sharing"])
    rows = quarantine_whole_batch(raw, result.problems, "2011-01-01")
    assert list(rows.columns) == list(QUARANTINE_COLUMNS)
    assert len(rows) == len(raw)
    assert rows[ROW_ID].tolist() == list(range(6)) and str(rows[ROW_ID].dtype) == "int64"
    assert set(rows["_partition"]) == {"2011-01-01"}
    assert rows["reasons"].iloc[0] == "; ".join(p.message for p in result.problems)
    assert "column 'hum' missing" in rows["reasons"].iloc[0]
    assert "column 'surprise' extra" in rows["reasons"].iloc[0]
    payload = json.loads(rows["payload"].iloc[1])
    assert payload["temp"] is None and payload["surprise"] == "x"
    assert payload[EVENT_TIME].startswith("2011-01-01T01:00:00")


def test_quarantine_whole_batch_refuses_a_batch_without_problems(specs: dict[str, ProjectSpec]) -> None:
    with pytest.raises(ValueError, match="at least one problem"):
        quarantine_whole_batch(bike_batch(), (), "2011-01-01")


def test_real_hour_csv_conforms(specs: dict[str, ProjectSpec], shared_data_dir: Path) -> None:
    spec = specs["bike_sharing"]
    raw = pd.read_csv(shared_data_dir / "bike_sharing" / "hour.csv")
    raw[EVENT_TIME] = pd.to_datetime(raw["dteday"]) + pd.to_timedelta(raw["hr"], unit="h")
    result = conform(raw, spec)
    assert result.problems == ()
    assert result.frame is not None and len(result.frame) == 17_379
    assert_conformed_dtypes(result.frame, spec)
    assert result.frame["dteday"].max() == pd.Timestamp("2012-12-31")


def test_real_adult_data_conforms_with_nulls(specs: dict[str, ProjectSpec], shared_data_dir: Path) -> None:
    spec = specs["adult_income"]
    raw = pd.read_csv(shared_data_dir / "adult" / "adult.data", **spec.source.read_options)
    raw[EVENT_TIME] = pd.date_range("2024-01-01", periods=len(raw), freq="min")
    result = conform(raw, spec)
    assert result.problems == ()
    assert result.frame is not None and len(result.frame) == 32_561
    assert_conformed_dtypes(result.frame, spec)
    assert result.frame["workclass"].isna().sum() > 0
    assert all(isinstance(v, str) for v in result.frame["workclass"].dropna())


def test_real_adult_data_with_a_corrupted_column_does_not_conform(
    specs: dict[str, ProjectSpec], shared_data_dir: Path
) -> None:
    spec = specs["adult_income"]
    raw = pd.read_csv(shared_data_dir / "adult" / "adult.data", nrows=200, **spec.source.read_options)
    raw["age"] = raw["age"].astype(str)
    raw.loc[5, "age"] = "thirty"
    found = problem(conform(raw, spec), "age")
    assert found.kind == "retyped" and "'thirty'" in found.detail
