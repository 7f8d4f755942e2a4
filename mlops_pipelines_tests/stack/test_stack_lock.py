"""The lock URL the stack hands every process: set, in the Dagster database, taken by alias moves.

The environment reads MLOPS_LOCK_URL when a step runs (never at import), into TrackingConfig;
production requires it, the local environment falls back to the file lock alone.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from mlops_pipelines.lib.registry.locks import AliasLockTimeoutError, alias_lock
from mlops_pipelines.resources.environment import environment_for
from mlops_pipelines.resources.tracking import MlflowTracking
from mlops_pipelines.settings import LOCK_URL_ENV, EnvironmentConfigError, load_settings
from mlops_pipelines.stack.config import stack_config
from mlops_pipelines_tests.lib.registry.test_locks import created_database
from mlops_pipelines_tests.production_env import use_production

CREDENTIALS = {"MLFLOW_TRACKING_USERNAME": "u", "MLFLOW_TRACKING_PASSWORD": "p" * 12}


def test_every_stack_process_gets_the_dagster_database_as_its_lock_url(tmp_path: Path) -> None:
    config = stack_config(tmp_path, {**CREDENTIALS, "MLOPS_STACK_DAGSTER_DB": "dagster_here"})
    env = config.process_env({})
    assert env[LOCK_URL_ENV] == "postgresql+psycopg2://postgres@127.0.0.1:5432/dagster_here"
    # A stray variable in the shell that runs `stack up` does not split the stack's processes
    # over two lock databases: the stack's own URL wins, as for its other settings.
    assert config.process_env({LOCK_URL_ENV: "postgresql://elsewhere/x"})[LOCK_URL_ENV] == env[LOCK_URL_ENV]


def test_the_lock_url_reaches_the_tracking_config_of_each_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "postgresql://postgres:pw@db.internal:5432/mlops_dagster"
    assert load_settings({LOCK_URL_ENV: url}).tracking_config().lock_url == url
    use_production(monkeypatch, tmp_path)
    monkeypatch.setenv(LOCK_URL_ENV, url)
    config = environment_for().tracking_config()
    assert config.lock_url == url and "pw@" not in repr(config)
    assert environment_for("local").tracking_config().lock_url == url


def test_without_a_lock_url_the_local_environment_keeps_the_file_lock_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(LOCK_URL_ENV, raising=False)
    assert load_settings({}).tracking_config().lock_url is None
    assert environment_for("local").tracking_config().lock_url is None


def test_production_without_a_lock_url_fails_naming_it_outside_and_inside_a_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Production spans hosts, where a file lock serialises nothing: no alias may move on the
    file lock alone. The CLI and serving fail naming the variable; so does the first step."""
    use_production(monkeypatch, tmp_path)
    monkeypatch.delenv(LOCK_URL_ENV, raising=False)
    with pytest.raises(EnvironmentConfigError, match=f"reads {LOCK_URL_ENV}, which is not set"):
        environment_for().tracking_config()

    @dg.asset
    def moves_an_alias(tracking: MlflowTracking) -> None:
        pytest.fail("a step ran without the cross-host lock")

    resources = environment_for().resources
    with pytest.raises(dg.DagsterInvalidConfigError, match=LOCK_URL_ENV):
        dg.materialize([moves_an_alias], resources={"tracking": resources["tracking"]})


@pytest.mark.slow
def test_the_stack_lock_url_is_one_the_alias_lock_takes(tmp_path: Path) -> None:
    with created_database() as url:
        database = url.rsplit("/", 1)[1]
        config = stack_config(tmp_path, {**CREDENTIALS, "MLOPS_STACK_DAGSTER_DB": database})
        stack_url = config.process_env({})[LOCK_URL_ENV]
        # A second host (another lock file) on the same URL must wait: the lock is really held.
        with (
            alias_lock(tmp_path / "a.lock", timeout=5, lock_url=stack_url, name="p"),
            pytest.raises(AliasLockTimeoutError, match="p: alias lock"),
            alias_lock(tmp_path / "b.lock", timeout=0.3, lock_url=stack_url, name="p"),
        ):
            pytest.fail("both hosts held the lock")
