"""deploy/helm/dagster-values.yaml: it fits the chart's keys (deploy/helm/dagster-values.schema.yaml,
Kubernetes parts checked against the kubernetes client models), the instance it configures is
one Dagster accepts, and that instance is the single-machine stack's: run queue, tag limit,
pools, run monitoring and run retries."""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from dagster._config import validate_config
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config_schema, validate_concurrency_config

from mlops_pipelines.stack.files import dagster_config
from mlops_pipelines_tests.deploy.k8s_models import load_documents, problems
from mlops_pipelines_tests.deploy.test_k8s_services import _stack_config

ROOT = Path(__file__).resolve().parents[2]
VALUES = ROOT / "deploy" / "helm" / "dagster-values.yaml"
SCHEMA = ROOT / "deploy" / "helm" / "dagster-values.schema.yaml"


def _k8s_type(validator: Any, type_name: str, instance: Any, schema: Any) -> Iterator[Any]:
    for problem in problems(instance, type_name):
        yield jsonschema.ValidationError(f"{problem} (a {type_name})")


_Validator = jsonschema.validators.extend(jsonschema.Draft7Validator, {"x-kubernetes-type": _k8s_type})


def values() -> dict[str, Any]:
    return yaml.safe_load(VALUES.read_text(encoding="utf-8"))


def schema_errors(document: dict[str, Any]) -> list[str]:
    validator = _Validator(yaml.safe_load(SCHEMA.read_text(encoding="utf-8")))
    return sorted(
        "/".join(str(p) for p in error.absolute_path) + ": " + error.message
        for error in validator.iter_errors(document)
    )


def _snake(section: dict[str, Any]) -> dict[str, Any]:
    """The chart's camelCase keys as dagster.yaml's snake_case (one level, as its templates do)."""
    return {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): v for k, v in section.items() if v is not None}


def instance_sections(chart_values: dict[str, Any]) -> dict[str, Any]:
    """The parts of dagster.yaml the chart writes from these values that the stack also sets."""
    daemon = chart_values["dagsterDaemon"]
    coordinator = daemon["runCoordinator"]
    queued = _snake(((coordinator.get("config") or {}).get("queuedRunCoordinator")) or {})
    sections: dict[str, Any] = {
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": coordinator["type"],
            **({"config": queued} if queued else {}),
        },
        "run_monitoring": _snake(daemon["runMonitoring"]),
        "run_retries": _snake(daemon["runRetries"]),
    }
    concurrency = chart_values.get("concurrency") or {}
    if concurrency.get("enabled"):
        sections["concurrency"] = {
            part: _snake(concurrency[part]) for part in ("runs", "pools") if concurrency.get(part)
        }
    return sections


def dagster_accepts(sections: dict[str, Any]) -> None:
    """Dagster's own checks of an instance config; raises DagsterInvalidConfigError."""
    if "concurrency" in sections:
        validate_concurrency_config(sections)
    result = validate_config(dagster_instance_config_schema(), sections)
    if not result.success:
        raise DagsterInvalidConfigError("instance config", result.errors, sections)


def test_values_fit_the_charts_keys() -> None:
    assert schema_errors(values()) == []


@pytest.mark.parametrize(
    ("path", "key", "new_key", "expected"),
    [
        (
            ("concurrency", "runs"),
            "maxConcurrentRuns",
            "maxConcurentRuns",
            "'maxConcurentRuns' was unexpected",
        ),
        (("dagsterDaemon",), "runMonitoring", "runMonitor", "'runMonitor' is not one of"),
        (("runLauncher", "config"), "k8sRunLauncher", "k8sRunLaunchr", "'k8sRunLaunchr' was unexpected"),
    ],
    ids=["run-queue-key", "daemon-key", "launcher-key"],
)
def test_a_misspelled_chart_key_fails(path: tuple[str, ...], key: str, new_key: str, expected: str) -> None:
    broken = copy.deepcopy(values())
    node = broken
    for part in path:
        node = node[part]
    node[new_key] = node.pop(key)
    assert any(expected in error for error in schema_errors(broken)), schema_errors(broken)


def test_a_misspelled_kubernetes_field_inside_the_values_fails() -> None:
    broken = copy.deepcopy(values())
    deployment = broken["dagster-user-deployments"]["deployments"][0]
    deployment["volumeMounts"][0]["mountpath"] = deployment["volumeMounts"][0].pop("mountPath")
    broken["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"]["podSpecConfig"]["nodeSelecter"] = {}
    errors = schema_errors(broken)
    assert any(
        "[0].mountpath: unknown field of V1VolumeMount (did you mean 'mountPath'?)" in e for e in errors
    )
    assert any("nodeSelecter: unknown field of V1PodSpec" in e for e in errors), errors


def test_the_instance_is_the_single_machine_stacks(tmp_path: Path) -> None:
    sections = instance_sections(values())
    dagster_accepts(sections)
    stack = dagster_config(_stack_config(tmp_path))
    assert sections["run_coordinator"]["class"] == stack["run_coordinator"]["class"]
    assert "config" not in sections["run_coordinator"]  # the limits live in `concurrency`, as the stack's
    for key in ("concurrency", "run_monitoring", "run_retries"):
        assert sections[key] == stack[key], key


def test_a_run_queue_set_twice_is_refused_and_a_drift_from_the_stack_is_seen(tmp_path: Path) -> None:
    broken = copy.deepcopy(values())
    queued = {"maxConcurrentRuns": 2}
    broken["dagsterDaemon"]["runCoordinator"]["config"] = {"queuedRunCoordinator": queued}
    assert schema_errors(broken) == []  # each key is the chart's; only Dagster sees the conflict
    with pytest.raises(DagsterInvalidConfigError, match="incompatible with the `concurrency > runs`"):
        dagster_accepts(instance_sections(broken))
    drifted = copy.deepcopy(values())
    drifted["dagsterDaemon"]["runRetries"]["maxRetries"] = 3
    stack = dagster_config(_stack_config(tmp_path))
    assert instance_sections(drifted)["run_retries"] != stack["run_retries"]


def test_one_image_for_the_code_location_workers_serving_and_mlflow() -> None:
    deployment = values()["dagster-user-deployments"]["deployments"][0]
    image = f"{deployment['image']['repository']}:{deployment['image']['tag']}"
    manifests = [d for p in sorted((ROOT / "deploy" / "k8s").glob("*.yaml")) for d in load_documents(p)]
    images = {
        c["image"]
        for d in manifests
        if d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert images == {image}


def test_the_code_server_loads_the_projects_definitions() -> None:
    from dagster._cli.code_server import start_command

    deployment = values()["dagster-user-deployments"]["deployments"][0]
    params = start_command.make_context("start", list(deployment["codeServerArgs"])).params
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["dagster"]
    assert params["module_name"] == tool["module_name"]
    assert params["location_name"] == tool["code_location_name"]
    launcher = values()["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True  # run pods get env and volumes


def test_the_webserver_recycles_pooled_connections_as_the_stacks_does(tmp_path: Path) -> None:
    from mlops_pipelines.stack.commands import process_specs

    [webserver] = [s for s in process_specs(_stack_config(tmp_path)) if s.name == "webserver"]
    argv = list(webserver.argv)
    stack_recycle = int(argv[argv.index("--db-pool-recycle") + 1])
    assert values()["dagsterWebserver"]["dbPoolRecycle"] == stack_recycle == 1
