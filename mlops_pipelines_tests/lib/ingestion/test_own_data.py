"""A new user's own data: each pitfall, generated into tmp_path, either works or fails loudly.

Upper-case column names, an integer year (with month, day and hour columns), epoch seconds and
milliseconds, weeks anchored on a Sunday, monthly data, data that falls in no partition.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlops_pipelines.lib.frames import EVENT_TIME
from mlops_pipelines.lib.grains import anchored_start
from mlops_pipelines.lib.ingestion.conform import conform
from mlops_pipelines.lib.ingestion.coverage import coverage, coverage_problem
from mlops_pipelines.lib.ingestion.sources import SourceError, clear_source_cache, read_source
from mlops_pipelines.partitions import partition_keys, partition_window
from mlops_pipelines.spec import ProjectSpec, SpecError, parse_spec


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    clear_source_cache()


def spec_for(
    schema: dict[str, Any], time: dict[str, Any], partitions: dict[str, Any], **extra: Any
) -> ProjectSpec:
    data = {
        "name": "own",
        "task": "regression",
        "source": {"kind": "csv", "files": [{"path": "data.csv"}]},
        "schema": schema,
        "target": extra.pop("target", "y"),
        "time": time,
        "partitions": partitions,
        **extra,
    }
    return parse_spec(data)


def write(tmp_path: Path, frame: pd.DataFrame, name: str = "data.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_upper_case_names_match_a_lower_case_spec_and_an_upper_case_one(tmp_path: Path) -> None:
    write(tmp_path, pd.DataFrame({"Date": ["2024-01-01", "2024-01-02"], "TEMP": [1.5, 2.5], "Y": [3.0, 4.0]}))
    lower = spec_for(
        {"date": {"dtype": "date"}, "temp": {"dtype": "float"}, "y": {"dtype": "float"}},
        {"column": "date"},
        {"start": "2024-01-01"},
    )
    frame = read_source(lower, tmp_path, tmp_path)
    assert list(frame.columns) == ["date", "temp", "y", EVENT_TIME]
    assert conform(frame, lower).ok
    clear_source_cache()
    upper = spec_for(
        {"Date": {"dtype": "date"}, "TEMP": {"dtype": "float"}, "Y": {"dtype": "float"}},
        {"column": "Date"},
        {"start": "2024-01-01"},
        target="Y",
    )
    frame = read_source(upper, tmp_path, tmp_path)
    assert list(frame.columns) == ["Date", "TEMP", "Y", EVENT_TIME]  # kept as the spec spells them
    assert list(frame["TEMP"]) == [1.5, 2.5]


def test_a_misspelled_column_is_a_loud_error_with_did_you_mean(tmp_path: Path) -> None:
    write(tmp_path, pd.DataFrame({"date": ["2024-01-01"], "TEMP_C": [1.5], "y": [3.0]}))
    spec = spec_for(
        {"date": {"dtype": "date"}, "temperature": {"dtype": "float"}, "y": {"dtype": "float"}},
        {"column": "date"},
        {"start": "2024-01-01"},
    )
    problems = conform(read_source(spec, tmp_path, tmp_path), spec).problems
    messages = [p.message for p in problems]
    assert (
        "column 'temperature' missing: spec column absent from the batch; did you mean 'temp_c'?" in messages
    )
    assert "column 'temp_c' extra: column is not in the spec" in messages


def test_a_spec_naming_an_unknown_column_suggests_the_near_one() -> None:
    with pytest.raises(SpecError, match=r"target names column\(s\) \['Cnt'\].*did you mean 'cnt'\?"):
        spec_for(
            {"day": {"dtype": "date"}, "cnt": {"dtype": "int"}},
            {"column": "day"},
            {"start": "2024-01-01"},
            target="Cnt",
        )


def test_two_columns_matching_one_spec_name_are_refused(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("date,Temp,TEMP,y\n2024-01-01,1,2,3\n")
    spec = spec_for(
        {"date": {"dtype": "date"}, "temp": {"dtype": "float"}, "y": {"dtype": "float"}},
        {"column": "date"},
        {"start": "2024-01-01"},
    )
    with pytest.raises(SourceError, match=r"collide after normalization: \['Temp', 'TEMP'\] -> 'temp'"):
        read_source(spec, tmp_path, tmp_path)


def test_an_integer_year_is_a_year_not_nanoseconds(tmp_path: Path) -> None:
    write(
        tmp_path, pd.DataFrame({"year": [2015, 2016, 2016, 2019], "x": [1.0, 2.0, 3.0, 4.0], "y": [1.0] * 4})
    )
    spec = spec_for(
        {"year": {"dtype": "int"}, "x": {"dtype": "float"}, "y": {"dtype": "float"}},
        {"column": "year"},
        {"grain": "yearly", "start": "2015-01-01", "end": "2020-01-01"},
    )
    frame = read_source(spec, tmp_path, tmp_path)
    assert list(frame[EVENT_TIME]) == [pd.Timestamp(f"{y}-01-01") for y in (2015, 2016, 2016, 2019)]
    keys = partition_keys(spec)
    assert keys == ["2015-01-01", "2016-01-01", "2017-01-01", "2018-01-01", "2019-01-01"]
    found = coverage(frame, spec, keys)
    assert found.rows == {"2015-01-01": 1, "2016-01-01": 2, "2019-01-01": 1}
    assert (found.before, found.after) == (0, 0)


def test_year_and_month_columns_make_monthly_partitions(tmp_path: Path) -> None:
    years, months = [2023] * 12 + [2024] * 3, [*range(1, 13), 1, 2, 3]
    write(tmp_path, pd.DataFrame({"yr": years, "mo": months, "x": range(15), "y": range(15)}))
    spec = spec_for(
        {"yr": {"dtype": "int"}, "mo": {"dtype": "int"}, "x": {"dtype": "float"}, "y": {"dtype": "float"}},
        {"column": "yr", "month_column": "mo"},
        {"grain": "monthly", "start": "2023-01-15", "end": "2024-04-01"},
    )
    frame = read_source(spec, tmp_path, tmp_path)
    assert frame[EVENT_TIME].iloc[13] == pd.Timestamp("2024-02-01")
    keys = partition_keys(spec)
    assert keys[0] == "2023-01-01" and keys[-1] == "2024-03-01" and len(keys) == 15  # start rounded down
    assert partition_window(spec, "2024-02-01") == (pd.Timestamp("2024-02-01"), pd.Timestamp("2024-03-01"))
    assert coverage(frame, spec, keys).non_empty == 15


def test_a_month_column_of_names_reads_as_its_numbers(tmp_path: Path) -> None:
    """Hotel Booking Demand writes `arrival_date_month` as "July"; abbreviations occur too."""
    months = ["July", "jul", "Sep.", "Sept", "December", " January "]
    frame = pd.DataFrame(
        {"year": [2015] * 5 + [2016], "month": months, "day": [1, 2, 3, 4, 5, 6], "y": range(6)}
    )
    write(tmp_path, frame)
    time = {"column": "year", "month_column": "month", "day_column": "day"}
    schema = {
        "year": {"dtype": "int"},
        "month": {"dtype": "str"},
        "day": {"dtype": "int"},
        "y": {"dtype": "int"},
    }
    spec = spec_for(schema, time, {"grain": "daily", "start": "2015-07-01", "end": "2016-01-07"})
    frame_read = read_source(spec, tmp_path, tmp_path)
    assert [t.strftime("%Y-%m-%d") for t in frame_read[EVENT_TIME]] == [
        "2015-07-01",
        "2015-07-02",
        "2015-09-03",
        "2015-09-04",
        "2015-12-05",
        "2016-01-06",
    ]


def test_a_month_that_is_no_name_or_number_is_named_with_its_row(tmp_path: Path) -> None:
    frame = pd.DataFrame({"year": [2015, 2015], "month": ["July", "Juli"], "y": [1, 2]})
    write(tmp_path, frame)
    schema = {"year": {"dtype": "int"}, "month": {"dtype": "str"}, "y": {"dtype": "int"}}
    spec = spec_for(
        schema, {"column": "year", "month_column": "month"}, {"grain": "monthly", "start": "2015-01-01"}
    )
    with pytest.raises(SourceError, match=r"month column 'month'.*'Juli' at row 1"):
        read_source(spec, tmp_path, tmp_path)


def test_year_month_day_and_hour_columns_make_hourly_times(tmp_path: Path) -> None:
    stamps = pd.date_range("2024-02-28 22:00", periods=6, freq="h")  # across a leap day
    parts = {"year": stamps.year, "month": stamps.month, "day": stamps.day, "hour": stamps.hour}
    write(tmp_path, pd.DataFrame({**parts, "x": range(6), "y": range(6)}))
    time = {"column": "year", "month_column": "month", "day_column": "day", "hour_column": "hour"}
    schema = {c: {"dtype": "int"} for c in [*parts, "x", "y"]}
    spec = spec_for(schema, time, {"grain": "daily", "start": "2024-02-28", "end": "2024-03-02"})
    frame = read_source(spec, tmp_path, tmp_path)
    assert list(frame[EVENT_TIME]) == list(stamps)
    assert coverage(frame, spec, partition_keys(spec)).rows == {"2024-02-28": 2, "2024-02-29": 4}


def test_a_day_its_month_lacks_is_an_error_naming_row_and_column(tmp_path: Path) -> None:
    frame = pd.DataFrame({"year": [2023, 2023], "month": [2, 2], "day": [28, 29], "y": [1, 2]})
    write(tmp_path, frame)
    time = {"column": "year", "month_column": "month", "day_column": "day"}
    spec = spec_for({c: {"dtype": "int"} for c in frame}, time, {"start": "2023-02-01"})
    with pytest.raises(
        SourceError, match=r"day column 'day': 1 day\(s\) do not exist.*day 29 of 2023-02 at row 1"
    ):
        read_source(spec, tmp_path, tmp_path)
    with pytest.raises(SpecError, match="'day_column' needs 'month_column'"):
        spec_for(
            {c: {"dtype": "int"} for c in frame},
            {"column": "year", "day_column": "day"},
            {"start": "2023-02-01"},
        )


@pytest.mark.parametrize(
    ("values", "time", "first"),
    [
        ([1_704_067_200, 1_704_153_600], {"column": "t"}, "2024-01-01"),  # epoch seconds, detected
        ([1_704_067_200_000, 1_704_153_600_000], {"column": "t"}, "2024-01-01"),  # epoch milliseconds
        ([1_704_067_200, 1_704_153_600], {"column": "t", "format": "epoch_s"}, "2024-01-01"),
        ([20240101, 20240102], {"column": "t"}, "2024-01-01"),  # yyyymmdd numbers
        (["01/02/2024", "02/02/2024"], {"column": "t", "format": "%d/%m/%Y"}, "2024-02-01"),
    ],
)
def test_epoch_and_patterned_time_axes(
    tmp_path: Path, values: list[Any], time: dict[str, Any], first: str
) -> None:
    write(tmp_path, pd.DataFrame({"t": values, "x": [1.0, 2.0], "y": [1.0, 2.0]}))
    dtype = "str" if isinstance(values[0], str) else "int"
    spec = spec_for(
        {"t": {"dtype": dtype}, "x": {"dtype": "float"}, "y": {"dtype": "float"}},
        time,
        {"start": "2024-01-01"},
    )
    frame = read_source(spec, tmp_path, tmp_path)
    assert frame[EVENT_TIME].iloc[0] == pd.Timestamp(first)


def test_numbers_that_are_no_time_name_the_column_and_the_setting(tmp_path: Path) -> None:
    write(tmp_path, pd.DataFrame({"t": [3, 17], "x": [1.0, 2.0], "y": [1.0, 2.0]}))
    spec = spec_for(
        {"t": {"dtype": "int"}, "x": {"dtype": "float"}, "y": {"dtype": "float"}},
        {"column": "t"},
        {"start": "2024-01-01"},
    )
    with pytest.raises(
        SourceError, match=r"time column 't': numbers from 3 to 17 are not years.*set time.format"
    ):
        read_source(spec, tmp_path, tmp_path)
    with pytest.raises(SpecError, match="unknown time format 'fortnight'"):
        spec_for(
            {"t": {"dtype": "int"}, "y": {"dtype": "float"}},
            {"column": "t", "format": "fortnight"},
            {"start": "2024-01-01"},
        )


@pytest.mark.parametrize("week_start", ["monday", "sunday"])
def test_weekly_rows_before_the_first_anchor_are_kept(tmp_path: Path, week_start: str) -> None:
    # Daily rows from Sunday 2024-01-07: Monday-anchored weeks used to start on the 8th and
    # drop the Sunday; now the first week is the one holding the start.
    days = pd.date_range("2024-01-07", periods=21, freq="D")
    write(tmp_path, pd.DataFrame({"day": days.strftime("%Y-%m-%d"), "x": range(21), "y": range(21)}))
    spec = spec_for(
        {"day": {"dtype": "date"}, "x": {"dtype": "float"}, "y": {"dtype": "float"}},
        {"column": "day"},
        {"grain": "weekly", "start": "2024-01-07", "end": "2024-02-05", "week_start": week_start},
    )
    keys = partition_keys(spec)
    assert keys[0] == ("2024-01-01" if week_start == "monday" else "2024-01-07")
    assert keys[0] == anchored_start("weekly", spec.partitions.start, week_start).isoformat()
    found = coverage(read_source(spec, tmp_path, tmp_path), spec, keys)
    assert found.before == 0 and sum(found.rows.values()) == 21
    assert found.rows[keys[0]] == (1 if week_start == "monday" else 7)


def test_quarterly_partitions(tmp_path: Path) -> None:
    spec = spec_for(
        {"day": {"dtype": "date"}, "x": {"dtype": "float"}, "y": {"dtype": "float"}},
        {"column": "day"},
        {"grain": "quarterly", "start": "2023-02-10", "end": "2024-01-01"},
    )
    assert partition_keys(spec) == ["2023-01-01", "2023-04-01", "2023-07-01", "2023-10-01"]


def test_data_in_no_partition_is_a_loud_error(tmp_path: Path) -> None:
    write(tmp_path, pd.DataFrame({"day": ["2019-05-01", "2019-06-01"], "x": [1.0, 2.0], "y": [1.0, 2.0]}))
    spec = spec_for(
        {"day": {"dtype": "date"}, "x": {"dtype": "float"}, "y": {"dtype": "float"}},
        {"column": "day"},
        {"start": "2024-01-01", "end": "2024-01-10"},
    )
    keys = partition_keys(spec)
    problem = coverage_problem(coverage(read_source(spec, tmp_path, tmp_path), spec, keys), spec)
    assert problem is not None
    assert "no row falls in any of the 9 daily partitions 2024-01-01..2024-01-09" in problem
    assert "column 'day' (format auto), reads 2019-05-01T00:00:00 .. 2019-06-01T00:00:00" in problem
    assert "2 row(s) before the partitions" in problem
