"""Report links open over http: ReportDir links under the reports URL, and the server that
`mlops-pipelines ui` (and `mlops-pipelines reports`) starts serves exactly that directory."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from mlops_pipelines.lib.stores import ReportDir
from mlops_pipelines.report_server import ReportServerError, address_of, serve_reports
from mlops_pipelines.settings import DEFAULT_REPORTS_URL, load_settings


def _free_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/"


def test_reports_are_linked_under_the_reports_url(tmp_path: Path) -> None:
    reports = ReportDir(tmp_path / "reports", "http://reports.example:8080/base/")
    path = reports.path("bike sharing", "drift", "2011-01-18 #1.html")
    assert (
        reports.link(path) == "http://reports.example:8080/base/bike%20sharing/drift/2011-01-18%20%231.html"
    )


def test_a_file_outside_the_reports_directory_is_not_linked(tmp_path: Path) -> None:
    reports = ReportDir(tmp_path / "reports", DEFAULT_REPORTS_URL)
    with pytest.raises(ValueError, match="outside the reports directory"):
        reports.link(tmp_path / "elsewhere.html")


def test_the_reports_url_is_a_setting() -> None:
    assert load_settings({"MLOPS_HOME": "/tmp/x"}).reports_url == DEFAULT_REPORTS_URL
    chosen = load_settings({"MLOPS_HOME": "/tmp/x", "MLOPS_REPORTS_URL": "http://h:1/r/"})
    assert chosen.reports_url == "http://h:1/r/"


def test_the_server_serves_what_the_link_names(tmp_path: Path) -> None:
    url = _free_url()
    reports = ReportDir(tmp_path / "reports", url)
    path = reports.path("demand_sim", "drift", "2024-03-18.html")
    path.write_text("<html>drift of 2024-03-18</html>", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("not a report", encoding="utf-8")
    served = serve_reports(reports.root, url)
    try:
        with urllib.request.urlopen(reports.link(path), timeout=10) as answer:
            assert answer.status == 200 and b"drift of 2024-03-18" in answer.read()
        # Failure twins: nothing outside the directory, nothing that does not exist.
        for missing in (f"{url}../secret.txt", f"{url}%2e%2e/secret.txt", f"{url}demand_sim/drift/none.html"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(missing, timeout=10)
            assert refused.value.code == 404
    finally:
        served.stop()


def test_an_address_in_use_or_not_http_names_the_setting(tmp_path: Path) -> None:
    url = _free_url()
    first = serve_reports(tmp_path, url)
    try:
        with pytest.raises(ReportServerError, match="set MLOPS_REPORTS_URL to a free address"):
            serve_reports(tmp_path, url)
    finally:
        first.stop()
    with pytest.raises(ReportServerError, match="MLOPS_REPORTS_URL='https://h/'"):
        address_of("https://h/", "MLOPS_REPORTS_URL")
