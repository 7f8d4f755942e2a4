"""A category that names the class label is a leak `init` excludes; a strong feature stays.

Hotel Booking's `reservation_status` (Check-Out, Canceled, No-Show) gives `is_canceled` in every
row; left a feature, every backtest scored ROC-AUC 1.0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_pipelines import cli
from mlops_pipelines.lib.onboarding.draft import draft_spec
from mlops_pipelines.lib.onboarding.leaks import deciding_categories
from mlops_pipelines.lib.onboarding.profile import profile_file
from mlops_pipelines.spec import load_spec
from mlops_pipelines_tests.lib.onboarding.test_target_guess import hotel_like

KEEP = "to keep it as a feature, remove it from features.exclude"


def bookings(tmp_path: Path, rows: int = 2000) -> Path:
    """A status that names the label in every row, a segment that does in 98 % of rows, a copy."""
    rng = np.random.default_rng(7)
    label = (rng.random(rows) < 0.4).astype(int)
    segment = np.where(label == 1, "Groups", "Direct")
    flipped = rng.choice(rows, rows // 50, replace=False)  # 2 %: strongly predictive, no leak
    segment[flipped] = np.where(segment[flipped] == "Groups", "Direct", "Groups")
    frame = pd.DataFrame(
        {
            "booking_ref": [f"B{i:05d}" for i in range(rows)],
            "lead_time": rng.integers(0, 300, rows),
            "segment": segment,
            "status": np.where(
                label == 1, np.where(rng.random(rows) < 0.1, "No-Show", "Canceled"), "Check-Out"
            ),
            "canceled": label,
        }
    )
    path = tmp_path / "bookings.csv"
    frame.to_csv(path, index=False)
    return path


def test_a_category_that_decides_the_label_is_excluded_and_a_strong_one_stays(tmp_path: Path) -> None:
    found = profile_file(bookings(tmp_path), target="canceled")
    assert found.task == "binary"
    assert "leak" in found.columns["status"].flags
    assert found.columns["status"].notes == [
        f"suspected target leak: its value decides 'canceled' in 100.00% of rows; {KEEP}"
    ]
    assert "leak" not in found.columns["segment"].flags and found.columns["segment"].notes == []
    # The ID is excluded as an ID, not also called a leak.
    assert found.columns["booking_ref"].flags == ["id"]
    spec, notes = draft_spec(found, "bookings", str(tmp_path))
    assert spec["features"]["exclude"] == ["booking_ref", "status"]
    assert f"status: suspected target leak: its value decides 'canceled' in 100.00% of rows; {KEEP}" in notes


def test_init_excludes_hotel_bookings_reservation_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "hotel.yaml"
    assert cli.main(["init", str(hotel_like(tmp_path)), "--target", "is_canceled", "--out", str(out)]) == 0
    spec = load_spec(out)
    assert "reservation_status" in spec.features.exclude and "hotel" not in spec.features.exclude
    line = f"reservation_status: suspected target leak: its value decides 'is_canceled' in 100.00% of rows; {KEEP}"
    assert f"\n  {line}\n" in capsys.readouterr().out
    assert f"# - {line}\n" in out.read_text(encoding="utf-8")


def test_purity_needs_rows_many_per_category_and_a_label_that_varies() -> None:
    rng = np.random.default_rng(9)
    label = (rng.random(2000) < 0.3).astype(int)
    named = np.where(label == 1, "yes", "no").astype(object)
    frame = pd.DataFrame({"label": label, "named": named})
    assert deciding_categories(frame, "label", ["named"]) == {"named": 1.0}
    # One row in 2000 otherwise: 99.95 %, still a leak; missing values count in neither direction.
    frame.loc[0, "named"] = "no" if label[0] else "yes"
    frame.loc[1:50, "named"] = None
    assert deciding_categories(frame, "label", ["named"]) == {"named": pytest.approx(1 - 1 / 1950)}
    # Under 200 rows a pure split may be chance.
    assert deciding_categories(frame.head(150), "label", ["named"]) == {}
    # A code per ten rows is pure by chance as much as by design (a group's own ID): no leak...
    grouped = pd.DataFrame({"label": np.repeat([0, 1], 1000), "code": [f"c{i // 10}" for i in range(2000)]})
    assert deciding_categories(grouped, "label", ["code"]) == {}
    # ...while a code per hundred rows, as pure, is one.
    grouped["batch"] = [f"b{i // 100}" for i in range(2000)]
    assert deciding_categories(grouped, "label", ["batch"]) == {"batch": 1.0}
    # Two positives in 5000 rows: any column is 99.96 % 'pure'; it must fix what the majority misses.
    rare = pd.DataFrame({"label": [1, 1] + [0] * 4998, "side": ["a", "b"] * 2500})
    assert deciding_categories(rare, "label", ["side"]) == {}


def test_an_exact_copy_of_a_class_label_is_still_flagged_as_a_copy(tmp_path: Path) -> None:
    path = bookings(tmp_path)
    frame = pd.read_csv(path).assign(canceled_again=lambda f: f["canceled"])
    frame = frame[["lead_time", "canceled_again", "canceled"]]
    frame.to_csv(path, index=False)
    found = profile_file(path, target="canceled")
    assert found.columns["canceled_again"].flags == ["leak"]
    assert found.columns["canceled_again"].notes == ["target leak: a copy of the target"]
    assert found.columns["lead_time"].flags == []
