"""The command line, in-process: exit codes, and known errors as one clear line without a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from mlops_pipelines import cli
from mlops_pipelines.lib.registry.session import open_client
from mlops_pipelines.resources.tracking import LocalMlflowTracking
from mlops_pipelines.spec import PACKAGED_PROJECTS
from mlops_pipelines_tests.production_env import closed_port, use_production


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state directory; every variable the CLI may set is restored after the test."""
    home = tmp_path / "state"
    for name in ("MLOPS_HOME", "DAGSTER_HOME", "MLOPS_DATA_DIR"):
        monkeypatch.setenv(name, str(home / name.lower()))
    for name in ("MLOPS_PROJECTS_DIR", "MLOPS_TRACKING_URI", "MLOPS_REGISTRY_URI", "MLOPS_ARTIFACT_ROOT"):
        monkeypatch.delenv(name, raising=False)
    return home


def _bad_spec(tmp_path: Path) -> Path:
    data = yaml.safe_load((PACKAGED_PROJECTS / "bike_sharing.yaml").read_text(encoding="utf-8"))
    data["training"]["cv_folds"] = 1
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    for command in ("demo", "serve", "reproduce", "rollback", "validate-spec", "ui"):
        assert command in out


def test_reproduce_help_names_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["reproduce", "--help"])
    assert exit_info.value.code == 0
    assert "--version" in capsys.readouterr().out


def test_reproduce_without_required_options_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["reproduce", "--project", "bike_sharing"])
    assert exit_info.value.code == 2
    assert "--version" in capsys.readouterr().err


def test_validate_spec_accepts_a_good_spec(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = PACKAGED_PROJECTS / "bike_sharing.yaml"
    assert cli.main(["validate-spec", str(good)]) == 0
    assert f"{good}: ok (bike_sharing, regression" in capsys.readouterr().out


def test_validate_spec_rejects_a_bad_spec_naming_the_field(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _bad_spec(tmp_path)
    good = PACKAGED_PROJECTS / "wine_quality.yaml"
    code = cli.main(["validate-spec", str(good), str(bad)])
    captured = capsys.readouterr()
    assert code == 1
    assert f"{good}: ok" in captured.out  # one bad file does not hide the verdict on the others
    assert str(bad) in captured.err and "training.cv_folds" in captured.err
    assert "Traceback" not in captured.err


def test_validate_spec_names_a_missing_file(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "absent.yaml"
    assert cli.main(["validate-spec", str(missing)]) == 1
    assert f"{missing}: cannot read spec" in capsys.readouterr().err


def test_rollback_without_a_previous_champion_fails_clearly(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = state / "explicit-home"
    # Nothing registered yet.
    assert cli.main(["--home", str(home), "rollback", "--project", "bike_sharing"]) == 1
    err = capsys.readouterr().err
    assert "rollback" in err and "no registered model named 'bike_sharing'" in err
    assert "Traceback" not in err

    # Registered, but never promoted twice: no previous champion to go back to.
    cfg = LocalMlflowTracking().config()  # --home moved MLOPS_HOME: the same store the CLI used
    assert cfg.tracking_uri.endswith(f"{home}/mlflow/mlflow.db")
    with open_client(cfg) as client:
        client.create_registered_model("bike_sharing")
    assert cli.main(["--home", str(home), "rollback", "--project", "bike_sharing"]) == 1
    assert "bike_sharing: no previous champion to roll back to" in capsys.readouterr().err

    # The same store answers `reproduce` for a version that was never registered.
    assert cli.main(["--home", str(home), "reproduce", "--project", "bike_sharing", "--version", "7"]) == 1
    assert "bike_sharing: model version 7 does not exist" in capsys.readouterr().err


def test_reproduce_of_an_unknown_project_names_the_known_ones(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["reproduce", "--project", "no_such_project", "--version", "1"]) == 1
    err = capsys.readouterr().err
    assert "no_such_project" in err and "bike_sharing" in err
    assert "Traceback" not in err


# --- One environment: reproduce and serve use MLOPS_ENV's resources, as the Dagster steps do ---


def test_reproduce_in_production_asks_the_production_registry(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    variables = use_production(monkeypatch, tmp_path / "prod")
    assert cli.main(["reproduce", "--project", "bike_sharing", "--version", "3"]) == 1
    err = capsys.readouterr().err
    # The server in MLOPS_TRACKING_URI is down: the error names it, so that is where it asked.
    assert f"MLflow store {variables['MLOPS_TRACKING_URI']} is unreachable" in err
    assert "Traceback" not in err
    assert not (tmp_path / "prod" / "home" / "mlflow").exists()  # never the embedded store


@pytest.mark.parametrize(
    "command", [["reproduce", "--version", "3"], ["serve", "--port", str(closed_port())]]
)
def test_a_missing_production_variable_is_one_line_naming_it(
    command: list[str],
    state: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use_production(monkeypatch, tmp_path / "prod")
    monkeypatch.delenv("MLOPS_LOCKS_DIR")
    assert (
        cli.main([command[0], "--project", "bike_sharing", *command[1:]]) == 1
    )  # serve returns: never started
    err = capsys.readouterr().err
    assert f"mlops-pipelines {command[0]}: MLOPS_ENV=production" in err and "MLOPS_LOCKS_DIR" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "command", [["reproduce", "--version", "3"], ["serve", "--port", str(closed_port())]]
)
def test_an_unknown_environment_is_one_line_naming_mlops_env(
    command: list[str], state: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLOPS_ENV", "prod")
    assert cli.main([command[0], "--project", "bike_sharing", *command[1:]]) == 1
    err = capsys.readouterr().err
    assert "unknown environment 'prod': set MLOPS_ENV to one of 'local', 'production'" in err
    assert "Traceback" not in err


# Over 10 s: the server process imports the serving stack and polls the registry before it answers.
@pytest.mark.slow
def test_serve_in_production_reads_the_production_registry(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    variables = use_production(monkeypatch, tmp_path / "prod")
    port = closed_port()
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "mlops_pipelines.cli", "serve", "--project", "bike_sharing"]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*command, "--port", str(port)], env=dict(os.environ), stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        reasons = _registry_reasons(f"http://127.0.0.1:{port}/readyz", process, log)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    # Not ready (no registry), and the registry it polled is MLOPS_TRACKING_URI's: named in the
    # service's log, never in a response (no store URI leaks to clients).
    uri = variables["MLOPS_TRACKING_URI"]
    assert any(r.startswith("registry:") for r in reasons) and not any(uri in r for r in reasons), reasons
    assert f"MLflow store {uri} is unreachable" in log.read_text(), log.read_text()[-2000:]


def _registry_reasons(url: str, process: subprocess.Popen[bytes], log: Path) -> list[str]:
    """/readyz's reasons once the first registry poll has failed (60 s at most)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            body = httpx.get(url, timeout=2).json()
        except httpx.HTTPError:
            body = {}
        reasons = [str(r) for r in body.get("reasons", [])]
        if any(r.startswith("registry:") for r in reasons):
            return reasons
        time.sleep(0.2)
    raise AssertionError(f"no registry verdict on {url} within 60 s: {log.read_text()[-2000:]}")
