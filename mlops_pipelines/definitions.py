"""The Dagster code location: load the project specs, build each project's graph, add resources.

Only assembles. The set of projects is the graph, so the spec directories (packaged examples
plus MLOPS_PROJECTS_DIR) are read when the code location loads; every path and secret is
resolved later, when a step runs.
"""

from __future__ import annotations

import os

import dagster as dg

from mlops_pipelines.assets import build_project_assets
from mlops_pipelines.jobs import build_project_jobs
from mlops_pipelines.resources import resources_for
from mlops_pipelines.schedules import build_schedules
from mlops_pipelines.sensors import build_retrain_sensor
from mlops_pipelines.spec import ProjectSpec, load_specs


def build_definitions(
    specs: dict[str, ProjectSpec] | None = None, environment: str | None = None
) -> dg.Definitions:
    specs = load_specs() if specs is None else specs
    env = environment or os.environ.get("MLOPS_ENV", "local")
    if env not in ("local", "production"):
        raise ValueError(f"MLOPS_ENV must be 'local' or 'production', got {env!r}")
    assets: list[dg.AssetsDefinition] = []
    jobs: list[dg.UnresolvedAssetJobDefinition] = []
    schedules: list[dg.ScheduleDefinition] = []
    sensors: list[dg.SensorDefinition] = []
    for spec in specs.values():
        assets.extend(build_project_assets(spec))
        project_jobs = build_project_jobs(spec)
        jobs.extend(project_jobs)
        schedules.extend(build_schedules(spec, {job.name: job for job in project_jobs}))
        sensors.append(build_retrain_sensor(spec))
    return dg.Definitions(
        assets=assets,
        jobs=jobs,
        schedules=schedules,
        sensors=sensors,
        resources=resources_for(env),  # type: ignore[arg-type]
        # One process per run: each step would otherwise pay seconds of imports again.
        executor=dg.in_process_executor,
    )


defs = build_definitions()
