"""Reading whole datasets and time partitions: real data, spec options, the parse cache."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlops_pipelines.lib.frames import EVENT_TIME
from mlops_pipelines.lib.ingestion import sources
from mlops_pipelines.lib.ingestion.sources import (
    SourceError,
    clear_source_cache,
    normalize_column_name,
    read_partition,
    read_source,
    resolve_data_dir,
)
from mlops_pipelines.spec import ProjectSpec, parse_spec


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    clear_source_cache()


def make_spec(source: dict[str, Any], time: dict[str, Any] | None = None, **extra: Any) -> ProjectSpec:
    data = {
        "name": "tiny",
        "task": "regression",
        "source": source,
        "schema": {"when": {"dtype": "datetime"}, "x": {"dtype": "float"}, "y": {"dtype": "float"}},
        "target": "y",
        "time": time or {"column": "when"},
        "partitions": {"start": "2024-01-01"},
        **extra,
    }
    return parse_spec(data)


def write_csv(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_resolve_data_dir_prefers_the_spec(tmp_path: Path) -> None:
    plain = make_spec({"kind": "csv", "files": [{"path": "a.csv"}]})
    assert resolve_data_dir(plain, str(tmp_path)) == tmp_path
    assert resolve_data_dir(plain, None) is None
    pinned = make_spec({"kind": "csv", "files": [{"path": "a.csv"}]}, data_dir="/pinned")
    assert resolve_data_dir(pinned, str(tmp_path)) == Path("/pinned")


def test_normalize_column_name() -> None:
    assert normalize_column_name("fixed acidity") == "fixed_acidity"
    assert normalize_column_name("pH") == "ph"
    assert normalize_column_name("  Total -- SO2 (mg/l) ") == "total_so2_mg_l"


def test_bike_sharing_event_times_and_daily_partition(
    specs: dict[str, ProjectSpec], shared_data_dir: Path
) -> None:
    spec = specs["bike_sharing"]
    frame = read_source(spec, shared_data_dir, Path("unused"))
    assert len(frame) == 17_379
    assert frame[EVENT_TIME].dtype == "datetime64[ns]"
    assert frame[EVENT_TIME].iloc[0] == pd.Timestamp("2011-01-01 00:00")
    assert frame[EVENT_TIME].iloc[1] == pd.Timestamp("2011-01-01 01:00")
    assert frame[EVENT_TIME].iloc[-1] == pd.Timestamp("2012-12-31 23:00")
    # Spec columns keep what pandas read: dteday stays text until validation casts it.
    assert frame["dteday"].dtype == object
    day = read_partition(spec, datetime(2011, 1, 1), datetime(2011, 1, 2), shared_data_dir, Path("unused"))
    assert len(day) == 24
    assert list(day.index) == list(range(24))
    assert list(day["hr"]) == list(range(24))
    # Dagster hands tz-aware windows: they mean UTC wall time, like the naive event times.
    aware = read_partition(
        spec,
        datetime(2011, 1, 1, tzinfo=UTC),
        datetime(2011, 1, 2, tzinfo=UTC),
        shared_data_dir,
        Path("unused"),
    )
    pd.testing.assert_frame_equal(aware, day)


def test_adult_arrival_order_and_normalised_labels(
    specs: dict[str, ProjectSpec], shared_data_dir: Path
) -> None:
    frame = read_source(specs["adult_income"], shared_data_dir, Path("unused"))
    assert len(frame) == 32_561 + 16_281
    assert set(frame["income"]) == {"<=50K", ">50K"}
    assert frame[EVENT_TIME].iloc[0] == pd.Timestamp("2024-01-01 00:00")
    assert frame[EVENT_TIME].iloc[1440] == pd.Timestamp("2024-01-02 00:00")
    # The test file's first row follows the training file's last one, a minute later.
    assert frame["age"].iloc[32_561] == 25
    assert frame[EVENT_TIME].iloc[32_561] == pd.Timestamp("2024-01-01") + pd.Timedelta(minutes=32_561)
    assert frame["workclass"].isna().sum() > 0  # '?' read as missing


def test_wine_colours_and_normalised_names(specs: dict[str, ProjectSpec], shared_data_dir: Path) -> None:
    frame = read_source(specs["wine_quality"], shared_data_dir, Path("unused"))
    assert len(frame) == 1_599 + 4_898
    assert (frame["color"].iloc[:1_599] == "red").all()
    assert (frame["color"].iloc[1_599:] == "white").all()
    assert {"fixed_acidity", "ph", "total_sulfur_dioxide"} <= set(frame.columns)
    assert frame[EVENT_TIME].iloc[1_599] == pd.Timestamp("2024-01-12 02:30")  # 1599 x 10 min
    assert set(frame.columns) - {EVENT_TIME} == set(specs["wine_quality"].columns)


def test_read_options_merge_replace_assign_and_glob(tmp_path: Path) -> None:
    write_csv(tmp_path / "in" / "b.csv", "when;X;y\n2024-01-02;2;bad\n")
    write_csv(tmp_path / "in" / "a.csv", "when;X;y\n2024-01-01;1;bad\n")
    write_csv(tmp_path / "in" / "c.txt", "when,X,y\n2024-01-03,3,ok\n")
    spec = make_spec(
        {
            "kind": "csv",
            "read_options": {"sep": ";"},
            "files": [
                {"path": "in/*.csv", "replace": {"y": {"bad": "1.5"}}, "assign": {"part": "first"}},
                {"path": "in/c.txt", "read_options": {"sep": ","}, "assign": {"part": "second"}},
            ],
        }
    )
    frame = read_source(spec, tmp_path, tmp_path / "cache")
    assert list(frame["x"]) == [1, 2, 3]  # glob matches sorted, files in declared order, 'X' -> 'x'
    assert list(frame["y"]) == ["1.5", "1.5", "ok"]
    assert list(frame["part"]) == ["first", "first", "second"]


def test_percent_columns_read_as_the_number_written(tmp_path: Path) -> None:
    write_csv(tmp_path / "a.csv", "when,X,y\n2024-01-01,10.65%,1\n2024-01-02, 7 % ,2\n2024-01-03,,3\n")
    spec = make_spec({"kind": "csv", "files": [{"path": "a.csv", "percent": ["x"]}]})
    frame = read_source(spec, tmp_path, tmp_path)
    assert frame["x"].dtype == "float64"
    assert frame["x"].tolist()[:2] == [10.65, 7.0] and pd.isna(frame["x"].iloc[2])  # empty stays missing


def test_a_percent_column_with_a_word_is_refused_naming_the_value_and_row(tmp_path: Path) -> None:
    write_csv(tmp_path / "a.csv", "when,X,y\n2024-01-01,10.65%,1\n2024-01-02,n.a.,2\n")
    spec = make_spec({"kind": "csv", "files": [{"path": "a.csv", "percent": ["x"]}]})
    with pytest.raises(
        SourceError,
        match=r"column 'x' is read as a percentage .* 1 value\(s\) are no number, e\.g\. 'n\.a\.' in row 1",
    ):
        read_source(spec, tmp_path, tmp_path)
    clear_source_cache()
    missing = make_spec({"kind": "csv", "files": [{"path": "a.csv", "percent": ["rate"]}]})
    with pytest.raises(SourceError, match=r"'percent' names column 'rate' that the file lacks"):
        read_source(missing, tmp_path, tmp_path)


def test_column_names_kept_when_normalization_is_off(tmp_path: Path) -> None:
    write_csv(tmp_path / "a.csv", "when,X,y\n2024-01-01,1,2\n")
    spec = make_spec({"kind": "csv", "normalize_column_names": False, "files": [{"path": "a.csv"}]})
    assert "X" in read_source(spec, tmp_path, tmp_path).columns


def test_files_with_different_columns_are_refused(tmp_path: Path) -> None:
    write_csv(tmp_path / "a.csv", "when,x,y\n2024-01-01,1,2\n")
    write_csv(tmp_path / "b.csv", "when,x,z\n2024-01-02,1,2\n")
    spec = make_spec({"kind": "csv", "files": [{"path": "a.csv"}, {"path": "b.csv"}]})
    with pytest.raises(SourceError, match=r"b\.csv: columns differ .*missing \['y'\], extra \['z'\]"):
        read_source(spec, tmp_path, tmp_path)


def test_parquet_source(tmp_path: Path) -> None:
    data = pd.DataFrame({"when": pd.to_datetime(["2024-01-01 05:00", "2024-01-02 06:00"]), "x": [1.0, 2.0]})
    data.assign(y=[3.0, 4.0]).to_parquet(tmp_path / "t.parquet")
    spec = make_spec({"kind": "parquet", "files": [{"path": "t.parquet"}]})
    frame = read_source(spec, tmp_path, tmp_path)
    assert list(frame[EVENT_TIME]) == list(data["when"])
    part = read_partition(spec, datetime(2024, 1, 2), datetime(2024, 1, 3), tmp_path, tmp_path)
    assert list(part["y"]) == [4.0]


def test_partition_keeps_arrival_order_and_excludes_end(tmp_path: Path) -> None:
    write_csv(
        tmp_path / "a.csv",
        "when,x,y\n2024-01-01 10:00,1,0\n2024-01-02 00:00,2,0\n2024-01-01 03:00,3,0\n2024-01-01 23:59,4,0\n",
    )
    spec = make_spec({"kind": "csv", "files": [{"path": "a.csv"}]})
    part = read_partition(spec, datetime(2024, 1, 1), datetime(2024, 1, 2), tmp_path, tmp_path)
    assert list(part["x"]) == [1, 3, 4]
    assert list(part.index) == [0, 1, 2]
    empty = read_partition(spec, datetime(2025, 1, 1), datetime(2025, 1, 2), tmp_path, tmp_path)
    assert empty.empty and EVENT_TIME in empty.columns


def test_time_column_with_hour_column(tmp_path: Path) -> None:
    write_csv(tmp_path / "a.csv", "when,hr,x,y\n2024-01-01,0,1,0\n2024-01-01,13,2,0\n")
    spec = make_spec(
        {"kind": "csv", "files": [{"path": "a.csv"}]},
        time={"column": "when", "hour_column": "hr"},
        schema={
            "when": {"dtype": "date"},
            "hr": {"dtype": "int"},
            "x": {"dtype": "float"},
            "y": {"dtype": "float"},
        },
    )
    frame = read_source(spec, tmp_path, tmp_path)
    assert list(frame[EVENT_TIME]) == [pd.Timestamp("2024-01-01 00:00"), pd.Timestamp("2024-01-01 13:00")]


def test_unparseable_time_names_column_and_value(tmp_path: Path) -> None:
    write_csv(tmp_path / "a.csv", "when,x,y\n2024-01-01,1,0\nyesterday-ish,2,0\n")
    spec = make_spec({"kind": "csv", "files": [{"path": "a.csv"}]})
    with pytest.raises(SourceError, match=r"time column 'when'.*'yesterday-ish' at row 1"):
        read_source(spec, tmp_path, tmp_path)


def test_missing_time_value_is_refused(tmp_path: Path) -> None:
    write_csv(tmp_path / "a.csv", "when,x,y\n2024-01-01,1,0\n,2,0\n")
    spec = make_spec({"kind": "csv", "files": [{"path": "a.csv"}]})
    with pytest.raises(SourceError, match=r"time column 'when': 1 row\(s\) have no time \(first at row 1\)"):
        read_source(spec, tmp_path, tmp_path)


def test_fractional_hour_column_is_refused(tmp_path: Path) -> None:
    write_csv(tmp_path / "a.csv", "when,hr,x,y\n2024-01-01,1.5,1,0\n")
    spec = make_spec(
        {"kind": "csv", "files": [{"path": "a.csv"}]},
        time={"column": "when", "hour_column": "hr"},
        schema={
            "when": {"dtype": "date"},
            "hr": {"dtype": "float"},
            "x": {"dtype": "float"},
            "y": {"dtype": "float"},
        },
    )
    with pytest.raises(SourceError, match=r"hour column 'hr'.*1\.5"):
        read_source(spec, tmp_path, tmp_path)


def test_parse_cache_reads_once_and_sees_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []
    real = sources.read_file

    def counting(path: Path, kind: str, options: dict[str, Any]) -> pd.DataFrame:
        calls.append(path)
        return real(path, kind, options)

    monkeypatch.setattr(sources, "read_file", counting)
    path = write_csv(tmp_path / "a.csv", "when,x,y\n2024-01-01,1,0\n2024-01-02,2,0\n")
    spec = make_spec({"kind": "csv", "files": [{"path": "a.csv"}]})
    for day in (1, 2, 3):
        read_partition(spec, datetime(2024, 1, day), datetime(2024, 1, day + 1), tmp_path, tmp_path)
    assert len(calls) == 1
    path.write_text("when,x,y\n2024-01-01,1,0\n2024-01-02,2,0\n2024-01-02,3,0\n")
    part = read_partition(spec, datetime(2024, 1, 2), datetime(2024, 1, 3), tmp_path, tmp_path)
    assert len(calls) == 2 and list(part["x"]) == [2, 3]
    # Callers may mutate what they get without corrupting the cached copy.
    whole = read_source(spec, tmp_path, tmp_path)
    whole["x"] = 0
    assert list(read_source(spec, tmp_path, tmp_path)["x"]) == [1, 2, 3]


def test_parse_cache_is_bounded(tmp_path: Path) -> None:
    for i in range(10):
        write_csv(tmp_path / f"f{i}.csv", f"when,x,y\n2024-01-01,{i},0\n")
        read_source(make_spec({"kind": "csv", "files": [{"path": f"f{i}.csv"}]}), tmp_path, tmp_path)
    assert len(sources._cache) <= 4


def test_simulator_source_reads_only_the_window(specs: dict[str, ProjectSpec]) -> None:
    spec = specs["demand_sim"]
    assert spec.source.simulator is not None
    per_hour = spec.source.simulator.rows_per_hour
    day = read_partition(spec, datetime(2024, 2, 1), datetime(2024, 2, 2), None, Path("unused"))
    assert len(day) == 24 * per_hour
    assert (day[EVENT_TIME] == day["timestamp"]).all()
    assert day[EVENT_TIME].min() >= pd.Timestamp("2024-02-01") and day[EVENT_TIME].max() < pd.Timestamp(
        "2024-02-02"
    )
    whole = read_source(spec, None, Path("unused"))
    assert len(whole) == 150 * 24 * per_hour
    outside = read_partition(spec, datetime(2030, 1, 1), datetime(2030, 1, 2), None, Path("unused"))
    assert outside.empty and EVENT_TIME in outside.columns
