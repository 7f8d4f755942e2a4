"""The Dagster code location: load the project specs, build each project's graph, add resources.

Only assembles. The set of projects is the graph, so the spec directories (packaged examples
plus MLOPS_PROJECTS_DIR) are read when the code location loads; every path and secret is
resolved later, when a step runs. Resources and executor come from `environment_for`, the same
function the CLI and serving use.
"""

from __future__ import annotations

import warnings

import dagster as dg

from mlops_pipelines.assets import build_project_assets
from mlops_pipelines.jobs import build_project_jobs
from mlops_pipelines.maintenance import build_maintenance_job, build_maintenance_schedule
from mlops_pipelines.resources.environment import environment_for
from mlops_pipelines.schedules import build_schedules
from mlops_pipelines.sensors import build_retrain_sensor
from mlops_pipelines.spec import ProjectSpec, load_specs


def build_definitions(
    specs: dict[str, ProjectSpec] | None = None, environment: str | None = None
) -> dg.Definitions:
    specs = load_specs() if specs is None else specs
    env = environment_for(environment)
    assets: list[dg.AssetsDefinition] = []
    jobs: list[dg.UnresolvedAssetJobDefinition | dg.JobDefinition] = []
    schedules: list[dg.ScheduleDefinition] = []
    sensors: list[dg.SensorDefinition] = []
    for spec in specs.values():
        with warnings.catch_warnings():
            # Partition ranges run as one run on purpose (README, design notes): Dagster's
            # "`backfill_policy` is in beta" would repeat once per asset in every process that
            # loads this code (code server, each run worker) and tells a user nothing to do.
            warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)
            assets.extend(build_project_assets(spec))
        project_jobs = build_project_jobs(spec)
        jobs.extend(project_jobs)
        schedules.extend(build_schedules(spec, {job.name: job for job in project_jobs}))
        sensors.append(build_retrain_sensor(spec))
        maintenance = build_maintenance_job(spec)
        jobs.append(maintenance)
        schedules.append(build_maintenance_schedule(spec, maintenance))
    return dg.Definitions(
        assets=assets,
        jobs=jobs,
        schedules=schedules,
        sensors=sensors,
        resources=dict(env.resources),
        executor=env.executor,
    )


defs = build_definitions()
