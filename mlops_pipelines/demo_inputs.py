"""What the demo settles before its first run: which spec it replays, which partitions in which
blocks, and that its data falls in its partitions (a replay of nothing would exit 0 having done
nothing)."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

from mlops_pipelines.demo_events import DemoError
from mlops_pipelines.partitions import partition_keys
from mlops_pipelines.settings import Settings
from mlops_pipelines.spec import ProjectSpec, load_spec, load_specs


def check_coverage(spec: ProjectSpec, keys: list[str], settings: Settings) -> list[str]:
    """A file source none of whose rows falls in a partition is an error before any run starts.
    Returns the partitions the data holds no row for (a station's outage): nothing to replay."""
    if spec.source.kind == "simulator":
        return []
    from mlops_pipelines.lib.ingestion.coverage import coverage, coverage_problem
    from mlops_pipelines.lib.ingestion.sources import read_source, resolve_data_dir

    frame = read_source(spec, resolve_data_dir(spec, settings.data_dir), settings.cache_dir)
    found = coverage(frame, spec, keys)
    problem = coverage_problem(found, spec)
    if problem is not None:
        raise DemoError(problem)
    return [k for k in keys if k not in found.rows]


def project_spec(project: str) -> ProjectSpec:
    """A project by name (examples, $MLOPS_PROJECTS_DIR) or a spec file by path: a spec written
    by `init` runs as it is, without a projects directory to register it in."""
    if Path(project).suffix in (".yaml", ".yml"):
        return load_spec(project)
    specs = load_specs()
    if project not in specs:
        raise DemoError(f"unknown project {project!r}; known: {sorted(specs)} (or give a spec file)")
    return specs[project]


def replay_blocks(keys: list[str], chunk: int, boot: int) -> list[list[str]]:
    """Blocks of at most `chunk` partitions, one of them ending exactly at the bootstrap point."""
    cuts = sorted({*range(0, len(keys), chunk), min(boot, len(keys)), len(keys)})
    return [keys[a:b] for a, b in pairwise(cuts) if b > a]


def replay_keys(spec: ProjectSpec, until: str | None, chunk: int | None) -> tuple[list[str], int]:
    """The partitions to replay (up to `until`) and the block size."""
    keys = [k for k in partition_keys(spec) if until is None or k <= until]
    # Dagster pays a fixed cost per run; long replays take bigger steps between sensor ticks.
    return keys, chunk or (28 if len(keys) > 365 else 14)


def bootstrap_count(spec: ProjectSpec) -> int:
    """Partitions that must have arrived before the first model: half a training window, the
    holdout and the label delay (the offline backtest uses the same rule)."""
    return (
        spec.training.window_partitions // 2
        + spec.training.holdout_partitions
        + spec.monitoring.label_delay_partitions
    )


def labelled_with(keys: list[str], block: list[str], delay: int) -> list[str]:
    """The partitions whose labels arrive with `block` (each `delay` partitions after its own)."""
    first, last = keys.index(block[0]), keys.index(block[-1])
    return keys[max(0, first - delay) : max(0, last + 1 - delay)]


def spans_without(keys: list[str], skip: set[str]) -> list[list[str]]:
    """`keys` in runs of consecutive partitions, cut where a partition of `skip` (blocked) was."""
    spans: list[list[str]] = [[]]
    for key in keys:
        if key in skip:
            spans.append([])
        else:
            spans[-1].append(key)
    return [span for span in spans if span]
