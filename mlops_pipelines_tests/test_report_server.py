"""Report links open over http: ReportDir links under the reports URL, and the server that
`mlops-pipelines ui` (and `mlops-pipelines reports`) starts serves exactly that directory."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from mlops_pipelines.lib.stores import ReportDir
from mlops_pipelines.report_server import ReportServerError, address_of, check_address, serve_reports
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


def test_the_ui_reports_process_serves_until_its_parent_exits(tmp_path: Path) -> None:
    """What `mlops-pipelines ui` starts before it becomes `dagster dev`: a child that serves the
    reports and exits when that process does (no orphan server holding the port)."""
    url = _free_url()
    (tmp_path / "card.md").write_text("# model card", encoding="utf-8")
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time; "
            "c = subprocess.Popen([sys.executable, '-m', 'mlops_pipelines.report_server', sys.argv[1], sys.argv[2]]); "
            "print(c.pid, flush=True); time.sleep(float(sys.argv[3]))",
            str(tmp_path),
            url,
            "30",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{url}card.md", timeout=2) as answer:
                assert answer.read() == b"# model card"
                break
        except urllib.error.URLError:
            assert time.monotonic() < deadline, "the reports process never answered"
            time.sleep(0.2)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 15
    while Path(f"/proc/{child}").exists() and "zombie" not in _state(child):
        assert time.monotonic() < deadline, "the reports process outlived its parent"
        time.sleep(0.2)
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url}card.md", timeout=2)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split("\n")[0].lower()
    except (FileNotFoundError, IndexError):
        return "gone"


def test_a_taken_address_is_found_before_the_ui_starts(tmp_path: Path) -> None:
    url = _free_url()
    check_address(url)  # free: no error
    served = serve_reports(tmp_path, url)
    try:
        with pytest.raises(ReportServerError, match="set MLOPS_REPORTS_URL to a free address"):
            check_address(url)
    finally:
        served.stop()
