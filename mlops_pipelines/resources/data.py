"""Where a project's incoming data comes from: files under a data directory, or the simulator."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from mlops_pipelines.spec import ProjectSpec

if TYPE_CHECKING:
    import pandas as pd


class DataSource(dg.ConfigurableResource):
    """Reads one time window of a project's source (CSV / Parquet / URL / simulator)."""

    # None / empty: MLOPS_DATA_DIR and the state directory's cache, resolved when a step runs.
    data_dir: str | None = None
    cache_dir: str = ""

    def _dirs(self) -> tuple[str | None, Path]:
        from mlops_pipelines.settings import load_settings

        settings = load_settings()
        return self.data_dir or settings.data_dir, Path(self.cache_dir or settings.cache_dir)

    def read_window(self, spec: ProjectSpec, start: datetime, end: datetime) -> pd.DataFrame:
        from mlops_pipelines.lib.ingestion import sources

        data_dir, cache_dir = self._dirs()
        return sources.read_partition(spec, start, end, sources.resolve_data_dir(spec, data_dir), cache_dir)

    def describe(self, spec: ProjectSpec) -> str:
        if spec.source.kind == "simulator":
            return "built-in simulator (synthetic)"
        if spec.source.kind == "url":
            return f"{spec.source.url} (sha256 {spec.source.sha256})"
        base = spec.data_dir or self._dirs()[0] or "<MLOPS_DATA_DIR unset>"
        return ", ".join(f"{base}/{f.path}" for f in spec.source.files)
