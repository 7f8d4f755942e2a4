"""Run a project's jobs in-process against a Dagster instance (the CLI and the tests use this).

A partition range runs as ONE run (the assets carry BackfillPolicy.single_run), so replaying
two years of daily partitions pays Dagster's per-run cost once per chunk, not once per day.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

from mlops_pipelines.names import RANGE_END_TAG, RANGE_START_TAG


def run_job(
    defs: dg.Definitions,
    job_name: str,
    instance: dg.DagsterInstance,
    first: str | None = None,
    last: str | None = None,
    run_config: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    raise_on_error: bool = False,
    asset_selection: list[dg.AssetKey] | None = None,
    log_level: str | None = None,
) -> dg.ExecuteInProcessResult:
    """Execute `job_name` for partitions first..last (inclusive), or unpartitioned when both are None."""
    job = defs.resolve_job_def(job_name)
    all_tags = dict(tags or {})
    partition_key = None
    if first is not None:
        if last is None or last == first:
            partition_key = first
        else:
            all_tags[RANGE_START_TAG] = first
            all_tags[RANGE_END_TAG] = last
    config = dict(run_config or {})
    if log_level is not None:
        # Every event still lands in the instance's event log (and the UI); only the console is quieter.
        config.setdefault("loggers", {"console": {"config": {"log_level": log_level}}})
    return job.execute_in_process(
        instance=instance,
        partition_key=partition_key,
        run_config=config,
        tags=all_tags,
        raise_on_error=raise_on_error,
        asset_selection=asset_selection,
    )
