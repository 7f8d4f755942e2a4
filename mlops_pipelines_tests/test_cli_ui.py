"""`mlops-pipelines ui` (what `./dev ui` runs): the instance, the data directory and the command.

The real `dagster dev` it starts is exercised end to end in test_e2e_dagster_dev.py; here the
exec is replaced by a recorder, so each test checks what would have been started, and with what.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from mlops_pipelines import cli, cli_ui


@pytest.fixture
def execs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], dict[str, str]]]:
    """Fresh state; os.execv records (command, environment) instead of replacing the process."""
    for name in ("MLOPS_HOME", "DAGSTER_HOME", "MLOPS_DATA_DIR", "MLOPS_PROJECTS_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "state"))
    with socket.socket() as probe:  # the report server binds a free port, not a live UI's
        probe.bind(("127.0.0.1", 0))
        monkeypatch.setenv("MLOPS_REPORTS_URL", f"http://127.0.0.1:{probe.getsockname()[1]}/")
    recorded: list[tuple[list[str], dict[str, str]]] = []
    monkeypatch.setattr(cli_ui.os, "execv", lambda _path, argv: recorded.append((argv, dict(os.environ))))
    # The report server's process is tested in test_report_server.py; here only its address check.
    monkeypatch.setattr(cli_ui.subprocess, "Popen", lambda *_args, **_kwargs: None)
    return recorded


def test_ui_writes_the_demos_instance_configuration_when_it_runs_first(
    execs: list[tuple[list[str], dict[str, str]]], tmp_path: Path
) -> None:
    assert cli.main(["ui", "--port", "3999"]) == 0
    config = tmp_path / "state" / "dagster" / "dagster.yaml"
    assert config.read_text(encoding="utf-8") == cli.INSTANCE_CONFIG
    command, env = execs[0]
    assert env["DAGSTER_HOME"] == str(config.parent)
    assert command[command.index("-p") + 1] == "3999" and command[command.index("-h") + 1] == "127.0.0.1"


def test_ui_keeps_the_configuration_the_demo_wrote(
    execs: list[tuple[list[str], dict[str, str]]], tmp_path: Path
) -> None:
    config = tmp_path / "state" / "dagster" / "dagster.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("telemetry:\n  enabled: false\n# edited by hand\n", encoding="utf-8")
    cli.main(["ui"])
    assert config.read_text(encoding="utf-8").endswith("# edited by hand\n")


def test_ui_finds_the_datasets_beside_the_repository(
    execs: list[tuple[list[str], dict[str, str]]], shared_data_dir: Path
) -> None:
    assert cli_ui.DEFAULT_DATA_DIR.resolve() == shared_data_dir.resolve()
    cli.main(["ui"])
    assert execs[0][1]["MLOPS_DATA_DIR"] == str(shared_data_dir.resolve())


def test_ui_data_dir_flag_wins_over_the_default(
    execs: list[tuple[list[str], dict[str, str]]], tmp_path: Path
) -> None:
    (tmp_path / "mine").mkdir()
    cli.main(["ui", "--data-dir", str(tmp_path / "mine")])
    assert execs[0][1]["MLOPS_DATA_DIR"] == str((tmp_path / "mine").resolve())


def test_ui_without_any_data_directory_warns_naming_the_setting_and_the_projects(
    execs: list[tuple[list[str], dict[str, str]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(cli_ui, "DEFAULT_DATA_DIR", tmp_path / "absent")
    cli.main(["ui"])
    lines = capsys.readouterr().err.strip().splitlines()
    warning = [line for line in lines if line.startswith("warning:")]
    assert lines[-1].startswith("reports: http://")  # the report links' server, then the UI
    assert len(warning) == 1 and "MLOPS_DATA_DIR" in warning[0] and "--data-dir" in warning[0]
    assert "adult_income, bike_sharing, wine_quality will fail" in warning[0]
    assert "MLOPS_DATA_DIR" not in execs[0][1]  # started anyway: demand_sim needs no data


def test_ui_filters_only_the_superseded_notice_of_dagster_dev() -> None:
    command = cli_ui.ui_command("127.0.0.1", 3000)
    filters = [command[i + 1] for i, part in enumerate(command) if part == "-W"]
    assert filters == ["ignore:Function `dev_command` is superseded"]
    assert command[command.index("-m") + 1 : command.index("-m") + 3] == ["dagster", "dev"]
    assert Path(command[command.index("-w") + 1]).is_file()


def test_ui_runs_every_dagster_process_with_its_site_fix_first(
    execs: list[tuple[list[str], dict[str, str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", "/mine")
    cli.main(["ui"])
    assert execs[0][1]["PYTHONPATH"].split(os.pathsep) == [str(cli_ui.UI_SITE), "/mine"]


PAGES = """
import dagster as dg
from dagster._core.definitions.partitions.context import PartitionLoadingContext
from dagster._core.definitions.temporal_context import TemporalContext
from dagster._time import get_current_datetime
now = TemporalContext(effective_dt=get_current_datetime(), last_event_id=None)
context = PartitionLoadingContext(temporal_context=now, dynamic_partitions_store=None)
for end in ("2013-01-01", None):
    daily = dg.DailyPartitionsDefinition(start_date="2011-01-01", end_date=end)
    first = daily.get_paginated_partition_keys(context=context, limit=2, ascending=False)
    more = daily.get_paginated_partition_keys(context=context, limit=2, ascending=False, cursor=first.cursor)
    print(",".join([*first.results, *more.results]))
"""


def test_newest_first_partition_pages_end_at_the_definitions_end_in_ui_processes() -> None:
    import subprocess
    import sys
    from datetime import UTC, datetime, timedelta

    env = {**os.environ, "PYTHONPATH": str(cli_ui.UI_SITE)}
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", PAGES], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "2012-12-31,2012-12-30,2012-12-29,2012-12-28"  # Dagster alone: 2026-... (today)
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    assert out[1].split(",")[0] == yesterday  # a live definition still pages from today
