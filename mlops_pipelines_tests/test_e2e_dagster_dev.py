"""End to end: start `dagster dev` on the repo's workspace and check the product through GraphQL.

One real `dagster dev` (webserver, daemon, code server) per module, on a free loopback port,
with its own DAGSTER_HOME and MLOPS_HOME under tmp, started as the README's `./dev ui` starts it
(`mlops-pipelines ui`, no data directory set: it finds the real datasets beside the repo). Runs are launched
the way the UI launches them, so they go through the daemon's queue and the run launcher's
subprocess, not `execute_in_process`.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops_pipelines.spec import load_specs
from mlops_pipelines_tests.dagster_dev import (
    DagsterDev,
    free_loopback_port,
    isolated_env,
    live_group_members,
    port_is_open,
    start_ui,
)
from mlops_pipelines_tests.lineage import EXPECTED_DEPS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = REPO_ROOT.parent / "shared" / "data"
# Generous: a loaded 2-core machine took 25 s to serve the workspace and ~20 s per small run.
READY_TIMEOUT_S = 180.0
RUN_TIMEOUT_S = 240.0
STOP_TIMEOUT_S = 90.0

# Every project gets the same graph; an asset's upstream keys within its project.
EXPECTED_LINEAGE = EXPECTED_DEPS

ASSET_NODES_QUERY = "{ assetNodes { assetKey { path } dependencyKeys { path } } }"
REPOSITORIES_QUERY = """
{ repositoriesOrError { __typename ... on RepositoryConnection { nodes { name location { name }
    sensors { name sensorState { status } } schedules { name scheduleState { status } } } } } }
"""
LAUNCH_RUN_MUTATION = """
mutation Launch($params: ExecutionParams!) { launchRun(executionParams: $params) { __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PipelineNotFoundError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PythonError { message } } }
"""
MATERIALIZATIONS_QUERY = """
query Materializations($path: [String!]!, $partitions: [String!]) {
  assetOrError(assetKey: {path: $path}) { __typename
    ... on Asset { assetMaterializations(partitions: $partitions) { partition runId } } } }
"""


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterDev]:
    if not (DATA_DIR / "wine_quality" / "winequality-red.csv").is_file():
        pytest.fail(f"real datasets not found at {DATA_DIR}: shared/ must sit beside the repo")
    tmp = tmp_path_factory.mktemp("dagster_dev")
    env = isolated_env(tmp / "dagster_home", tmp / "mlops_home", DATA_DIR)
    # As the README's `./dev ui` on a fresh clone: no data directory set, no instance configured.
    del env["MLOPS_DATA_DIR"]
    dev = start_ui(REPO_ROOT, env, free_loopback_port(), tmp / "dagster_dev.log")
    try:
        dev.wait_until_ready(READY_TIMEOUT_S)
    except BaseException:
        dev.stop(STOP_TIMEOUT_S)
        raise
    yield dev
    stopped = dev.stop(STOP_TIMEOUT_S)
    assert dev.process.poll() is not None, "dagster dev is still running after stop()"
    assert not stopped.forced, f"dagster dev ignored SIGTERM for {STOP_TIMEOUT_S:.0f} s:\n{dev.log_tail()}"
    assert stopped.exit_code == 0, f"dagster dev exited {stopped.exit_code} on SIGTERM:\n{dev.log_tail()}"
    if stopped.stragglers:
        # Run workers still importing heavy libraries can take longer than the grace period to act
        # on SIGTERM; stop() then kills them. What must hold is that nothing survives the test.
        warnings.warn(f"killed after the grace period: {stopped.stragglers}", stacklevel=1)
    deadline = time.monotonic() + 10
    while live_group_members(dev.process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert live_group_members(dev.process.pid) == [], "processes outlived the test"
    assert not port_is_open(dev.port), f"port {dev.port} still answers after dagster dev stopped"


@pytest.fixture(scope="module")
def repository(dagster_dev: DagsterDev) -> dict[str, Any]:
    """The one repository of the workspace, with its sensors and schedules."""
    result = dagster_dev.graphql(REPOSITORIES_QUERY)["repositoriesOrError"]
    assert result["__typename"] == "RepositoryConnection", result
    assert len(result["nodes"]) == 1, [n["name"] for n in result["nodes"]]
    return dict(result["nodes"][0])


def launch(dev: DagsterDev, repository: dict[str, Any], job: str, partition: str) -> dict[str, Any]:
    params = {
        "selector": {
            "repositoryLocationName": repository["location"]["name"],
            "repositoryName": repository["name"],
            "jobName": job,
        },
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]},
    }
    return dict(dev.graphql(LAUNCH_RUN_MUTATION, {"params": params})["launchRun"])


def materializations(dev: DagsterDev, path: list[str], partitions: list[str]) -> list[dict[str, Any]]:
    result = dev.graphql(MATERIALIZATIONS_QUERY, {"path": path, "partitions": partitions})["assetOrError"]
    assert result["__typename"] == "Asset", f"{path}: {result}"
    return list(result["assetMaterializations"])


def test_lineage_graph_links_every_stage_of_every_project(dagster_dev: DagsterDev) -> None:
    nodes = dagster_dev.graphql(ASSET_NODES_QUERY)["assetNodes"]
    graph = {tuple(n["assetKey"]["path"]): {tuple(d["path"]) for d in n["dependencyKeys"]} for n in nodes}
    projects = sorted(load_specs())
    assert "bike_sharing" in projects
    for project in projects:
        for name, upstream in EXPECTED_LINEAGE.items():
            key = (project, name)
            assert key in graph, f"{key} missing from the lineage graph"
            assert graph[key] == {(project, u) for u in upstream}, f"{key} depends on {sorted(graph[key])}"


def test_lineage_graph_has_no_edges_between_projects(dagster_dev: DagsterDev) -> None:
    nodes = dagster_dev.graphql(ASSET_NODES_QUERY)["assetNodes"]
    crossing = [
        (n["assetKey"]["path"], d["path"])
        for n in nodes
        for d in n["dependencyKeys"]
        if d["path"][0] != n["assetKey"]["path"][0]
    ]
    assert crossing == []


def test_every_retrain_sensor_and_schedule_runs_on_a_fresh_instance(repository: dict[str, Any]) -> None:
    projects = set(load_specs())
    sensors = {s["name"]: s["sensorState"]["status"] for s in repository["sensors"]}
    schedules = {s["name"]: s["scheduleState"]["status"] for s in repository["schedules"]}
    retrain = {name: status for name, status in sensors.items() if name.endswith("__retrain_on_drift")}
    assert set(retrain) == {f"{p}__retrain_on_drift" for p in projects}
    expected_schedules = {
        f"{p}__{kind}" for p in projects for kind in ("daily_schedule", "labels_schedule", "retrain_fallback")
    }
    assert expected_schedules <= set(schedules)
    assert {n: s for n, s in retrain.items() if s != "RUNNING"} == {}
    assert {n: s for n, s in schedules.items() if s != "RUNNING"} == {}


def test_data_job_run_materializes_its_partition(dagster_dev: DagsterDev, repository: dict[str, Any]) -> None:
    launched = launch(dagster_dev, repository, "wine_quality__data", "2024-01-01")
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    status = dagster_dev.wait_for_run(run_id, RUN_TIMEOUT_S)
    assert status == "SUCCESS", "\n".join([f"run {run_id} ended {status}", *dagster_dev.run_errors(run_id)])
    for name in ("raw", "validated", "quarantine", "features"):
        events = materializations(dagster_dev, ["wine_quality", name], ["2024-01-01"])
        assert [(e["partition"], e["runId"]) for e in events] == [("2024-01-01", run_id)], name
    # Only the launched partition: a neighbour stays unmaterialized.
    assert materializations(dagster_dev, ["wine_quality", "raw"], ["2024-01-02"]) == []


def test_run_for_a_partition_outside_the_definition_fails(
    dagster_dev: DagsterDev, repository: dict[str, Any]
) -> None:
    launched = launch(dagster_dev, repository, "wine_quality__data", "2023-12-31")
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    assert dagster_dev.wait_for_run(run_id, RUN_TIMEOUT_S) == "FAILURE"
    assert any("2023-12-31" in line for line in dagster_dev.run_errors(run_id)), dagster_dev.run_errors(
        run_id
    )
    assert materializations(dagster_dev, ["wine_quality", "raw"], ["2023-12-31"]) == []


def test_launching_an_unknown_job_is_refused(dagster_dev: DagsterDev, repository: dict[str, Any]) -> None:
    launched = launch(dagster_dev, repository, "no_such_project__data", "2024-01-01")
    assert launched["__typename"] == "PipelineNotFoundError", launched
    assert "no_such_project__data" in launched["message"]


PARTITION_PAGE_QUERY = """
query Page($path: [String!]!) { assetNodes(assetKeys: [{path: $path}]) {
    partitionKeyConnection(limit: 3, ascending: false) { results } } }
"""


def test_the_ui_shows_a_finished_datasets_partitions_ending_at_its_data(dagster_dev: DagsterDev) -> None:
    # Newest first, as the Partitions tab and the by-partition plots read them: from the data's
    # end (partitions.end), not from today.
    nodes = dagster_dev.graphql(PARTITION_PAGE_QUERY, {"path": ["bike_sharing", "raw"]})["assetNodes"]
    assert nodes[0]["partitionKeyConnection"]["results"] == ["2012-12-31", "2012-12-30", "2012-12-29"]


def test_ui_configures_the_instance_as_the_demo_does(dagster_dev: DagsterDev) -> None:
    from mlops_pipelines.cli import INSTANCE_CONFIG

    home = dagster_dev.log_path.parent / "dagster_home"  # the fixture's DAGSTER_HOME, beside the log
    assert (home / "dagster.yaml").read_text(encoding="utf-8") == INSTANCE_CONFIG


def test_two_retrains_of_one_project_never_run_at_once_under_plain_ui(
    dagster_dev: DagsterDev, repository: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a drift retrain and the fallback schedule firing together do: the second waits in the
    queue (the `mlops/serial` tag limit of the ui's instance) until the first has finished."""
    import dagster as dg

    params = {
        "selector": {
            "repositoryLocationName": repository["location"]["name"],
            "repositoryName": repository["name"],
            "jobName": "bike_sharing__retrain",
        },
        "executionMetadata": {"tags": [{"key": "mlops/kind", "value": "bootstrap"}]},
    }
    run_ids = []
    for _ in range(2):
        launched = dagster_dev.graphql(LAUNCH_RUN_MUTATION, {"params": params})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_ids.append(launched["run"]["runId"])
    for run_id in run_ids:
        dagster_dev.wait_for_run(run_id, RUN_TIMEOUT_S)  # success or not: only the timing matters
    home = dagster_dev.log_path.parent / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        first, second = sorted(
            (instance.get_run_record_by_id(r) for r in run_ids), key=lambda r: r.start_time or 0.0
        )
    assert first.end_time is not None and second.start_time is not None
    assert first.end_time <= second.start_time, "two retrains of bike_sharing ran at once"


def test_a_retrain_orphaned_in_started_is_failed_by_the_daemons_run_monitoring(
    dagster_dev: DagsterDev, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a killed `dagster dev` leaves: a retrain run STARTED whose process is gone. The daemon
    of plain `./dev ui` fails it once past its `dagster/max_runtime` (here 1 s; a retrain's default
    is retraining.max_runtime_minutes), so the sensor's policy sees a failure and retries."""
    import uuid

    import dagster as dg
    from dagster._core.events import DagsterEvent, DagsterEventType

    home = dagster_dev.log_path.parent / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # the instance config reads its base_dir from it
    job = "bike_sharing__retrain"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run_id = str(uuid.uuid4())
        instance.add_run(dg.DagsterRun(job_name=job, run_id=run_id, tags={"dagster/max_runtime": "1"}))
        instance.report_dagster_event(DagsterEvent(DagsterEventType.RUN_START.value, job_name=job), run_id)
        deadline = time.monotonic() + 120  # poll interval 15 s, on a loaded machine
        while (run := instance.get_run_by_id(run_id)) is not None and not run.is_finished:
            assert time.monotonic() < deadline, f"run monitoring left {run_id} {run.status}"
            time.sleep(2)
        assert run is not None and run.status == dg.DagsterRunStatus.FAILURE
        messages = [e.message for e in instance.all_logs(run_id) if e.message]
    assert any("maximum runtime of 1 seconds" in m for m in messages), messages


def test_the_log_holds_only_warnings_a_user_can_act_on(dagster_dev: DagsterDev) -> None:
    # Last in the module: by now the code location loaded and runs ran (each loads the code again).
    log = dagster_dev.log_path.read_text(errors="replace")
    for noise in ("BetaWarning", "PreviewWarning", "is superseded", "No dagster instance configuration"):
        assert noise not in log, f"{noise!r} in the dagster dev log:\n{dagster_dev.log_tail()}"
    assert "no data directory" not in log  # found beside the repo, as the README says
