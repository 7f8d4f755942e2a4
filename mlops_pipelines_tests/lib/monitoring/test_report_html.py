"""Evidently's library and font are written once per report directory; each report refers to them."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from mlops_pipelines.lib.monitoring.report_html import ASSETS_DIR, _inline_assets, report_html


class Snapshot:
    """What Evidently's standalone template produces around a report's own data."""

    def __init__(self, data: str, inline: bool = True) -> None:
        script, font = _inline_assets()
        lib = f"<script>{script}</script>" if inline else "<script src='cdn.js'></script>"
        self.html = (
            f"<style>src: url(data:font/ttf;base64,{font}) format('woff2');</style>{lib}<div>{data}</div>"
        )

    def get_html_str(self, as_iframe: bool) -> str:
        assert not as_iframe
        return self.html


def test_two_reports_share_one_copy_of_the_library_and_stay_small(tmp_path: Path) -> None:
    first, second = report_html(Snapshot("first"), tmp_path), report_html(Snapshot("second"), tmp_path)
    assets = sorted(p.suffix for p in (tmp_path / ASSETS_DIR).iterdir())
    assert assets == [".js", ".woff2"]
    js = next((tmp_path / ASSETS_DIR).glob("*.js"))
    assert f'<script src="{ASSETS_DIR}/{js.name}"></script>' in first
    assert "<div>second</div>" in second
    assert len(first) < 2_000 < js.stat().st_size  # the report keeps only its own data
    assert js.read_text(encoding="utf-8") == _inline_assets()[0]


def test_html_without_evidentlys_inline_blocks_is_written_whole(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    snapshot = Snapshot("data", inline=False)
    with caplog.at_level(logging.WARNING):
        assert report_html(snapshot, tmp_path) == snapshot.html
    assert not (tmp_path / ASSETS_DIR).exists()
    assert "report written with its library inlined" in caplog.text
