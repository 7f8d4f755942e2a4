"""Where rendered reports (Evidently HTML, model cards) are kept and how they are linked."""

from __future__ import annotations

from pathlib import Path

import dagster as dg


class ReportStore(dg.ConfigurableResource):
    root: str

    def path(self, project: str, kind: str, name: str) -> Path:
        target = Path(self.root) / project / kind / name
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def link(self, path: Path) -> str:
        return path.resolve().as_uri()
