"""lib/onboarding/profile: files exported the European way read as their numbers, not as text.

A ';'-separated file with decimal commas, -200 for a missing reading and two empty trailing
columns (the shape of UCI's Air Quality data) used to draft a multiclass task on text values
and a schema whose empty columns blocked every batch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mlops_pipelines.lib.onboarding.draft import draft_spec
from mlops_pipelines.lib.onboarding.profile import profile_file


def european_file(tmp_path: Path, rows: int = 400) -> Path:
    rng = np.random.default_rng(2)
    stamps = pd.date_range("2004-03-10 18:00", periods=rows, freq="h")
    co = rng.uniform(0.1, 4.0, rows).round(1)
    co[::40] = -200.0
    frame = pd.DataFrame(
        {
            "Date": stamps.strftime("%d/%m/%Y"),
            "Time": stamps.strftime("%H.%M.%S"),
            "CO(GT)": co,
            "T": np.where(np.arange(rows) % 50 == 7, -200.0, rng.normal(15, 6, rows).round(1)),
            "Sensor": rng.integers(700, 1500, rows),
            "Empty1": "",
            "Empty2": "",
        }
    )
    path = tmp_path / "AirQuality.csv"
    frame.to_csv(path, sep=";", index=False, decimal=",")
    return path


def test_a_european_export_reads_as_numbers_with_codes_missing_and_empty_columns_left_out(
    tmp_path: Path,
) -> None:
    path = european_file(tmp_path)
    found = profile_file(path, target="CO(GT)")
    options = found.read_options
    assert options["sep"] == ";" and options["decimal"] == ","
    assert options["na_values"] == {"CO(GT)": [-200]}
    assert options["usecols"] == ["Date", "Time", "CO(GT)", "T", "Sensor"]
    assert found.empty_columns == ["empty1", "empty2"] and "empty1" not in found.columns
    assert found.task == "regression" and found.columns["co_gt"].dtype == "float"
    assert found.columns["co_gt"].nulls == 10 and found.columns["co_gt"].low == 0.1
    assert found.time.column == "date" and found.time.format == "%d/%m/%Y"
    assert found.columns["t"].dtype == "float" and found.columns["sensor"].dtype == "int"
    # A feature's code stays a value: served rows carry it as sent, and a tree splits it off.
    assert found.columns["t"].nulls == 0 and found.columns["t"].low == -200


def test_class_codes_named_like_a_class_make_a_multiclass_task(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(
        {"Elevation": rng.normal(2900, 300, 300).round(), "Cover_Type": rng.integers(1, 8, 300)}
    )
    frame["quality"] = rng.integers(3, 10, 300)
    frame["count"] = rng.poisson(300, 300)
    path = tmp_path / "forest.csv"
    frame.to_csv(path, index=False)
    found = profile_file(path, target="Cover_Type")
    assert found.task == "multiclass" and found.columns["cover_type"].notes == []
    # A few whole numbers with another name stay a quantity, with a note saying how to switch.
    quality = profile_file(path, target="quality")
    assert quality.task == "regression"
    assert (
        "7 whole numbers: if they name classes, set task: multiclass" in quality.columns["quality"].notes[0]
    )
    counts = profile_file(path, target="count")
    assert counts.task == "regression" and counts.columns["count"].notes == []


def test_near_constant_one_hot_columns_are_noted_with_their_plain_value(tmp_path: Path) -> None:
    # Covertype's soil columns: 0 in 99.5 % of rows. The note read "np.int64(0)" before.
    rng = np.random.default_rng(4)
    rows = 2000
    flag = np.zeros(rows, dtype=int)
    flag[:10] = 1
    frame = pd.DataFrame(
        {"Soil_Type7": flag, "x": rng.normal(size=rows), "Cover_Type": rng.integers(1, 8, rows)}
    )
    path = tmp_path / "covtype.csv"
    frame.to_csv(path, index=False)
    column = profile_file(path, target="Cover_Type").columns["soil_type7"]
    assert "near_constant" in column.flags
    assert column.notes == ["near-constant: 0 in 99.5% of rows"]
    spread = profile_file(path, target="Cover_Type").columns["x"]
    assert "near_constant" not in spread.flags and not any("near-constant" in n for n in spread.notes)


def test_seconds_since_the_first_row_are_a_counter_left_out_of_the_features(tmp_path: Path) -> None:
    # A card-fraud file's `Time`: seconds since the first transaction, too small for epoch
    # seconds. As a feature every future row fell in its newest bin, and drifted.
    rng = np.random.default_rng(6)
    rows = 3000
    frame = pd.DataFrame(
        {
            "Time": np.sort(rng.uniform(0, 172792, rows)).round(),
            "V1": rng.normal(size=rows),
            "Amount": rng.lognormal(3, 1, rows).round(2),
            "Class": (rng.random(rows) < 0.05).astype(int),
        }
    )
    path = tmp_path / "creditcard.csv"
    frame.to_csv(path, index=False)
    profile = profile_file(path, target="Class")
    assert profile.time.column is None
    assert profile.columns["time"].flags == ["counter"]
    assert profile.columns["time"].notes[0].startswith("a counter in file order: rises or falls")
    assert draft_spec(profile, "fraud", str(tmp_path))[0]["features"]["exclude"] == ["time"]
    # The same values shuffled are a feature like any other.
    frame.assign(Time=rng.permutation(frame["Time"].to_numpy())).to_csv(path, index=False)
    shuffled = profile_file(path, target="Class")
    assert shuffled.columns["time"].flags == []
    assert not draft_spec(shuffled, "f", ".")[0]["features"].get("exclude")


def test_an_electricity_export_with_yymmdd_dates_gets_daily_partitions(tmp_path: Path) -> None:
    days = pd.date_range("1996-05-07", periods=30, freq="D")
    frame = pd.DataFrame(
        {
            "date": [int(d.strftime("%y%m%d")) for d in days for _ in range(48)],
            "period": list(range(1, 49)) * len(days),
            "nswprice": np.random.default_rng(5).gamma(2, 0.03, 48 * len(days)).round(6),
            "class": ["UP", "DOWN"] * (24 * len(days)),
        }
    )
    path = tmp_path / "elec.csv"
    frame.to_csv(path, index=False)
    axis = profile_file(path, target="class").time
    assert (axis.column, axis.format) == ("date", "%y%m%d")
    assert axis.times is not None and axis.times.iloc[0] == pd.Timestamp("1996-05-07")
    assert axis.times.dt.normalize().nunique() == 30
    # The same numbers under a name that says nothing of time stay a feature: no time axis.
    frame.rename(columns={"date": "code"}).to_csv(path, index=False)
    assert profile_file(path, target="class").time.column is None


def test_the_target_is_the_most_telling_name_and_its_codes_join_the_placeholders(tmp_path: Path) -> None:
    rows = 400
    rng = np.random.default_rng(6)
    target = rng.normal(20, 3, rows).round(1)
    target[::40] = -200.0  # the air-quality code, in the target
    feature = rng.normal(size=rows).round(3).astype(object)
    feature[::25] = "-"
    frame = pd.DataFrame({"y": rng.normal(size=rows).round(3), "x": feature, "target": target})
    path = tmp_path / "both.csv"
    frame.to_csv(path, index=False)
    found = profile_file(path)
    assert found.target == "target"  # not 'y', which comes first
    assert found.read_options == {"na_values": {"x": ["-"], "target": [-200]}}
    assert found.columns["x"].dtype == "float" and found.columns["target"].nulls == 10
    assert profile_file(path, target="y").read_options == {"na_values": {"x": ["-"]}}
