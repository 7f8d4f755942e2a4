"""`init` without --target: a time, an ID or a constant is never the guess, and the guess is said.

Hotel Booking ends with `reservation_status_date`: init took it as a multiclass target and then
failed on its own spec. Walmart ends with `Unemployment`: init took it without a word.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_pipelines import cli
from mlops_pipelines.lib.onboarding.profile import profile_file
from mlops_pipelines.spec import load_spec

CHOOSE = "pass --target COL to choose)"


def hotel_like(tmp_path: Path, rows: int = 3000) -> Path:
    """Hotel Booking's shape: arrival parts, `reservation_status` naming `is_canceled`, and the
    date that status was recorded as the last column."""
    rng = np.random.default_rng(1)
    arrival = pd.Timestamp("2016-01-01") + pd.to_timedelta(rng.integers(0, 365, rows), unit="D")
    canceled = rng.random(rows) < 0.37
    no_show = rng.random(rows) < 0.05
    recorded = arrival - pd.to_timedelta(np.where(canceled, rng.integers(1, 60, rows), -2), unit="D")
    frame = pd.DataFrame(
        {
            "hotel": rng.choice(["Resort Hotel", "City Hotel"], rows),
            "is_canceled": canceled.astype(int),
            "lead_time": rng.integers(0, 300, rows),
            "arrival_date_year": arrival.year,
            "arrival_date_month": arrival.month_name(),
            "arrival_date_day_of_month": arrival.day,
            "adr": rng.gamma(5, 20, rows).round(2),
            "reservation_status": np.where(canceled, np.where(no_show, "No-Show", "Canceled"), "Check-Out"),
            "reservation_status_date": recorded.strftime("%Y-%m-%d"),
        }
    )
    path = tmp_path / "hotel_bookings.csv"
    frame.to_csv(path, index=False)
    return path


def walmart_like(tmp_path: Path) -> Path:
    """Walmart's weekly sales: no column named like a target, and `Unemployment` last."""
    rng = np.random.default_rng(2)
    weeks = pd.date_range("2010-02-05", periods=140, freq="7D")
    frame = pd.DataFrame([(s, d) for s in range(1, 11) for d in weeks], columns=["Store", "Date"])
    rows = len(frame)
    frame["Date"] = frame["Date"].dt.strftime("%d-%m-%Y")
    frame["Weekly_Sales"] = rng.gamma(5, 2e5, rows).round(2)
    frame["Holiday_Flag"] = (rng.random(rows) < 0.07).astype(int)
    frame["Temperature"] = rng.normal(60, 15, rows).round(2)
    frame["CPI"] = rng.uniform(126, 227, rows).round(6)
    frame["Unemployment"] = rng.uniform(4, 14, rows).round(3)
    path = tmp_path / "Walmart.csv"
    frame.to_csv(path, index=False)
    return path


def test_a_date_as_the_last_column_is_passed_over_for_the_last_usable_one(tmp_path: Path) -> None:
    found = profile_file(hotel_like(tmp_path))
    assert (found.target, found.task) == ("reservation_status", "multiclass")
    assert found.target_note == (
        "target: reservation_status (guessed: no target-like column name, so the last usable column; "
        f"after it, reservation_status_date is a date or time; {CHOOSE}"
    )
    # Named with --target, the date stays the target, as before: no guess, no note.
    given = profile_file(hotel_like(tmp_path), target="reservation_status_date")
    assert (given.target, given.target_note) == ("reservation_status_date", None)


def test_a_target_like_name_that_cannot_be_a_target_is_passed_over(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {"x": rng.normal(size=300).round(3), "label": "spam", "score": rng.normal(size=300).round(3)}
    )
    frame["row_ref"] = [f"r{i}" for i in range(300)]  # an ID as the last column
    path = tmp_path / "mail.csv"
    frame.to_csv(path, index=False)
    found = profile_file(path)
    assert found.target == "score"
    assert found.target_note == (
        "target: score (guessed: no usable target-like column name (label is constant), so the last "
        f"usable column; after it, row_ref is ID-like; {CHOOSE}"
    )
    # A usable target-like name wins over the last column, and says so.
    frame.assign(label=rng.choice(["spam", "ham"], 300)).to_csv(path, index=False)
    named = profile_file(path)
    assert named.target == "label"
    assert named.target_note == f"target: label (guessed: a target-like column name; {CHOOSE}"


def test_init_says_it_guessed_the_target_in_its_output_and_in_the_spec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, out = walmart_like(tmp_path), tmp_path / "walmart.yaml"
    line = f"target: unemployment (guessed: no target-like column name, so the last usable column; {CHOOSE}"
    assert cli.main(["init", str(data), "--out", str(out)]) == 0
    assert f"\n  {line}\n" in capsys.readouterr().out
    assert f"# - {line}\n" in out.read_text(encoding="utf-8")
    assert load_spec(out).target == "unemployment"
    # Named with --target: that column, and nothing said about guessing.
    assert cli.main(["init", str(data), "--target", "Weekly_Sales", "--out", str(out), "--force"]) == 0
    report = capsys.readouterr().out
    assert "regression on 'weekly_sales'" in report and "(guessed:" not in report
    assert "(guessed:" not in out.read_text(encoding="utf-8")
    assert load_spec(out).target == "weekly_sales"


def test_init_drafts_a_hotel_like_file_without_target_into_a_spec_that_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "hotel.yaml"
    assert cli.main(["init", str(hotel_like(tmp_path)), "--out", str(out)]) == 0
    spec = load_spec(out)
    assert (spec.target, spec.task.value) == ("reservation_status", "multiclass")
    assert "multiclass on 'reservation_status'" in capsys.readouterr().out


def test_init_refuses_to_guess_when_no_column_can_be_the_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    days = pd.date_range("2024-01-01", periods=300, freq="D")
    frame = pd.DataFrame({"visit_id": range(300), "day": days.strftime("%Y-%m-%d"), "source": "web"})
    path, out = tmp_path / "visits.csv", tmp_path / "visits.yaml"
    frame.to_csv(path, index=False)
    assert cli.main(["init", str(path), "--out", str(out)]) == 1
    assert capsys.readouterr().err == (
        "mlops-pipelines init: no column of visits.csv can be guessed as the target: visit_id (ID-like), "
        "day (a date or time), source (constant); pass --target COL to name it\n"
    )
    assert not out.exists()
    # One usable column is enough: it is the guess.
    frame.assign(pages=np.arange(300) % 7).to_csv(path, index=False)
    assert cli.main(["init", str(path), "--out", str(out)]) == 0
    assert "target: pages (guessed: no target-like column name" in capsys.readouterr().out
