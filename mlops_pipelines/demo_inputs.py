"""What the demo checks before its first run: which spec it replays, and that its data falls in
its partitions (a replay of nothing would exit 0 having done nothing)."""

from __future__ import annotations

from pathlib import Path

from mlops_pipelines.demo_events import DemoError
from mlops_pipelines.settings import Settings
from mlops_pipelines.spec import ProjectSpec, load_spec, load_specs


def refuse_data_outside(spec: ProjectSpec, keys: list[str], settings: Settings) -> None:
    """A file source none of whose rows falls in a partition is an error before any run starts."""
    if spec.source.kind == "simulator":
        return
    from mlops_pipelines.lib.ingestion.coverage import coverage, coverage_problem
    from mlops_pipelines.lib.ingestion.sources import read_source, resolve_data_dir

    frame = read_source(spec, resolve_data_dir(spec, settings.data_dir), settings.cache_dir)
    problem = coverage_problem(coverage(frame, spec, keys), spec)
    if problem is not None:
        raise DemoError(problem)


def project_spec(project: str) -> ProjectSpec:
    """A project by name (examples, $MLOPS_PROJECTS_DIR) or a spec file by path: a spec written
    by `init` runs as it is, without a projects directory to register it in."""
    if Path(project).suffix in (".yaml", ".yml"):
        return load_spec(project)
    specs = load_specs()
    if project not in specs:
        raise DemoError(f"unknown project {project!r}; known: {sorted(specs)} (or give a spec file)")
    return specs[project]
