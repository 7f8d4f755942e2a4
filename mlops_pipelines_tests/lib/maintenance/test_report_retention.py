"""Report retention: the newest N per kind, plus every report a promotion decision links."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_pipelines.lib.maintenance.report_retention import ReportFile, list_reports, reports_to_delete


def _reports(kind: str, days: range) -> list[ReportFile]:
    return [ReportFile(kind, f"2024-01-{d:02d}", Path(f"{kind}/2024-01-{d:02d}.html"), 10) for d in days]


def test_all_but_the_newest_n_of_each_kind_go() -> None:
    reports = _reports("drift", range(1, 9)) + _reports("performance", range(1, 3))
    doomed = reports_to_delete(reports, keep_last=3, linked=set())
    assert [(r.kind, r.name) for r in doomed] == [("drift", f"2024-01-{d:02d}") for d in (5, 4, 3, 2, 1)]


def test_a_report_linked_from_a_decision_stays_however_old() -> None:
    doomed = reports_to_delete(_reports("drift", range(1, 9)), keep_last=3, linked={"2024-01-02"})
    assert "2024-01-02" not in {r.name for r in doomed}
    assert {r.name for r in doomed} == {"2024-01-01", "2024-01-03", "2024-01-04", "2024-01-05"}


def test_a_negative_count_is_refused_naming_the_setting() -> None:
    with pytest.raises(ValueError, match="keep_last must be >= 0"):
        reports_to_delete([], keep_last=-1, linked=set())


def test_listing_sees_html_reports_only(tmp_path: Path) -> None:
    for name in ("drift/2024-01-01.html", "drift/.2024-01-02.html.x.partial", "decisions/v1.json"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x", encoding="utf-8")
    (tmp_path / "drift/_evidently").mkdir()
    (tmp_path / "drift/_evidently/evidently-abc.js").write_text("js", encoding="utf-8")
    assert [(r.kind, r.name) for r in list_reports(tmp_path)] == [("drift", "2024-01-01")]
    assert list_reports(tmp_path / "missing") == []
