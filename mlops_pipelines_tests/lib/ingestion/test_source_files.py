"""Locating, downloading and parsing source files; every failure names the file and the problem."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pandas as pd
import pytest

from mlops_pipelines.lib.frames import EVENT_TIME
from mlops_pipelines.lib.ingestion.source_files import download, read_file, resolve_pattern
from mlops_pipelines.lib.ingestion.sources import SourceError, clear_source_cache, read_source
from mlops_pipelines.spec import ProjectSpec, parse_spec

TINY_CSV = "when,x,y\n2024-01-01 00:00,1,2\n2024-01-01 01:00,3,4\n"


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    clear_source_cache()


class _CountingHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:
        _CountingHandler.requests.append(self.path)
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server over a temp folder: (base URL, folder)."""
    root = tmp_path / "served"
    root.mkdir()
    _CountingHandler.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_CountingHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def url_spec(url: str, sha256: str) -> ProjectSpec:
    return parse_spec(
        {
            "name": "remote",
            "task": "regression",
            "source": {"kind": "url", "url": url, "sha256": sha256},
            "schema": {"when": {"dtype": "datetime"}, "x": {"dtype": "int"}, "y": {"dtype": "int"}},
            "target": "y",
            "time": {"column": "when"},
            "partitions": {"start": "2024-01-01"},
        }
    )


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_relative_file_needs_a_data_dir() -> None:
    with pytest.raises(SourceError, match=r"set MLOPS_DATA_DIR or data_dir in the spec of 'proj'"):
        resolve_pattern("proj", "bike/hour.csv", None)


def test_absolute_file_needs_no_data_dir(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(TINY_CSV)
    assert resolve_pattern("proj", str(path), None) == [path]


def test_missing_data_dir_is_named(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=rf"data directory {tmp_path / 'nope'} does not exist"):
        resolve_pattern("proj", "a.csv", tmp_path / "nope")


def test_missing_file_and_empty_glob_name_pattern_and_dir(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=rf"file 'a.csv' not found in {tmp_path}"):
        resolve_pattern("proj", "a.csv", tmp_path)
    with pytest.raises(SourceError, match=rf"no file matches 'parts/\*.csv' in {tmp_path}"):
        resolve_pattern("proj", "parts/*.csv", tmp_path)


def test_glob_matches_are_sorted(tmp_path: Path) -> None:
    for name in ("b.csv", "a.csv", "c.txt"):
        (tmp_path / name).write_text(TINY_CSV)
    assert resolve_pattern("proj", "*.csv", tmp_path) == [tmp_path / "a.csv", tmp_path / "b.csv"]


def test_csv_cut_mid_row_is_truncated(shared_data_dir: Path, tmp_path: Path) -> None:
    raw = (shared_data_dir / "bike_sharing" / "hour.csv").read_bytes()
    cut_at = raw.index(b"\n", 100_000) + 25  # inside a row, a few fields in
    whole_lines = tmp_path / "whole.csv"
    whole_lines.write_bytes(raw[: raw.index(b"\n", 100_000) + 1])
    assert len(read_file(whole_lines, "csv", {})) > 1000  # the twin: a clean cut at a line end reads
    cut = tmp_path / "hour.csv"
    cut.write_bytes(raw[:cut_at])
    with pytest.raises(
        SourceError, match=r"hour\.csv: truncated or corrupt: the last line has \d field\(s\) where"
    ):
        read_file(cut, "csv", {})


def test_truncated_last_line_with_quotes_and_other_separator(tmp_path: Path) -> None:
    path = tmp_path / "wine.csv"
    path.write_text('"a b";"c"\n1;"x;y"\n2;"z"\n3')
    with pytest.raises(SourceError, match="does not end with a newline"):
        read_file(path, "csv", {"sep": ";"})
    path.write_text('"a b";"c"\n1;"x;y"\n2;"z"\n3;"w"')  # no final newline, but complete
    assert list(read_file(path, "csv", {"sep": ";"})["c"]) == ["x;y", "z", "w"]


def test_csv_with_too_many_fields_is_a_parse_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n1,2\n3,4,5,6\n7,8\n")
    with pytest.raises(SourceError, match=r"bad\.csv: cannot read as csv: ParserError"):
        read_file(path, "csv", {})


def test_invalid_read_options_are_named(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(TINY_CSV)
    with pytest.raises(SourceError, match="invalid read_options"):
        read_file(path, "csv", {"no_such_option": 1})


def test_parquet_with_garbage_bytes(tmp_path: Path) -> None:
    good = tmp_path / "good.parquet"
    pd.DataFrame({"x": [1, 2, 3]}).to_parquet(good)
    assert list(read_file(good, "parquet", {})["x"]) == [1, 2, 3]
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 this is not a parquet file at all")
    with pytest.raises(SourceError, match=r"bad\.parquet: cannot read as parquet"):
        read_file(bad, "parquet", {})
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(good.read_bytes()[:-20])
    with pytest.raises(SourceError, match=r"cut\.parquet: cannot read as parquet"):
        read_file(cut, "parquet", {})


def test_url_source_downloads_once_over_http(http_root: tuple[str, Path], tmp_path: Path) -> None:
    base, root = http_root
    (root / "tiny.csv").write_text(TINY_CSV)
    spec = url_spec(f"{base}/tiny.csv", sha(TINY_CSV.encode()))
    cache = tmp_path / "cache"
    frame = read_source(spec, None, cache)
    assert list(frame["x"]) == [1, 3]
    assert frame[EVENT_TIME].iloc[1] == pd.Timestamp("2024-01-01 01:00")
    clear_source_cache()
    read_source(spec, None, cache)
    assert _CountingHandler.requests == ["/tiny.csv"]
    assert [p.name for p in cache.iterdir()] == [f"{sha(TINY_CSV.encode())[:16]}_tiny.csv"]


def test_url_sha_mismatch_deletes_the_download(http_root: tuple[str, Path], tmp_path: Path) -> None:
    base, root = http_root
    (root / "tiny.csv").write_text(TINY_CSV)
    wrong = "0" * 64
    cache = tmp_path / "cache"
    with pytest.raises(
        SourceError, match=rf"sha256 mismatch: expected {wrong}, got {sha(TINY_CSV.encode())}"
    ):
        download(f"{base}/tiny.csv", wrong, cache)
    assert list(cache.iterdir()) == []


def test_url_unreachable_is_named(http_root: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = http_root
    with pytest.raises(SourceError, match=rf"cannot download {base}/missing.csv"):
        download(f"{base}/missing.csv", "0" * 64, tmp_path)
    assert [p for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_file_url_parquet_and_corrupted_cache_refetch(tmp_path: Path) -> None:
    source = tmp_path / "remote.parquet"
    pd.DataFrame({"when": ["2024-01-01"], "x": [1], "y": [2]}).to_parquet(source)
    digest = sha(source.read_bytes())
    cache = tmp_path / "cache"
    spec = url_spec(source.as_uri(), digest)
    assert list(read_source(spec, None, cache)["y"]) == [2]
    cached = next(cache.iterdir())
    cached.write_bytes(b"tampered")
    assert download(source.as_uri(), digest, cache) == cached
    assert sha(cached.read_bytes()) == digest
