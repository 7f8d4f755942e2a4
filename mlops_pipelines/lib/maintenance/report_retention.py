"""Which rendered reports to delete: per kind, all but the newest `keep_last`, never a linked one.

Reports are `<root>/<project>/<kind>/<name>.html`, named by the partition they describe, so name
order is time order. Only HTML reports are subject to retention: decision records and model
cards are small and are the audit trail. A report linked from a promotion decision (the drift
report of the partition that triggered a promoted retrain) is kept whatever its age.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPORT_SUFFIX = ".html"


@dataclass(frozen=True)
class ReportFile:
    kind: str
    name: str  # the file name without its suffix: the partition key
    path: Path
    size: int


def list_reports(project_dir: Path) -> list[ReportFile]:
    """Every HTML report under <project_dir>/<kind>/ (shared assets and hidden partials aside)."""
    if not project_dir.is_dir():
        return []
    found = []
    for path in sorted(project_dir.glob(f"*/*{REPORT_SUFFIX}")):
        if path.is_file() and not path.name.startswith("."):
            found.append(ReportFile(path.parent.name, path.stem, path, path.stat().st_size))
    return found


def reports_to_delete(reports: list[ReportFile], keep_last: int, linked: set[str]) -> list[ReportFile]:
    """The reports retention removes: older than the newest `keep_last` of their kind and not linked."""
    if keep_last < 0:
        raise ValueError(f"keep_last must be >= 0, got {keep_last}")
    doomed: list[ReportFile] = []
    for kind in sorted({r.kind for r in reports}):
        newest_first = sorted((r for r in reports if r.kind == kind), key=lambda r: r.name, reverse=True)
        doomed.extend(r for r in newest_first[keep_last:] if r.name not in linked)
    return doomed
