"""Where rendered reports (Evidently HTML, model cards) are kept and how they are linked."""

from __future__ import annotations

from pathlib import Path

import dagster as dg


class ReportStore(dg.ConfigurableResource):
    root: str = ""  # empty: the state directory's reports/, resolved when a step runs

    def path(self, project: str, kind: str, name: str) -> Path:
        from mlops_pipelines.settings import load_settings

        target = Path(self.root or load_settings().reports_dir) / project / kind / name
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def link(self, path: Path) -> str:
        return path.resolve().as_uri()
