"""validation.rules on generated data: a stuck column, duplicate keys, future timestamps, null
shares; blocking or warning as configured, every message naming the column and the rule."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from mlops_pipelines import cli
from mlops_pipelines.lib.frames import EVENT_TIME, PARTITION
from mlops_pipelines.lib.grains import partition_keys
from mlops_pipelines.lib.ingestion.sources import clear_source_cache
from mlops_pipelines.lib.validation.rules import check_rules
from mlops_pipelines.spec import ProjectSpec, SpecError, parse_spec

SCHEMA = {
    "ts": {"dtype": "datetime"},
    "station": {"dtype": "str"},
    "temp": {"dtype": "float"},
    "hum": {"dtype": "float", "nullable": True},
    "y": {"dtype": "float"},
}


def readings() -> pd.DataFrame:
    """Ten days of hourly readings; temp is stuck at 21.5 for the first 100 hours; day 6 loses
    most humidity values; one reading of day 3 is sent twice."""
    rng = np.random.default_rng(4)
    ts = pd.date_range("2024-01-01", periods=240, freq="h")
    frame = pd.DataFrame({"ts": ts, "station": "north", "temp": rng.normal(15, 3, 240).round(2)})
    frame.loc[:99, "temp"] = 21.5
    frame["hum"] = rng.uniform(0.2, 0.9, 240).round(3)
    frame.loc[120:140, "hum"] = np.nan
    frame["y"] = rng.normal(0, 1, 240).round(3)
    frame.loc[60, ["temp", "hum"]] = [20.0, 0.5]  # differs, yet the same key (station, ts) as row 61:
    frame.loc[61, "ts"] = frame.loc[60, "ts"]
    return frame


def spec_with(rules: list[dict[str, Any]]) -> ProjectSpec:
    return parse_spec(
        {
            "name": "sensors",
            "task": "regression",
            "source": {"kind": "csv", "files": [{"path": "readings.csv"}]},
            "schema": SCHEMA,
            "target": "y",
            "time": {"column": "ts"},
            "partitions": {"start": "2024-01-01", "end": "2024-01-11"},
            "training": {"window_partitions": 4, "holdout_partitions": 2},
            "validation": {"rules": rules},
        }
    )


def keyed(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(
        **{EVENT_TIME: frame["ts"], PARTITION: partition_keys(frame["ts"], "daily").to_numpy()}
    )


KEYS = [f"2024-01-{d:02d}" for d in range(1, 11)]


def test_a_stuck_column_blocks_the_partitions_of_its_run() -> None:
    spec = spec_with([{"rule": "stuck", "column": "temp", "min_rows": 96}])
    findings = check_rules(keyed(readings()), spec, KEYS, datetime(2030, 1, 1))
    # 21.5 in hours 0..59 (row 60 breaks the run), then in hours 61..99: runs of 60 and 39 rows, both
    # shorter than 96, so nothing is stuck; a bar of 50 flags the days of the first run.
    assert findings == []
    spec = spec_with([{"rule": "stuck", "column": "temp", "min_rows": 50}])
    findings = check_rules(keyed(readings()), spec, KEYS, datetime(2030, 1, 1))
    assert [f.partition for f in findings] == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert {f.severity for f in findings} == {"block"}
    assert findings[0].message.startswith(
        "column 'temp' is stuck: the value 21.5 repeats in 60 rows in a row (2024-01-01"
    )
    assert "at least 50 (validation.rules stuck)" in findings[0].message


def test_future_timestamps_and_warn_severity() -> None:
    spec = spec_with([{"rule": "no_future", "tolerance": "PT1H", "severity": "warn"}])
    findings = check_rules(keyed(readings()), spec, KEYS, datetime(2024, 1, 9, 12))
    assert [f.partition for f in findings] == ["2024-01-09", "2024-01-10"]
    assert findings[0].severity == "warn"
    assert findings[0].message.startswith(
        "10 row(s) have an event time after 2024-01-09 13:00:00 (now + 1:00:00)"
    )


def test_rules_name_spec_columns() -> None:
    with pytest.raises(SpecError, match=r"validation.rules names column\(s\) \['tmp'\].*did you mean 'temp'"):
        spec_with([{"rule": "stuck", "column": "tmp", "min_rows": 10}])
    with pytest.raises(SpecError, match=r"validation\.rules\.0"):
        spec_with([{"rule": "sticky", "column": "temp"}])


def test_validate_spec_with_data_reports_rules_as_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "state"))
    clear_source_cache()
    readings().to_csv(tmp_path / "readings.csv", index=False)
    rules = [
        {"rule": "stuck", "column": "temp", "min_rows": 50},
        {"rule": "unique_key", "columns": ["station", "ts"]},
        {"rule": "null_share", "column": "hum", "max": 0.5},
        {"rule": "null_share", "column": "hum", "max": 0.05, "severity": "warn"},
    ]
    path = tmp_path / "sensors.yaml"
    path.write_text(yaml.safe_dump(spec_with(rules).model_dump(mode="json", by_alias=True)), encoding="utf-8")
    assert cli.main(["validate-spec", "--data", str(tmp_path), str(path)]) == 0  # 4 of 10 blocked: a warning
    out = capsys.readouterr().out
    # GX quarantines the repeated key (row 61 repeats day 3's row 12), naming the key columns.
    assert (
        "1 row(s): duplicate of row 12 over key ['station', 'ts'] (expect_compound_columns_to_be_unique)"
        in out
    )
    assert "blocked: 4 of 10 non-empty partitions would be blocked" in out
    assert "3 partition(s): column 'temp' is stuck: the value 21.5 repeats in 60 rows" in out
    assert "1 partition(s): column 'hum': 87.5% nulls, above 50.0% (validation.rules null_share;" in out
    assert (
        "warning: 1 partition(s): column 'hum': 87.5% nulls, above 5.0% (validation.rules null_share)" in out
    )
