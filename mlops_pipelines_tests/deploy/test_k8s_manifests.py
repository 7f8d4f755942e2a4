"""deploy/k8s/: every manifest is a valid Kubernetes object (the kubernetes client's models,
strictly: an unknown or misspelled field fails), and serving's probes, port and Service agree with
what the serve command really serves. Offline: nothing here talks to a cluster."""

from __future__ import annotations

import argparse
import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI

from mlops_pipelines.serving.arguments import add_serving_arguments
from mlops_pipelines.serving.routes import install_routes
from mlops_pipelines.serving.server import is_loopback
from mlops_pipelines_tests.deploy.k8s_models import check_document, load_documents

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
MANIFESTS = sorted(K8S.glob("*.yaml"))
# The Secrets the manifests read; README "Deploy to Kubernetes" says how to create each.
SECRETS = {"mlops-secrets", "dagster-postgresql-secret", "mlflow-server"}


def _all() -> list[dict[str, Any]]:
    return [doc for path in MANIFESTS for doc in load_documents(path)]


def _find(kind: str, name: str) -> dict[str, Any]:
    return next(d for d in _all() if d["kind"] == kind and d["metadata"]["name"] == name)


def served_paths() -> set[str]:
    """The GET paths the serving app answers, from its own route table."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    install_routes(app, SimpleNamespace(metrics=None), None, 0, lambda: (200, {}))  # type: ignore[arg-type]
    return {route.path for route in app.routes if "GET" in getattr(route, "methods", set())}


def serving_problems(deployment: dict[str, Any]) -> list[str]:
    """What would make the kubelet or the Service miss the serving process."""
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    args = list(container.get("args") or [])
    if args[:1] != ["serve"]:
        return [f"container args {args!r} do not run `serve`"]
    parser = argparse.ArgumentParser()
    add_serving_arguments(parser)
    flags = parser.parse_args(args[1:])  # exits on a flag the command does not have
    found = []
    if is_loopback(flags.host):
        found.append(f"--host {flags.host} is loopback: probes and the Service cannot reach it")
    ports = {p.get("name"): p["containerPort"] for p in container.get("ports") or []}
    if flags.port not in ports.values():
        found.append(f"serve listens on {flags.port}, the container declares {sorted(ports.values())}")
    paths = served_paths()
    for probe, wanted in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = (container.get(probe) or {}).get("httpGet")
        if not get:
            found.append(f"{probe} is missing or not an httpGet")
            continue
        if get["path"] != wanted or get["path"] not in paths:
            found.append(f"{probe} probes {get['path']!r}; serving answers {sorted(paths)}")
        port = ports.get(get["port"], get["port"])
        if port != flags.port:
            found.append(f"{probe} probes port {get['port']!r}, serve listens on {flags.port}")
    return found


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_every_manifest_is_a_valid_kubernetes_object(path: Path) -> None:
    documents = load_documents(path)
    assert documents, f"{path.name} has no objects"
    for document in documents:
        assert check_document(document) == [], f"{path.name}: {document['kind']}"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda c: c["readinessProbe"]["httpGet"].update(pat=c["readinessProbe"]["httpGet"].pop("path")),
            "httpGet.pat: unknown field of V1HTTPGetAction (did you mean 'path'?)",
        ),
        (lambda c: c.update(readinesProbe=c.pop("readinessProbe")), "readinesProbe: unknown field"),
        (lambda c: c["resources"].update(limit=c["resources"].pop("limits")), "resources.limit: unknown"),
        (lambda c: c["ports"][0].update(containerPort="8080"), "containerPort: expected int"),
        (lambda c: c.pop("name"), "Invalid value for `name`, must not be `None`"),
    ],
    ids=["probe-field-typo", "probe-name-typo", "resources-typo", "port-as-string", "no-name"],
)
def test_a_misspelled_or_missing_field_fails(mutate: Any, expected: str) -> None:
    deployment = copy.deepcopy(_find("Deployment", "mlops-serving-bike-sharing"))
    mutate(deployment["spec"]["template"]["spec"]["containers"][0])
    found = check_document(deployment)
    assert any(expected in problem for problem in found), found


def test_an_unknown_kind_or_a_bare_mapping_fails() -> None:
    assert check_document({"apiVersion": "apps/v1", "kind": "Deploymnet", "metadata": {"name": "x"}}) == [
        "no kubernetes model for apiVersion 'apps/v1' kind 'Deploymnet'"
    ]
    assert check_document({"metadata": {"name": "x"}})[0].startswith("<root>: not a Kubernetes object")


def test_serving_probes_and_port_match_the_serve_command() -> None:
    assert {"/healthz", "/readyz", "/metrics"} <= served_paths()
    assert serving_problems(_find("Deployment", "mlops-serving-bike-sharing")) == []


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda c: c.pop("readinessProbe"), "readinessProbe is missing"),
        (lambda c: c["livenessProbe"]["httpGet"].update(path="/health"), "livenessProbe probes '/health'"),
        (lambda c: c["ports"][0].update(containerPort=9090), "serve listens on 8080"),
        (lambda c: c["args"].__setitem__(4, "127.0.0.1"), "--host 127.0.0.1 is loopback"),
        (lambda c: c["readinessProbe"]["httpGet"].update(port=9090), "readinessProbe probes port 9090"),
    ],
    ids=["no-readiness", "wrong-path", "port-mismatch", "loopback", "probe-port"],
)
def test_serving_checks_catch_a_broken_deployment(mutate: Any, expected: str) -> None:
    deployment = copy.deepcopy(_find("Deployment", "mlops-serving-bike-sharing"))
    mutate(deployment["spec"]["template"]["spec"]["containers"][0])
    found = serving_problems(deployment)
    assert any(expected in problem for problem in found), found


def test_service_hpa_and_budget_select_the_serving_pods() -> None:
    deployment = _find("Deployment", "mlops-serving-bike-sharing")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = _find("Service", "mlops-serving-bike-sharing")
    assert service["spec"]["selector"].items() <= labels.items()
    port_names = {p["name"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names
    hpa = _find("HorizontalPodAutoscaler", "mlops-serving-bike-sharing")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    budget = _find("PodDisruptionBudget", "mlops-serving-bike-sharing")
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()


def _secret_names(node: Any) -> set[str]:
    if isinstance(node, list):
        return {name for item in node for name in _secret_names(item)}
    if not isinstance(node, dict):
        return set()
    names = {node[k]["name"] for k in ("secretKeyRef", "secretRef") if isinstance(node.get(k), dict)}
    if isinstance(node.get("secret"), dict):
        names.add(node["secret"]["secretName"])
    return names | {name for value in node.values() for name in _secret_names(value)}


def test_pods_run_non_root_and_read_secrets_only_by_reference() -> None:
    documents = _all()
    assert not [d for d in documents if d["kind"] == "Secret"], "secrets are created with kubectl"
    assert _secret_names(documents) == SECRETS
    for document in (d for d in documents if d["kind"] == "Deployment"):
        pod = document["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, document["metadata"]["name"]
        assert pod["securityContext"]["runAsUser"] != 0
        for container in pod["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]


def test_the_secret_reference_check_sees_a_new_secret() -> None:
    extra = {"env": [{"valueFrom": {"secretKeyRef": {"name": "stray", "key": "k"}}}]}
    assert _secret_names([*_all(), extra]) == {*SECRETS, "stray"}
