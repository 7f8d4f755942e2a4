"""The code location loads, wires every project's lineage and stays cheap to import."""

from __future__ import annotations

import subprocess
import sys

import dagster as dg

from mlops_pipelines.definitions import build_definitions, defs
from mlops_pipelines.spec import ProjectSpec
from mlops_pipelines_tests.lineage import EXPECTED_DEPS


def test_every_project_has_its_whole_lineage(specs: dict[str, ProjectSpec]) -> None:
    graph = defs.resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    for name in specs:
        for asset, parents in EXPECTED_DEPS.items():
            key = dg.AssetKey([name, asset])
            assert key in keys, key
            actual = {p.path[-1] for p in graph.get(key).parent_keys}
            assert actual == parents, (key, actual)


def test_jobs_sensors_and_schedules_start_running(specs: dict[str, ProjectSpec]) -> None:
    for name in specs:
        for job in ("data", "daily", "labels", "retrain"):
            assert defs.resolve_job_def(f"{name}__{job}")
        sensor = defs.resolve_sensor_def(f"{name}__retrain_on_drift")
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
        for schedule in ("daily_schedule", "labels_schedule", "retrain_fallback"):
            assert (
                defs.resolve_schedule_def(f"{name}__{schedule}").default_status
                == dg.DefaultScheduleStatus.RUNNING
            )


def test_blocking_checks_guard_the_data_and_the_promotion() -> None:
    graph = defs.resolve_asset_graph()
    blocking = {
        (key.asset_key.path[-1], key.name)
        for key in graph.asset_check_keys
        if graph.get_check_spec(key).blocking
    }
    assert {("raw", "schema"), ("validated", "expectations"), ("evaluation", "promotable")} <= blocking


def test_unknown_environment_is_refused(specs: dict[str, ProjectSpec]) -> None:
    try:
        build_definitions(specs, environment="staging")
    except ValueError as err:
        assert "staging" in str(err)
    else:
        raise AssertionError("an unknown environment must be refused")


def test_loading_the_code_location_imports_no_heavy_library() -> None:
    """Heavy libraries load inside the steps that use them, never when Dagster loads the code."""
    heavy = ["great_expectations", "evidently", "mlflow", "sklearn", "deltalake", "pyarrow"]
    code = (
        "import sys, mlops_pipelines.definitions as d; "
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""
