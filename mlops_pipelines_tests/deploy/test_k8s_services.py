"""deploy/k8s/: the Celery workers and the MLflow server start as the single-machine stack starts
them (stack/commands.py, stack/files.py), with flags their own command lines accept."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import click
import mlflow.cli
import pytest

from mlops_pipelines import names
from mlops_pipelines.stack.commands import QUEUES
from mlops_pipelines.stack.config import StackConfig
from mlops_pipelines.stack.files import celery_settings
from mlops_pipelines_tests.deploy.k8s_models import load_documents

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"


def _doc(file: str, kind: str, name: str) -> dict[str, Any]:
    return next(d for d in load_documents(K8S / file) if d["kind"] == kind and d["metadata"]["name"] == name)


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]["containers"][0]


def _settings(source: str, environ: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The Celery settings a module's source defines, under `environ`."""
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    namespace: dict[str, Any] = {}
    exec(compile(source, "dagster_celery_config.py", "exec"), namespace)
    return {k: v for k, v in namespace.items() if not k.startswith("_") and k != "os"}


def _stack_config(tmp_path: Path) -> StackConfig:
    return StackConfig(
        state_dir=tmp_path,
        postgres_url="postgresql+psycopg2://postgres@db:5432",
        dagster_db="mlops_dagster",
        mlflow_db="mlops_mlflow",
        broker="redis://redis:6379/0",
        backend="redis://redis:6379/1",
        host="127.0.0.1",
        webserver_port=3000,
        mlflow_port=5000,
        max_runs=2,
        username="mlops",
        password="x" * 12,
    )


def test_worker_celery_settings_are_the_stacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _stack_config(tmp_path)
    source = _doc("config.yaml", "ConfigMap", "mlops-celery-config")["data"]["dagster_celery_config.py"]
    environ = {
        "MLOPS_CELERY_BROKER": config.broker,
        "MLOPS_CELERY_BACKEND": config.backend,
        "MLOPS_CELERY_KEY_PREFIX": config.key_prefix,
    }
    ours = _settings(source, environ, monkeypatch)
    assert ours == _settings(celery_settings(config), {}, monkeypatch)
    # Another broker in the environment is another broker in the settings: not hard-coded.
    moved = _settings(source, {**environ, "MLOPS_CELERY_BROKER": "redis://elsewhere:6379/0"}, monkeypatch)
    assert moved["broker_url"] == "redis://elsewhere:6379/0" != ours["broker_url"]


def test_one_worker_deployment_per_stack_queue_train_on_big_memory_nodes() -> None:
    queues = {}
    for document in load_documents(K8S / "celery-workers.yaml"):
        args = _container(document)["args"]
        assert args[:4] == ["celery", "-A", "dagster_celery.app", "worker"]
        assert args[args.index("--concurrency") + 1] == "1"
        queues[args[args.index("-Q") + 1]] = document["spec"]["template"]["spec"]
    assert set(queues) == set(QUEUES) == {names.DEFAULT_QUEUE, names.TRAIN_QUEUE}
    train = queues[names.TRAIN_QUEUE]
    assert train["nodeSelector"] == {"mlops/node-pool": "big-memory"}
    assert "nodeSelector" not in queues[names.DEFAULT_QUEUE]
    assert (
        train["terminationGracePeriodSeconds"] >= queues[names.DEFAULT_QUEUE]["terminationGracePeriodSeconds"]
    )


def mlflow_problems(deployment: dict[str, Any]) -> list[str]:
    """Why the tracking server would not be the stack's (auth, PostgreSQL, proxied artifacts)."""
    args = _container(deployment)["args"]
    if args[:2] != ["mlflow", "server"]:
        return [f"args {args[:2]!r} do not start `mlflow server`"]
    try:
        params = mlflow.cli.server.make_context("server", list(args[2:])).params
    except click.ClickException as err:
        return [f"mlflow server refuses its flags: {err.format_message()}"]
    found = []
    if params["app_name"] != "basic-auth":
        found.append("not the basic-auth app: requests without credentials would be served")
    if not str(params["backend_store_uri"]).startswith("$("):
        found.append("the backend store URI must come from the Secret (it holds a password)")
    if not params["serve_artifacts"] or params["default_artifact_root"] != "mlflow-artifacts:/":
        found.append("artifacts are not proxied through the server")
    env = {e["name"]: e for e in _container(deployment)["env"]}
    for name in ("MLFLOW_AUTH_ADMIN_USERNAME", "MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_BACKEND_STORE_URI"):
        if "secretKeyRef" not in env.get(name, {}).get("valueFrom", {}):
            found.append(f"{name} is not read from a Secret")
    for probe in ("livenessProbe", "readinessProbe"):
        if _container(deployment).get(probe, {}).get("httpGet", {}).get("path") != "/health":
            found.append(f"{probe} does not probe /health")
    return found


def test_mlflow_server_is_the_stacks_tracking_server() -> None:
    deployment = _doc("mlflow.yaml", "Deployment", "mlflow")
    assert mlflow_problems(deployment) == []
    service = _doc("mlflow.yaml", "Service", "mlflow")
    tracking = _doc("config.yaml", "ConfigMap", "mlops-env")["data"]["MLOPS_TRACKING_URI"]
    assert tracking == f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda a, e: a.__setitem__(a.index("basic-auth") - 1, "--app-nam"), "refuses its flags"),
        (lambda a, e: a.__setitem__(a.index("basic-auth"), "unknown-app"), "refuses its flags"),
        (lambda a, e: a.__setitem__(a.index("--serve-artifacts"), "--no-serve-artifacts"), "not proxied"),
        (lambda a, e: e.__setitem__(0, {"name": "MLFLOW_BACKEND_STORE_URI", "value": "x"}), "not read from"),
        (
            lambda a, e: a.__setitem__(a.index("$(MLFLOW_BACKEND_STORE_URI)"), "postgresql://u:p@db/m"),
            "Secret",
        ),
    ],
    ids=["flag-typo", "no-auth-app", "no-proxy", "uri-in-plain-env", "uri-in-args"],
)
def test_mlflow_checks_catch_a_weakened_server(mutate: Any, expected: str) -> None:
    deployment = copy.deepcopy(_doc("mlflow.yaml", "Deployment", "mlflow"))
    mutate(_container(deployment)["args"], _container(deployment)["env"])
    found = mlflow_problems(deployment)
    assert any(expected in problem for problem in found), found
