"""Which time `init` keys a file by when it holds two: a datetime column and year + month (+ day)
columns, the month written as a name (Hotel Booking Demand) or a number."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_pipelines import cli
from mlops_pipelines.lib.onboarding.time_detect import detect_time
from mlops_pipelines.lib.time_axis import TimeAxisError
from mlops_pipelines.spec import load_spec


def bookings(rows: int = 3000, status_follows_arrival: bool = False) -> pd.DataFrame:
    """Hotel-Booking-shaped: arrival year, month name and day; a status date that is the arrival
    for a stay and the cancellation's day (up to the lead time before it) for a cancelled one."""
    rng = np.random.default_rng(11)
    arrival = pd.Timestamp("2015-07-01") + pd.to_timedelta(np.sort(rng.integers(0, 400, rows)), unit="D")
    lead = rng.integers(1, 300, rows)
    cancelled = (rng.random(rows) < 0.4).astype(int)
    shift = np.zeros(rows, dtype=int) if status_follows_arrival else np.where(cancelled == 1, lead, 0)
    status = arrival - pd.to_timedelta(shift, unit="D")
    return pd.DataFrame(
        {
            "hotel": rng.choice(["Resort Hotel", "City Hotel"], rows),
            "is_canceled": cancelled,
            "lead_time": lead,
            "arrival_date_year": arrival.year,
            "arrival_date_month": arrival.strftime("%B"),
            "arrival_date_day_of_month": arrival.day,
            "adr": rng.gamma(4, 25, rows).round(2),
            "reservation_status_date": status.strftime("%Y-%m-%d"),
        }
    )


def test_year_month_name_and_day_columns_beat_a_date_that_dates_rows_otherwise() -> None:
    frame = bookings()
    axis = detect_time(frame, None)
    assert (axis.column, axis.month_column, axis.day_column) == (
        "arrival_date_year",
        "arrival_date_month",
        "arrival_date_day_of_month",
    )
    assert axis.times is not None and axis.times.iloc[0] == pd.Timestamp("2015-07-01")
    assert axis.note is not None and "pass --time reservation_status_date" in axis.note
    assert axis.other_dates == ("reservation_status_date",)


def test_a_date_that_agrees_with_its_parts_stays_the_axis() -> None:
    """A date column with its own year, month and day beside it: one axis, and the column (which
    may hold a finer time) is kept, with nothing to note."""
    frame = bookings(status_follows_arrival=True)
    axis = detect_time(frame, None)
    assert (axis.column, axis.month_column, axis.note) == ("reservation_status_date", None, None)


def test_a_wanted_time_is_taken_as_given_and_the_other_date_still_left_out() -> None:
    axis = detect_time(bookings(), "reservation_status_date")
    assert (axis.column, axis.month_column, axis.note) == ("reservation_status_date", None, None)
    assert axis.other_dates == ()
    parts = detect_time(bookings(), "arrival_date_year")
    assert (parts.month_column, parts.other_dates) == ("arrival_date_month", ("reservation_status_date",))


def test_init_drafts_the_arrival_axis_and_leaves_the_status_date_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "hotel_bookings.csv"
    bookings().to_csv(path, index=False)
    out = tmp_path / "hotel.yaml"
    assert cli.main(["init", str(path), "--target", "is_canceled", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "'reservation_status_date' dates" in said and "pass --time reservation_status_date" in said
    spec = load_spec(out)
    assert (spec.time.column, spec.time.month_column, spec.time.day_column) == (
        "arrival_date_year",
        "arrival_date_month",
        "arrival_date_day_of_month",
    )
    assert spec.partitions.grain.value == "weekly"  # 3000 rows over 400 days
    assert "reservation_status_date" in spec.features.exclude
    assert cli.main(["validate-spec", "--data", str(tmp_path), str(out)]) == 0
    checked = capsys.readouterr().out
    assert "0 of 3000 rows would be quarantined" in checked
    assert "(format auto) read as year + month + day" in checked


def test_a_month_column_of_other_words_is_no_month() -> None:
    """ "Summer" is no month: the year stands alone (yearly), and no month column is drafted."""
    frame = bookings().drop(columns="reservation_status_date")
    frame["arrival_date_month"] = np.where(
        frame["arrival_date_month"] == "July", "Summer", frame["arrival_date_month"]
    )
    axis = detect_time(frame, None)
    assert (axis.column, axis.month_column, axis.day_column) == ("arrival_date_year", None, None)


def test_quarters_written_1960q1_are_a_time_axis(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Macro-economic panels write quarters as 1960Q1 (no separator, so no date pattern)."""
    rng = np.random.default_rng(2)
    quarters = pd.period_range("1960Q1", periods=60, freq="Q").astype(str)
    frame = pd.DataFrame(
        {"country": np.tile([f"c{i}" for i in range(25)], 60), "quarter": np.repeat(quarters, 25)}
    )
    frame["rate"] = rng.normal(5, 1, len(frame)).round(2)
    frame["growth"] = (0.3 * frame["rate"] + rng.normal(0, 1, len(frame))).round(3)
    path = tmp_path / "panel.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "panel.yaml"
    assert cli.main(["init", str(path), "--target", "growth", "--out", str(out)]) == 0
    spec = load_spec(out)
    assert spec.time.column == "quarter" and spec.partitions.grain.value == "quarterly"
    assert str(spec.partitions.start) == "1960-01-01"
    capsys.readouterr()
    assert cli.main(["validate-spec", "--data", str(tmp_path), str(out)]) == 0
    assert "60 non-empty of 60 quarterly partitions" in capsys.readouterr().out


def test_a_quarter_code_in_a_text_column_of_other_words_is_no_time() -> None:
    frame = pd.DataFrame({"plan": ["1960Q1", "basic", "1961Q2"] * 10, "y": range(30)})
    assert detect_time(frame, None).column is None


def test_a_date_empty_in_some_rows_gives_way_to_complete_year_month_day_columns() -> None:
    """A cancellation's date is empty for every booking that was kept: it cannot time every row,
    and `init` crashed on it though the arrival columns were complete."""
    frame = bookings().drop(columns="reservation_status_date")
    frame["cancellation_date"] = pd.Series(
        pd.Timestamp("2015-06-01") + pd.to_timedelta(frame.index % 90, unit="D")
    )
    frame.loc[frame["is_canceled"] == 0, "cancellation_date"] = pd.NaT
    frame["cancellation_date"] = frame["cancellation_date"].dt.strftime("%Y-%m-%d")
    axis = detect_time(frame, None)
    assert (axis.column, axis.month_column, axis.day_column) == (
        "arrival_date_year",
        "arrival_date_month",
        "arrival_date_day_of_month",
    )
    assert axis.note is not None and "'cancellation_date' is empty in" in axis.note
    assert axis.other_dates == ("cancellation_date",)
    # Alone, it is still the axis, and the error names its empty rows rather than a guess.
    with pytest.raises(TimeAxisError, match=r"'cancellation_date': \d+ row\(s\) have no time"):
        detect_time(frame[["cancellation_date", "adr", "is_canceled"]], None)
