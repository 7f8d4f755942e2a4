"""Where rendered reports (Evidently HTML, model cards) are kept and how they are linked."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from mlops_pipelines.lib.stores import ReportDir


class ReportStore(dg.ConfigurableResource):
    root: str = ""  # empty: the state directory's reports/, resolved when a step runs
    # Where `root` is served over http; empty: MLOPS_REPORTS_URL, else the address
    # `mlops-pipelines ui` serves the reports at.
    base_url: str = ""

    def _dir(self) -> ReportDir:
        from mlops_pipelines.settings import load_settings

        settings = load_settings()
        return ReportDir(Path(self.root or settings.reports_dir), self.base_url or settings.reports_url)

    def path(self, project: str, kind: str, name: str) -> Path:
        return self._dir().path(project, kind, name)

    def link(self, path: Path) -> str:
        return self._dir().link(path)

    def project_dir(self, project: str) -> Path:
        """Where `project`'s reports are (maintenance applies its retention rule there)."""
        return self._dir().root / project
