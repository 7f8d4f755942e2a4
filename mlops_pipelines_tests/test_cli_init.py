"""`init DATA_FILE`: generated files in tmp_path become specs that validate, flags included."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlops_pipelines import cli
from mlops_pipelines.partitions import partitions_for
from mlops_pipelines.spec import load_spec
from mlops_pipelines_tests.lib.onboarding.test_profile import european_file
from mlops_pipelines_tests.own_state import own_state

__all__ = ["own_state"]  # the fixture, imported to be used

pytestmark = pytest.mark.usefixtures("own_state")


def sensor_readings(tmp_path: Path) -> Path:
    """Hourly readings with an epoch-seconds clock, an ID, a constant, a leak and a 'Sex' column."""
    rng = np.random.default_rng(5)
    n = 24 * 60
    load = rng.uniform(0, 10, n)
    frame = pd.DataFrame(
        {
            "Reading_ID": np.arange(100_000, 100_000 + n),
            "Epoch": 1_699_920_000 + 3600 * np.arange(n),  # from midnight UTC
            "Site": rng.choice(["north", "south"], n),
            "Sex": rng.choice(["F", "M"], n),
            "Load": load.round(3),
            "Firmware": "v1",
            "Output": (3 * load + rng.normal(0, 4, n)).round(3),
        }
    )
    frame["Output_Copy"] = frame["Output"]
    data = tmp_path / "data"
    data.mkdir()
    path = data / "readings.csv.gz"
    frame.to_csv(path, index=False)
    return path


def test_init_drafts_a_commented_spec_that_validates_against_the_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = sensor_readings(tmp_path)
    out = tmp_path / "readings.yaml"
    assert cli.main(["init", str(data), "--target", "Output", "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    spec = load_spec(out)
    assert spec.target == "output" and spec.task.value == "regression"
    assert spec.time.column == "epoch" and spec.time.format == "epoch_s"
    assert spec.partitions.grain.value == "daily"  # 24 rows a day over 60 days
    assert set(spec.features.exclude) == {"reading_id", "firmware", "output_copy"}
    assert "# sensitive_attributes: [sex]" in text  # a suggestion only, commented out
    assert spec.sensitive_attributes == []
    assert "ID-like: 1440 distinct values" in text and "target leak: a copy of the target" in text
    assert "constant: one value in every row" in text
    capsys.readouterr()
    assert cli.main(["validate-spec", "--data", str(data.parent), str(out)]) == 0
    report = capsys.readouterr().out
    assert "partitions: 60 non-empty of 60 daily partitions" in report
    assert "quarantine: 0 of 1440 rows would be quarantined" in report


def test_init_reads_year_and_month_columns_as_monthly(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    months = pd.DataFrame(
        [(y, m) for y in range(2010, 2020) for m in range(1, 13)], columns=["Year", "Month"]
    )
    frame = months.loc[months.index.repeat(25)].reset_index(drop=True)
    frame["price"] = rng.uniform(1, 5, len(frame)).round(2)
    frame["sold"] = (50 - 4 * frame["price"] + rng.normal(0, 2, len(frame))).round(1)
    path = tmp_path / "shop.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "shop.yaml"
    assert cli.main(["init", str(path), "--target", "sold", "--out", str(out)]) == 0
    spec = load_spec(out)
    assert (spec.time.column, spec.time.month_column) == ("year", "month")
    assert spec.partitions.grain.value == "monthly"
    assert (spec.partitions.start.isoformat(), str(spec.partitions.end)) == ("2010-01-01", "2020-01-01")


def test_init_reads_year_month_day_and_hour_columns_as_hourly_times(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Air-quality data as UCI ships it: No, year, month, day, hour, a target with 'NA' gaps."""
    rng = np.random.default_rng(3)
    stamps = pd.date_range("2013-01-01", periods=24 * 90, freq="h")
    frame = pd.DataFrame(
        {"No": np.arange(1, len(stamps) + 1), "year": stamps.year, "month": stamps.month}
        | {"day": stamps.day, "hour": stamps.hour, "TEMP": rng.normal(5, 8, len(stamps)).round(1)}
    )
    pm = (80 - 2 * frame["TEMP"] + rng.normal(0, 10, len(frame))).round().astype(object)
    pm[rng.random(len(frame)) < 0.05] = "NA"
    frame.insert(5, "pm2.5", pm)
    path = tmp_path / "PRSA_data.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "air.yaml"
    assert cli.main(["init", str(path), "--target", "pm2.5", "--out", str(out)]) == 0
    spec = load_spec(out)
    time = spec.time
    assert (time.column, time.month_column, time.day_column, time.hour_column) == (
        "year",
        "month",
        "day",
        "hour",
    )
    assert spec.partitions.grain.value == "daily" and spec.target == "pm2_5"
    assert "no" in spec.features.exclude
    capsys.readouterr()
    assert cli.main(["validate-spec", "--data", str(tmp_path), str(out)]) == 0
    assert "partitions: 90 non-empty of 90 daily partitions" in capsys.readouterr().out


def test_init_drafts_a_european_export_that_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """';' with decimal commas, -200 for missing, day-first dates, two empty columns (UCI Air Quality)."""
    path = european_file(tmp_path)
    out = tmp_path / "air.yaml"
    assert cli.main(["init", str(path), "--target", "CO(GT)", "--out", str(out)]) == 0
    spec = load_spec(out)
    assert spec.task.value == "regression" and spec.time.format == "%d/%m/%Y"
    assert "empty1" not in spec.columns and spec.columns["co_gt"].dtype == "float"
    assert "empty1: no value in any row, left out (read_options.usecols)" in out.read_text(encoding="utf-8")
    capsys.readouterr()
    assert cli.main(["validate-spec", "--data", str(tmp_path), str(out)]) == 0
    report = capsys.readouterr().out
    assert "partitions: 18 non-empty of 18 daily partitions, first 2004-03-10" in report
    assert "quarantine: 10 of 400 rows would be quarantined" in report  # the -200 labels


def test_init_drafts_percentages_as_numbers_that_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rates written '10.65%' (Lending Club's int_rate and revol_util), one per loan, monthly."""
    lines = ["issue_d,int_rate,revol_util,grade,loan_status"]
    for i in range(240):
        month = f"{['Jan', 'Feb', 'Mar', 'Apr'][i % 4]}-2015"
        util = "" if i % 50 == 0 else f"{i % 97 + 0.5}%"
        lines.append(
            f"{month},{5 + i % 23 + 0.25:.2f}%,{util},{'ABC'[i % 3]},{'Charged Off' if i % 7 == 0 else 'Fully Paid'}"
        )
    path = tmp_path / "loans.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "loans.yaml"
    assert cli.main(["init", str(path), "--out", str(out)]) == 0
    spec = load_spec(out)
    assert spec.source.files[0].percent == ["int_rate", "revol_util"]
    assert spec.columns["int_rate"].dtype == "float" and spec.columns["revol_util"].nullable
    assert (spec.target, spec.task.value) == ("loan_status", "binary")
    capsys.readouterr()
    assert cli.main(["validate-spec", "--data", str(tmp_path), str(out)]) == 0
    report = capsys.readouterr().out
    assert "quarantine: 0 of 240 rows would be quarantined" in report


def test_init_marks_a_mostly_null_column_sparse_so_its_partitions_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A holiday name on two days of sixty (Metro Interstate Traffic's `holiday`), a gust reading
    missing half the time: only the holiday column is sparse, and no partition is blocked."""
    rng = np.random.default_rng(11)
    hours = pd.date_range("2024-01-01", periods=24 * 60, freq="h")
    holiday = np.where((hours.dayofyear % 30 == 1) & (hours.hour == 0), "New Month Day", None)
    frame = pd.DataFrame(
        {
            "date_time": hours.strftime("%Y-%m-%d %H:%M:%S"),
            "holiday": holiday,
            "gust": np.where(rng.random(len(hours)) < 0.5, np.nan, rng.uniform(0, 30, len(hours)).round(1)),
            "traffic_volume": rng.integers(100, 5000, len(hours)),
        }
    )
    frame.to_csv(tmp_path / "traffic.csv", index=False)
    out = tmp_path / "traffic.yaml"
    assert cli.main(["init", str(tmp_path / "traffic.csv"), "--out", str(out)]) == 0
    spec = load_spec(out)
    assert spec.columns["holiday"].sparse and spec.columns["holiday"].nullable
    assert spec.columns["gust"].nullable and not spec.columns["gust"].sparse  # 0.5 ** 24: never all null
    assert "holiday: sparse: null in 1438 of 1440 rows" in out.read_text(encoding="utf-8")
    capsys.readouterr()
    assert cli.main(["validate-spec", "--data", str(tmp_path), str(out)]) == 0
    assert "would be blocked" not in capsys.readouterr().out
    # Without `sparse`, the all-null check would block 58 of the 60 days: an error, exit 1.
    out.write_text(out.read_text(encoding="utf-8").replace(", sparse: true", ""), encoding="utf-8")
    assert cli.main(["validate-spec", "--data", str(tmp_path), str(out)]) == 1
    report = capsys.readouterr()
    assert "blocked: 58 of 60 non-empty partitions would be blocked" in report.out
    assert "58 of 60 partitions would be blocked" in report.out + report.err
    assert "most partitions: fix the spec" in report.out + report.err


def test_init_joins_a_date_and_a_time_of_day_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Household power as UCI ships it: 16/12/2006;17:24:00;... with '?' for a missing reading."""
    rng = np.random.default_rng(8)
    stamps = pd.date_range("2006-12-16 17:25", periods=12 * 24 * 30, freq="5min")
    power = rng.gamma(2, 0.6, len(stamps)).round(3).astype(object)
    power[::50] = "?"
    frame = pd.DataFrame(
        {"Date": [f"{t.day}/{t.month}/{t.year}" for t in stamps], "Time": stamps.strftime("%H:%M:%S")}
        | {"Global_active_power": power, "Voltage": rng.normal(240, 3, len(stamps)).round(2)}
    )
    path = tmp_path / "household_power_consumption.txt"
    frame.to_csv(path, sep=";", index=False)
    out = tmp_path / "power.yaml"
    assert cli.main(["init", str(path), "--target", "Global_active_power", "--out", str(out)]) == 0
    spec = load_spec(out)
    assert (spec.time.column, spec.time.format, spec.time.hour_column) == ("date", "%d/%m/%Y", "time")
    assert spec.features.exclude == ["time"] and spec.features.time_features == ["hour"]
    assert spec.partitions.grain.value == "daily" and spec.task.value == "regression"
    capsys.readouterr()
    assert cli.main(["validate-spec", "--data", str(tmp_path), str(out)]) == 0
    report = capsys.readouterr().out
    assert "rows from 2006-12-16T17:25:00 to 2007-01-15T17:20:00" in report
    assert "quarantine: 173 of 8640 rows would be quarantined" in report  # the '?' readings


def test_init_gives_a_series_of_only_a_time_and_a_target_its_calendar(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """PJM's hourly load as shipped: `Datetime,PJME_MW` and nothing else, years in blocks with the
    newest first. Drafted without features, the spec validated and the first training run failed."""
    rng = np.random.default_rng(9)
    stamps = pd.date_range("2016-01-01 01:00", "2017-12-31 23:00", freq="h")
    frame = pd.DataFrame({"Datetime": stamps.strftime("%Y-%m-%d %H:%M:%S")})
    frame["PJME_MW"] = (
        30_000 + 5_000 * np.sin(stamps.hour / 24 * 2 * np.pi) + rng.normal(0, 900, len(frame))
    ).round(1)
    path = tmp_path / "PJME_hourly.csv"
    pd.concat([frame[stamps.year == 2017], frame[stamps.year == 2016]]).to_csv(path, index=False)
    out = tmp_path / "pjm.yaml"
    assert cli.main(["init", str(path), "--out", str(out)]) == 0
    assert "the model learns from the time's hour, dayofweek, month" in capsys.readouterr().out
    spec = load_spec(out)
    assert spec.feature_columns == [] and spec.features.time_features == ["hour", "dayofweek", "month"]
    assert cli.main(["validate-spec", "--data", str(tmp_path), str(out)]) == 0
    # The twin: a file holding only the target has nothing to learn from, and init says so.
    frame[["PJME_MW"]].to_csv(only := tmp_path / "only.csv", index=False)
    assert cli.main(["init", str(only), "--out", str(tmp_path / "only.yaml")]) == 1
    assert "no feature columns" in capsys.readouterr().err


def test_init_reads_arff_and_picks_a_classification_task(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    rows = "\n".join(
        f"{rng.uniform(0, 1):.3f},{rng.choice(['red', 'blue'])},{rng.choice(['yes', 'no'])}"
        for _ in range(60)
    )
    path = tmp_path / "things.arff"
    path.write_text(
        "@relation things\n@attribute size numeric\n@attribute colour {red,blue}\n"
        f"@attribute bought {{yes,no}}\n@data\n{rows}\n?,red,yes\n",
        encoding="utf-8",
    )
    out = tmp_path / "things.yaml"
    assert cli.main(["init", str(path), "--out", str(out)]) == 0  # the target: the last column
    spec = load_spec(out)
    assert spec.source.kind == "arff" and spec.target == "bought" and spec.task.value == "binary"
    assert spec.columns["size"].nullable and spec.columns["colour"].categories == ["blue", "red"]
    assert spec.time.arrival is not None


@pytest.mark.parametrize(("rows", "partitions"), [(60, 40), (8000, 400), (45_312, 2000)])
def test_rows_in_file_order_are_cut_like_timed_rows(tmp_path: Path, rows: int, partitions: int) -> None:
    """No time column (electricity's normalized export): about 20 rows a partition as timed rows
    get, at least 40 partitions and at most 2000. A fixed 40 made 1133-row partitions of 45,312
    rows, a quarter of the history in each training window."""
    rng = np.random.default_rng(rows)
    price = rng.uniform(0, 1, rows).round(6)
    frame = pd.DataFrame(
        {"nswprice": price, "class": np.where(price + rng.normal(0, 0.3, rows) > 0.5, "UP", "DOWN")}
    )
    path = tmp_path / "elec.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "elec.yaml"
    assert cli.main(["init", str(path), "--target", "class", "--out", str(out)]) == 0
    spec = load_spec(out)
    assert spec.time.arrival is not None
    days = (spec.partitions.end - spec.partitions.start).days
    assert days == partitions
    per_partition = rows / days
    assert per_partition <= 1.5 if rows == 60 else 20 <= per_partition < 23
    # Every invented day lies in the past, so Dagster has each partition (a partition after today
    # does not exist yet: from 2024 on, 2000 days stopped a replay at today's, rows left unread).
    assert len(partitions_for(spec).get_partition_keys()) == partitions
    # The windows fit the partitions: a drift window of two partitions holds the 30 rows it needs.
    assert spec.drift.current_window_partitions == (7 if rows == 60 else 2)


def test_init_names_a_wrong_target_and_refuses_to_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = sensor_readings(tmp_path)
    assert cli.main(["init", str(data), "--target", "Outptu", "--out", str(tmp_path / "x.yaml")]) == 1
    assert "target column 'Outptu' not in readings.csv.gz; did you mean 'output'?" in capsys.readouterr().err
    (tmp_path / "x.yaml").write_text("keep", encoding="utf-8")
    assert cli.main(["init", str(data), "--out", str(tmp_path / "x.yaml")]) == 1
    assert "exists; pass --force" in capsys.readouterr().err
    assert yaml.safe_load((tmp_path / "x.yaml").read_text()) == "keep"


def minute_readings(tmp_path: Path) -> Path:
    """Occupancy as UCI ships it: a row a minute from 2015-02-04 17:51:00 for five days."""
    rng = np.random.default_rng(4)
    stamps = pd.date_range("2015-02-04 17:51:00", periods=60 * 24 * 5, freq="min")
    light = rng.uniform(0, 500, len(stamps)).round(1)
    frame = pd.DataFrame(
        {
            "date": stamps.strftime("%Y-%m-%d %H:%M:%S"),
            "Temperature": rng.normal(21, 1, len(stamps)).round(2),
            "Light": light,
            "Occupancy": (light + rng.normal(0, 100, len(stamps)) > 250).astype(int),
        }
    )
    path = tmp_path / "datatraining.txt"
    frame.to_csv(path, index=False)
    return path


def test_init_starts_hourly_partitions_at_the_first_whole_day_so_none_is_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`partitions.start` is a date: hourly partitions from its midnight would begin with the 17
    hours before 17:51, each run over one blocked (row count 0); the draft starts the day after."""
    path = minute_readings(tmp_path)
    out = tmp_path / "occupancy.yaml"
    assert cli.main(["init", str(path), "--target", "Occupancy", "--out", str(out)]) == 0
    spec = load_spec(out)
    assert spec.partitions.grain.value == "hourly"
    assert (str(spec.partitions.start), str(spec.partitions.end)) == ("2015-02-05", "2015-02-09")
    assert "left out (1440 of 7200 rows before 2015-02-05 or from 2015-02-09 on)" in out.read_text(
        encoding="utf-8"
    )
    capsys.readouterr()
    assert cli.main(["validate-spec", "--data", str(tmp_path), str(out)]) == 0
    report = capsys.readouterr().out
    assert "partitions: 96 non-empty of 96 hourly partitions, first 2015-02-05-00:00" in report
    assert "hold no row" not in report
    assert "369 row(s) fall before and 1071 after the partitions" in report
    # The start truncated to the first row's day, as drafted before: 17 empty hours lead, all blocked.
    text = out.read_text(encoding="utf-8").replace("start: '2015-02-05'", "start: '2015-02-04'")
    out.write_text(text, encoding="utf-8")
    assert cli.main(["validate-spec", "--data", str(tmp_path), str(out)]) == 0
    report = capsys.readouterr().out
    assert "partitions: 103 non-empty of 120 hourly partitions, first 2015-02-04-17:00" in report
    assert "17 of 120 partitions hold no row: each run over one is blocked (row count 0)" in report


def yearly_sales(tmp_path: Path, years: int) -> Path:
    """Bookings dated by their year alone (hotel bookings read without their month names)."""
    rng = np.random.default_rng(6)
    frame = pd.DataFrame({"year": np.repeat(np.arange(2015, 2015 + years), 40)})
    frame["price"] = rng.uniform(50, 200, len(frame)).round(2)
    frame["nights"] = (frame["price"] / 40 + rng.normal(0, 1, len(frame))).round(2)
    path = tmp_path / "bookings.csv"
    frame.to_csv(path, index=False)
    return path


def test_init_says_when_the_data_leaves_no_partition_to_score_and_validate_refuses_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bookings.yaml"
    assert cli.main(["init", str(yearly_sales(tmp_path, 3)), "--target", "nights", "--out", str(out)]) == 0
    assert load_spec(out).partitions.grain.value == "yearly"
    note = (
        "only 3 partition(s) with rows; the first model needs 3 and at least one more partition must "
        "remain to score: validate-spec and backtest refuse this spec"
    )
    assert note in out.read_text(encoding="utf-8")
    capsys.readouterr()
    assert cli.main(["validate-spec", "--data", str(tmp_path), str(out)]) == 1
    assert (
        "partitions: 3 partition(s) with rows; the first model needs 3 (training.window_partitions // 2"
        in capsys.readouterr().err
    )


def test_init_on_four_years_leaves_a_partition_to_score(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bookings.yaml"
    assert cli.main(["init", str(yearly_sales(tmp_path, 4)), "--target", "nights", "--out", str(out)]) == 0
    assert "must remain to score" not in out.read_text(encoding="utf-8")
    capsys.readouterr()
    assert cli.main(["validate-spec", "--data", str(tmp_path), str(out)]) == 0
    report = capsys.readouterr()
    assert "partitions: 4 non-empty of 4 yearly partitions" in report.out
    assert "must remain to score" not in report.out + report.err
