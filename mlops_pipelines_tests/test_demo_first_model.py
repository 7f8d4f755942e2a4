"""A binary stream whose first days hold one class: the first model waits for data it can learn
from, in the demo (real Dagster runs) and in the offline backtest alike, and a stream that never
holds two classes fails naming why instead of crashing a training run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_pipelines import cli
from mlops_pipelines_tests.rain_stream import write_rain_spec

DAYS = 36
DRY_DAYS = 8  # no rain at all before this day: a first window of them holds one class


def write_stream(folder: Path, dry_days: int) -> Path:
    """Hourly readings; rain when it is warm, and never in the first `dry_days` days."""
    rng = np.random.default_rng(7)
    hours = pd.date_range("2024-01-01", periods=DAYS * 24, freq="h")
    day = np.arange(len(hours)) // 24
    temp = np.where(day < dry_days, rng.uniform(0, 8, len(hours)), rng.uniform(0, 20, len(hours)))
    warm = temp + rng.normal(0, 2, len(hours)) > 10
    rain = np.where(warm & (day >= dry_days), "yes", "no")
    frame = pd.DataFrame(
        {"when": hours.strftime("%Y-%m-%d %H:%M"), "temp": temp, "hour": hours.hour, "rain": rain}
    )
    frame.to_csv(folder / "rain.csv", index=False)
    return write_rain_spec(folder, ["no", "yes"], f"2024-02-{DAYS - 31 + 1:02d}")


def backtest_json(own_data_home: Path, spec: Path) -> dict[str, object]:
    assert cli.main(["backtest", "--project", str(spec)]) == 0
    report = own_data_home / "reports" / "rainfall" / "backtest" / "backtest.json"
    data: dict[str, object] = json.loads(report.read_text(encoding="utf-8"))
    return data


def test_the_first_model_waits_for_both_classes_in_the_demo_and_the_backtest_alike(
    tmp_path: Path, own_data_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_stream(tmp_path, DRY_DAYS)
    # Until two weeks after the dry days: the first model comes, then a few partitions with it.
    assert cli.main(["demo", "--project", str(spec), "--until", "2024-01-28", "--json"]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert "first model waits: training window 2024-01-01..2024-01-0" in err
    assert "target 'rain' has a single class ['no']: nothing to learn" in err
    waits = summary["first_model_waits"]
    assert waits and all(w["reason"] for w in waits)
    first = summary["retrains"][0]
    assert first["reason"] == "bootstrap: first model"
    # Not at the fixed bootstrap point (half a window + holdout + delay: 2024-01-06). Rain starts
    # on 2024-01-09: the training window's first CV fold holds it from as-of 2024-01-16 on, but the
    # evaluation reaches back 9 daily partitions (to 200 rows) and its oldest fold model, fitted
    # on the partitions before its fold, holds rain only from as-of 2024-01-19 on.
    assert first["as_of"] == "2024-01-19"
    assert f"first model trained as of {first['as_of']}" in err
    assert summary["champion_version"] is not None
    # The backtest puts its first model at the same partition (the same readiness rule).
    assert backtest_json(own_data_home, spec)["bootstrap_as_of"] == first["as_of"]


def test_validate_spec_warns_that_the_first_partitions_hold_one_label(
    tmp_path: Path, own_data_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_stream(tmp_path, DRY_DAYS)
    assert cli.main(["validate-spec", "--data", str(tmp_path), str(spec)]) == 0
    assert (
        "warning: target 'rain': the first 6 partitions (2024-01-01..2024-01-06) hold one label, 'no': "
        "the first model waits until its window holds two" in capsys.readouterr().out
    )
    # Its twin: a stream with rain from the first day gets no such warning.
    spec = write_stream(tmp_path, 0)
    assert cli.main(["validate-spec", "--data", str(tmp_path), str(spec)]) == 0
    assert "hold one label" not in capsys.readouterr().out


def test_a_stream_that_never_holds_two_classes_fails_naming_the_class(
    tmp_path: Path, own_data_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_stream(tmp_path, DAYS)  # never rains
    assert cli.main(["demo", "--project", str(spec), "--chunk", "14"]) == 1
    err = capsys.readouterr().err
    assert f"no first model in {DAYS} partitions (2024-01-01..2024-02-05)" in err
    assert "target 'rain' has a single class ['no']" in err
    # No training run failed on the way: no model was ever registered.
    assert "bootstrap: first model" not in err
    assert cli.main(["backtest", "--project", str(spec)]) == 1
    err = capsys.readouterr().err
    assert "the newest window could not be learned from: " in err
    assert "single class ['no']" in err
