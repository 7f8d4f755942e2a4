"""One environment for everything: the code location, the entry points outside Dagster and serving
end up with the same tracking config, lock path and lake root; bad environments fail clearly."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from mlops_pipelines.definitions import build_definitions
from mlops_pipelines.resources.environment import environment_for, lakehouse_at
from mlops_pipelines.resources.tracking import LocalMlflowTracking, MlflowTracking
from mlops_pipelines.run_records import ProvenanceUnavailable
from mlops_pipelines.serving.server import service_settings
from mlops_pipelines.serving.source import RegistrySource
from mlops_pipelines.settings import EnvironmentConfigError, load_settings
from mlops_pipelines.spec import ProjectSpec
from mlops_pipelines_tests.production_env import use_production


def _as_a_step_sees_it(defs: dg.Definitions) -> MlflowTracking:
    """The tracking resource exactly as Dagster initialises it for the promotion step."""
    assert defs.resources is not None
    with dg.build_resources({"tracking": defs.resources["tracking"]}) as resources:
        tracking: MlflowTracking = resources.tracking
        return tracking


def test_local_is_the_default_and_everything_lives_under_the_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, specs: dict[str, ProjectSpec]
) -> None:
    monkeypatch.delenv("MLOPS_ENV", raising=False)
    for name in ("MLOPS_TRACKING_URI", "MLOPS_REGISTRY_URI", "MLOPS_ARTIFACT_ROOT", "MLOPS_LAKE_ROOT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path))
    env = environment_for()
    assert env.name == "local" and env.executor is dg.in_process_executor
    assert env.tracking_config().tracking_uri == f"sqlite:///{tmp_path}/mlflow/mlflow.db"
    assert env.lock_path("bike_sharing") == tmp_path / "locks" / "bike_sharing.promotion.lock"
    settings = env.settings()
    assert settings.lake_root == str(tmp_path / "lake") and settings.environment == "local"
    assert settings.tracking_config() == env.tracking_config()
    step = _as_a_step_sees_it(build_definitions(specs))
    assert step.lock_path("bike_sharing") == env.lock_path("bike_sharing")


def test_production_gives_every_entry_point_the_promotion_steps_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, specs: dict[str, ProjectSpec]
) -> None:
    variables = use_production(monkeypatch, tmp_path)
    defs = build_definitions(specs)  # MLOPS_ENV read now, as when the code location loads
    step = _as_a_step_sees_it(defs)
    env = environment_for()
    assert env.name == "production"
    expected = step.config()
    assert expected.tracking_uri == variables["MLOPS_TRACKING_URI"]
    assert expected.artifact_root == variables["MLOPS_ARTIFACT_ROOT"]
    lock = Path(variables["MLOPS_LOCKS_DIR"]) / "bike_sharing.promotion.lock"
    assert step.lock_path("bike_sharing") == env.lock_path("bike_sharing") == lock
    # The CLI and reproduce.py call these; serving gets its settings from the same place.
    assert env.tracking_config() == expected
    settings = service_settings()
    assert settings.environment == "production"
    assert settings.tracking_config() == expected
    assert RegistrySource(settings, "bike_sharing").config == expected
    assert settings.lake_root == variables["MLOPS_LAKE_ROOT"] == env.lakehouse().resolved_root()
    assert (
        settings.table_uri("bike_sharing", "predictions") == "s3://prod-lake/tables/bike_sharing/predictions"
    )
    assert env.lakehouse().storage_options()["AWS_REGION"] == "eu-west-1"  # type: ignore[index]


def test_explicit_settings_are_kept_by_serving(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_production(monkeypatch, tmp_path)
    given = load_settings({"MLOPS_HOME": str(tmp_path / "own")})  # what the serving tests pass
    assert service_settings(given) is given
    assert given.tracking_config().tracking_uri == f"sqlite:///{tmp_path}/own/mlflow/mlflow.db"


@pytest.mark.parametrize("variable", ["MLOPS_LOCKS_DIR", "MLOPS_TRACKING_URI"])
@pytest.mark.parametrize("how", ["unset", "empty"])
def test_a_missing_production_variable_is_named(
    variable: str, how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_production(monkeypatch, tmp_path)
    if how == "unset":
        monkeypatch.delenv(variable)
    else:
        # Empty would otherwise mean the embedded SQLite store under MLOPS_HOME, silently.
        monkeypatch.setenv(variable, "")
    env = environment_for()
    for call in (env.tracking_config, lambda: env.lock_path("bike_sharing"), service_settings):
        with pytest.raises(EnvironmentConfigError) as info:
            call()
        message = str(info.value)
        assert variable in message and "MLOPS_ENV=production" in message and "'tracking'" in message


def test_a_missing_lake_variable_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_production(monkeypatch, tmp_path)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(EnvironmentConfigError, match="'lakehouse' resource reads AWS_SECRET_ACCESS_KEY,"):
        environment_for().lakehouse()
    assert environment_for().tracking_config().tracking_uri.startswith("http://127.0.0.1:")


@pytest.mark.parametrize("source", ["argument", "MLOPS_ENV"])
def test_an_unknown_environment_names_mlops_env_and_the_allowed_values(
    source: str, monkeypatch: pytest.MonkeyPatch, specs: dict[str, ProjectSpec]
) -> None:
    monkeypatch.setenv("MLOPS_ENV", "staging")
    name = "staging" if source == "argument" else None
    for build in (lambda: environment_for(name), lambda: build_definitions(specs, environment=name)):
        with pytest.raises(ValueError) as info:
            build()
        assert (
            str(info.value) == "unknown environment 'staging': set MLOPS_ENV to one of 'local', 'production'"
        )


def test_mlops_env_is_read_when_called_not_at_import(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_ENV", "local")
    assert environment_for().name == "local"
    monkeypatch.setenv("MLOPS_ENV", "production")
    assert environment_for().name == "production"
    assert environment_for("local").name == "local"  # an explicit name wins over MLOPS_ENV


def test_the_resources_dict_of_an_environment_is_read_only() -> None:
    env = environment_for("local")
    with pytest.raises(TypeError):
        env.resources["tracking"] = None  # type: ignore[index]
    assert set(env.resources) == set(environment_for("production").resources)


def test_outside_a_run_models_are_checked_against_dagster_homes_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Serving and the CLI resolve the tracking resource outside any run, where Dagster hands it an
    empty ephemeral instance; checking provenance there refused every model (serving against the
    stack never loaded one). The ledger is DAGSTER_HOME's instance, as the pipeline records it."""
    use_production(monkeypatch, tmp_path)
    home = tmp_path / "dagster"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    ledger = service_settings().tracking_config().ledger
    assert ledger is not None and ledger.describe() == f"the Dagster instance at DAGSTER_HOME={home}"
    assert environment_for().tracking_config().ledger.describe() == ledger.describe()  # type: ignore[union-attr]


def test_outside_a_run_without_dagster_home_production_refuses_to_load_unrecorded_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_production(monkeypatch, tmp_path)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    ledger = service_settings().tracking_config().ledger
    assert ledger is not None
    with pytest.raises(ProvenanceUnavailable, match="DAGSTER_HOME is not set"):
        ledger.produced("bike_sharing", "1")


def test_inside_a_run_models_are_checked_against_the_runs_own_instance(tmp_path: Path) -> None:
    described: list[str] = []

    @dg.asset
    def probe(tracking: LocalMlflowTracking) -> None:
        ledger = tracking.config().ledger
        assert ledger is not None
        described.append(ledger.describe())

    tracking = LocalMlflowTracking(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    with dg.DagsterInstance.ephemeral() as instance:
        assert dg.materialize([probe], resources={"tracking": tracking}, instance=instance).success
    assert described == ["the run's Dagster instance"]


def test_a_stack_client_reaches_the_lake_its_processes_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `stack demo` asks the stack's lake (its MLOPS_LAKE_ROOT), not its own process's default.
    local = lakehouse_at(str(tmp_path / "lake"))
    assert local.uri("p", "features") == f"{tmp_path}/lake/p/features"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "key",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    remote = lakehouse_at("s3://prod-lake/tables")
    assert remote.uri("p", "features") == "s3://prod-lake/tables/p/features"
    assert (remote.storage_options() or {})["AWS_ACCESS_KEY_ID"] == "key"
    # Its twin: a credential the object store needs and the environment lacks is named.
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(dg.DagsterInvalidConfigError, match="AWS_SECRET_ACCESS_KEY"):
        lakehouse_at("s3://prod-lake/tables")
