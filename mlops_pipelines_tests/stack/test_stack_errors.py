"""Bad input to the stack: each is one line on stderr naming the setting, exit 1, no traceback,
and nothing written or started (the checks run before the state directory is created). The
executor choice of the production environment, and what it reads, are named too."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from mlops_pipelines.cli import main
from mlops_pipelines.resources.environment import environment_for
from mlops_pipelines.settings import EnvironmentConfigError
from mlops_pipelines.stack.config import stack_config
from mlops_pipelines.stack.files import dagster_config
from mlops_pipelines_tests.production_env import closed_port, use_production


@pytest.fixture
def stack_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("MLOPS_STACK_POSTGRES_URL", "MLOPS_CELERY_BROKER", "MLOPS_CELERY_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLOPS_STACK_DIR", str(tmp_path / "stack"))
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "mlops_admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "a-long-enough-password")
    return tmp_path / "stack"


def _one_line_error(capsys: pytest.CaptureFixture[str], stack_dir: Path, *needles: str) -> None:
    assert main(["stack", "up"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("mlops-pipelines stack: ")
    for needle in needles:
        assert needle in err, err
    assert not stack_dir.exists(), "nothing may be written before the servers answered"


def test_an_unreachable_database_names_its_url_setting(
    stack_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(
        "MLOPS_STACK_POSTGRES_URL", f"postgresql+psycopg2://postgres@127.0.0.1:{closed_port()}"
    )
    _one_line_error(capsys, stack_dir, "set MLOPS_STACK_POSTGRES_URL", "unreachable")


def test_a_malformed_database_url_names_its_setting(
    stack_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLOPS_STACK_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/mlops")
    _one_line_error(capsys, stack_dir, "MLOPS_STACK_POSTGRES_URL=", "postgresql+psycopg2://")


def test_an_unreachable_broker_names_its_setting(
    stack_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLOPS_CELERY_BROKER", f"redis://127.0.0.1:{closed_port()}/0")
    _one_line_error(capsys, stack_dir, "set MLOPS_CELERY_BROKER", "unreachable")


@pytest.mark.parametrize("variable", ["MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"])
def test_a_missing_credential_names_its_variable(
    variable: str, stack_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(variable)
    _one_line_error(capsys, stack_dir, f"{variable} is not set")


def test_a_short_password_is_refused_before_mlflow_would(
    stack_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "short")
    _one_line_error(capsys, stack_dir, "MLFLOW_TRACKING_PASSWORD is too short")


def test_production_uses_celery_only_when_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_production(monkeypatch, tmp_path)
    monkeypatch.delenv("MLOPS_EXECUTOR", raising=False)
    assert environment_for().executor is dg.in_process_executor
    monkeypatch.setenv("MLOPS_EXECUTOR", "celery")
    assert environment_for().executor.name == "celery"
    assert environment_for("local").executor is dg.in_process_executor
    monkeypatch.setenv("MLOPS_EXECUTOR", "dask")
    assert environment_for().executor.name == "dask"
    monkeypatch.setenv("MLOPS_EXECUTOR", "spark")
    with pytest.raises(
        EnvironmentConfigError, match="set MLOPS_EXECUTOR to 'in_process', 'celery' or 'dask'"
    ):
        environment_for()


def test_production_tracking_reads_the_basic_auth_credentials_through_envvar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    variables = use_production(monkeypatch, tmp_path)
    config = environment_for().tracking_config()
    assert (config.username, config.password) == (
        variables["MLFLOW_TRACKING_USERNAME"],
        variables["MLFLOW_TRACKING_PASSWORD"],
    )
    assert variables["MLFLOW_TRACKING_PASSWORD"] not in repr(config)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")
    with pytest.raises(EnvironmentConfigError, match="MLFLOW_TRACKING_PASSWORD"):
        environment_for().tracking_config()


def test_the_instance_limits_retrains_of_a_project_to_one_run_at_once(tmp_path: Path) -> None:
    """FAULT-CASES 14 (configuration only, not yet a live race): the drift retrain and the
    fallback schedule (same job, same serial tag)
    are limited to one run at a time per project; the promotion pool has one slot."""
    env = {"MLFLOW_TRACKING_USERNAME": "u", "MLFLOW_TRACKING_PASSWORD": "p" * 12}
    config = dagster_config(stack_config(tmp_path, env))
    [limit] = config["concurrency"]["runs"]["tag_concurrency_limits"]
    assert limit == {"key": "mlops/serial", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
    assert config["run_monitoring"]["enabled"] and config["run_monitoring"]["start_timeout_seconds"] > 0
