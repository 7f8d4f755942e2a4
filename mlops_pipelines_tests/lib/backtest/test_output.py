"""The backtest's JSON (nulls, not NaN), table and PNG, and the CLI that writes them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from mlops_pipelines.lib.backtest.engine import run_backtest
from mlops_pipelines.lib.backtest.history import History
from mlops_pipelines.lib.backtest.models import ModelBank
from mlops_pipelines.lib.backtest.output import report_json, report_lines, write_plot
from mlops_pipelines.lib.backtest.policy import replay_policy

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_json_table_and_plot(
    short_history: History, short_bank: tuple[ModelBank, int], tmp_path: Path
) -> None:
    report = run_backtest(short_history, policy=replay_policy, bank=short_bank[0])
    document = json.loads(json.dumps(report_json(report), allow_nan=False))
    strategies = {s["strategy"]: s for s in document["strategies"]}
    assert {"static", "oracle", "policy"} <= set(strategies)
    policy = strategies["policy"]
    assert policy["retrains"] == len(policy["retrained_as_of"])
    assert policy["drift_alarms"] == sum(e["kind"] == "alarm" for e in policy["events"])
    assert all(e["kind"] in ("alarm", "retrain", "promote", "reject") for e in policy["events"])
    assert all(v is None or math.isfinite(v) for v in policy["per_partition"])
    lines = report_lines(report)
    assert any(line.startswith("oracle") and "100.0 %" in line for line in lines)
    # Live retrains and every retrain started (rejected ones too), the first model not counted.
    assert lines[1].split()[4:6] == ["retrains", "started"]
    [row] = [line.split() for line in lines if line.startswith("policy")]
    assert (int(row[4]), int(row[5])) == (policy["retrains"], policy["trainings"] - 1)
    assert int(row[5]) >= int(row[4])
    png = write_plot(report, tmp_path / "out" / "backtest.png")
    assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 10_000


@pytest.mark.slow
def test_cli_backtest_writes_json_and_png(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_pipelines.cli import main
    from mlops_pipelines_tests.lib.backtest.conftest import short_spec

    spec_file = tmp_path / "short.yaml"
    import yaml

    spec_file.write_text(yaml.safe_dump(short_spec().model_dump(mode="json")), encoding="utf-8")
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "home"))
    assert main(["backtest", "--project", str(spec_file), "--out", str(tmp_path / "bt")]) == 0
    assert (tmp_path / "bt" / "backtest.png").read_bytes()[:8] == PNG_MAGIC
    document = json.loads((tmp_path / "bt" / "backtest.json").read_text())
    assert document["project"] == "sim_sudden" and document["strategies"]


def test_cli_backtest_unknown_project_names_the_known_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlops_pipelines.cli import main

    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "home"))
    assert main(["backtest", "--project", "no_such_project"]) == 1
    err = capsys.readouterr().err
    assert "unknown project 'no_such_project'" in err and "sim_sudden" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--target", "1.5"], "a share of the oracle in (0, 1], got 1.5"),
        (["--target", "x"], "not a number: 'x'"),
        (["--period", "0"], "a period of at least 1 partition, got '0'"),
    ],
)
def test_cli_backtest_refuses_out_of_range_settings(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlops_pipelines.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["backtest", "--project", "sim_sudden", *argv])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_backtest_without_its_data_names_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlops_pipelines.cli import main

    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "home"))
    missing = tmp_path / "no_data_here"
    assert main(["backtest", "--project", "bike_sharing", "--data-dir", str(missing)]) == 1
    err = capsys.readouterr().err
    assert f"data directory {missing} does not exist" in err and "Traceback" not in err
    assert not (tmp_path / "home" / "reports" / "bike_sharing" / "backtest").exists()  # nothing half-written
