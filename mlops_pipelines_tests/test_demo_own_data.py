"""The demo on a new user's data fails loudly, before or after its runs, never exit 0 with nothing done."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mlops_pipelines import cli
from mlops_pipelines.lib.ingestion.sources import clear_source_cache


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two days of readings and a spec whose schema misses the file's 'Pressure' column."""
    for name in ("MLOPS_HOME", "DAGSTER_HOME"):
        monkeypatch.setenv(name, str(tmp_path / "state" / name.lower()))
    specs = tmp_path / "specs"
    specs.mkdir()
    monkeypatch.setenv("MLOPS_PROJECTS_DIR", str(specs))
    monkeypatch.delenv("MLOPS_DATA_DIR", raising=False)
    clear_source_cache()
    hours = pd.date_range("2024-01-01", periods=48, freq="h")
    frame = pd.DataFrame(
        {"When": hours.strftime("%Y-%m-%d %H:%M"), "Temp": range(48), "Pressure": 1.0, "Y": 1.0}
    )
    frame.to_csv(tmp_path / "readings.csv", index=False)
    spec = {
        "name": "readings",
        "task": "regression",
        "data_dir": str(tmp_path),
        "source": {"kind": "csv", "files": [{"path": "readings.csv"}]},
        "schema": {"when": {"dtype": "datetime"}, "temp": {"dtype": "float"}, "y": {"dtype": "float"}},
        "target": "y",
        "time": {"column": "when"},
        "partitions": {"start": "2024-01-01", "end": "2024-01-03"},  # one block, one run
        "training": {"window_partitions": 2, "holdout_partitions": 1},
    }
    (specs / "readings.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    return specs / "readings.yaml"


def test_a_demo_whose_every_partition_is_blocked_exits_1_naming_the_column(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["demo", "--project", "readings"]) == 1
    err = capsys.readouterr().err
    assert "every partition was blocked (1 block(s), 2024-01-01..2024-01-02)" in err
    # The blocking check's own words, not just "step failed": the column and what is wrong.
    assert "check schema failed: 2024-01-01: column 'pressure' extra: column is not in the spec" in err


def test_a_demo_whose_data_falls_in_no_partition_exits_1_before_any_run(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = yaml.safe_load(project.read_text(encoding="utf-8"))
    spec["partitions"] = {"start": "2025-01-01", "end": "2025-01-05"}
    project.write_text(yaml.safe_dump(spec), encoding="utf-8")
    assert cli.main(["demo", "--project", "readings"]) == 1
    err = capsys.readouterr().err
    assert "no row falls in any of the 4 daily partitions 2025-01-01..2025-01-04" in err
    assert not (project.parent.parent / "state" / "mlops_home" / "lake").exists()


def test_a_spec_file_given_by_path_runs_without_a_projects_directory(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The spec as `init` leaves it: a file, no MLOPS_PROJECTS_DIR; its columns match the data.
    monkeypatch.delenv("MLOPS_PROJECTS_DIR")
    csv = project.parent.parent / "readings.csv"
    pd.read_csv(csv).drop(columns=["Pressure"]).to_csv(csv, index=False)
    assert cli.main(["demo", "--project", str(project), "--json"]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert (summary["project"], summary["partitions"]) == ("readings", 2)
    # Progress on stderr with --json too: one line per block (stderr is no terminal here).
    assert "[   2/2] 2024-01-01..2024-01-02  ingested; no model yet" in err
    assert "BLOCKED" not in err and "blocked" not in summary


def test_a_demo_with_some_partitions_blocked_exits_1_with_their_share_and_reason(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = project.parent.parent / "readings.csv"
    frame = pd.read_csv(csv).drop(columns=["Pressure"])
    frame.loc[24:, "Temp"] = None  # the second day has no temperature at all
    frame.to_csv(csv, index=False)
    spec = yaml.safe_load(project.read_text(encoding="utf-8"))
    spec["validation"] = {"rules": [{"rule": "null_share", "column": "temp", "max": 0.5}]}
    project.write_text(yaml.safe_dump(spec), encoding="utf-8")
    assert cli.main(["demo", "--project", str(project), "--chunk", "1", "--json"]) == 1
    out, err = capsys.readouterr()
    summary = json.loads(out)  # the JSON is still printed, with what was blocked
    assert summary["partitions"] == 1
    assert summary["blocked_summary"]["share"] == 0.5
    assert "BLOCKED: 1 of 2 partitions (50%) were not processed: " in err
    assert "temp" in summary["blocked_summary"]["reasons"][0]["reason"]


def test_a_blocked_day_inside_a_block_loses_only_that_day(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hours = pd.date_range("2024-01-01", periods=72, freq="h")
    frame = pd.DataFrame({"When": hours.strftime("%Y-%m-%d %H:%M"), "Temp": range(72), "Y": 1.0})
    frame.loc[24:47, "Temp"] = None  # the middle day has no temperature at all
    frame.to_csv(project.parent.parent / "readings.csv", index=False)
    spec = yaml.safe_load(project.read_text(encoding="utf-8"))
    spec["partitions"] = {"start": "2024-01-01", "end": "2024-01-04"}  # three days, one block
    spec["validation"] = {"rules": [{"rule": "null_share", "column": "temp", "max": 0.5}]}
    spec["training"]["window_partitions"] = 10  # no first model is due within three days
    project.write_text(yaml.safe_dump(spec), encoding="utf-8")
    assert cli.main(["demo", "--project", str(project), "--json"]) == 1
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["blocked"][0]["partitions"] == "2024-01-02" and summary["blocked"][0]["count"] == 1
    assert "BLOCKED: 1 of 3 partitions (33%) were not processed: " in err
    # The days around it ran again as their own spans: both validated, the blocked one not.
    from mlops_pipelines import names
    from mlops_pipelines.resources.environment import environment_for

    lake = environment_for().lakehouse()
    assert lake.partitions("readings", names.VALIDATED) == ["2024-01-01", "2024-01-03"]
    assert summary["runs"] == 3  # the block, then the two days around the blocked one


def test_a_spec_file_that_does_not_exist_exits_1_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "state" / "dagster"))
    missing = tmp_path / "nowhere" / "mine.yaml"
    assert cli.main(["demo", "--project", str(missing)]) == 1
    assert f"{missing}: cannot read spec" in capsys.readouterr().err


def test_days_the_data_holds_no_row_for_are_stepped_over_not_a_failure(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A station's outage: no row on two days of five. Nothing is lost (there was nothing), so the
    replay steps over them, says so, and exits 0; the days around them run as they are."""
    hours = pd.date_range("2024-01-01", periods=120, freq="h")
    frame = pd.DataFrame({"When": hours.strftime("%Y-%m-%d %H:%M"), "Temp": range(120), "Y": 1.0})
    frame = frame[(hours < "2024-01-02") | (hours >= "2024-01-04")]
    frame.to_csv(project.parent.parent / "readings.csv", index=False)
    spec = yaml.safe_load(project.read_text(encoding="utf-8"))
    spec["partitions"] = {"start": "2024-01-01", "end": "2024-01-06"}  # five days, one block
    spec["training"]["window_partitions"] = 10  # no first model is due within five days
    project.write_text(yaml.safe_dump(spec), encoding="utf-8")
    assert cli.main(["demo", "--project", str(project), "--json"]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["empty_partitions"] == ["2024-01-02", "2024-01-03"] and "blocked" not in summary
    assert "2 partition(s) hold no row in the data, nothing to replay: 2024-01-02, 2024-01-03" in err
    assert "BLOCKED" not in err
    from mlops_pipelines import names
    from mlops_pipelines.resources.environment import environment_for

    lake = environment_for().lakehouse()
    assert lake.partitions("readings", names.VALIDATED) == ["2024-01-01", "2024-01-04", "2024-01-05"]
    assert summary["runs"] == 2  # one run each side of the gap, none that could only fail
    # The twin: a day whose rows all fail validation is lost, not empty, and still exits 1.
    frame.loc[frame["When"].str.startswith("2024-01-04"), "Temp"] = None
    frame.to_csv(project.parent.parent / "readings.csv", index=False)
    spec["validation"] = {"rules": [{"rule": "null_share", "column": "temp", "max": 0.5}]}
    project.write_text(yaml.safe_dump(spec), encoding="utf-8")
    clear_source_cache()
    assert cli.main(["demo", "--project", str(project), "--json"]) == 1
    summary = json.loads(capsys.readouterr().out)
    assert summary["blocked"][0]["partitions"] == "2024-01-04"
    assert summary["empty_partitions"] == ["2024-01-02", "2024-01-03"]
