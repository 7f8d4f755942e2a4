"""The prediction log's rotation rule on a real Delta table, and its writer under supervision."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from serving_support import bike_frame, request_rows, wait_for

from mlops_pipelines.lib.lake import read, write_partitions
from mlops_pipelines.lib.scoring.prediction_log import Predictions, build_log_frame
from mlops_pipelines.serving.columns import RequestRows
from mlops_pipelines.serving.logsink import InProcessSink, LogEntry, ProcessSink
from mlops_pipelines.serving.predlog import PredictionLogWriter
from mlops_pipelines.serving.rotation import RotationRule, rotate_log
from mlops_pipelines.serving.schemas import build_request_schema
from mlops_pipelines.serving.supervisor import Supervisor
from mlops_pipelines.spec import ProjectSpec

NOW = datetime.now(UTC).replace(tzinfo=None)


@pytest.fixture(scope="module")
def spec(specs: dict[str, ProjectSpec]) -> ProjectSpec:
    return specs["bike_sharing"]


@pytest.fixture(scope="module")
def parsed(shared_data_dir: Path, spec: ProjectSpec) -> list[dict[str, Any]]:
    frame = bike_frame(shared_data_dir, spec).iloc[:40]
    return build_request_schema(spec).parse(json.dumps({"rows": request_rows(frame, spec)}).encode())


def _entries(
    spec: ProjectSpec, rows: list[dict[str, Any]], logged_at: datetime, prefix: str
) -> list[LogEntry]:
    return [
        LogEntry(
            RequestRows.from_rows(spec, [row], logged_at),
            Predictions.regression(np.array([float(i)])),
            "champion",
            "1",
            f"{prefix}{i}",
            1.0,
            logged_at,
        )
        for i, row in enumerate(rows)
    ]


def _files(uri: str) -> int:
    return sum(1 for _ in Path(uri).glob("**/*.parquet"))


# The service's own sink (a child process); the in-process one runs the same rotate_log.
@pytest.mark.parametrize("sink_kind", ["process"])
def test_rotation_deletes_old_service_rows_and_bounds_the_files(
    tmp_path: Path, spec: ProjectSpec, parsed: list[dict[str, Any]], shared_data_dir: Path, sink_kind: str
) -> None:
    uri = str(tmp_path / "predictions")
    sink = ProcessSink(spec, uri) if sink_kind == "process" else InProcessSink(spec, uri)
    # Batch-scored rows (the Dagster asset's) share the table and are never rotated away.
    conformed = bike_frame(shared_data_dir, spec).iloc[:5].copy()
    conformed["_partition"] = conformed["dteday"].dt.strftime("%Y-%m-%d")
    ints = [c for c, col in spec.columns.items() if col.dtype == "int"]
    conformed[ints] = conformed[ints].astype("Int64")
    batch = build_log_frame(spec, conformed, Predictions.regression(np.ones(5)), "batch", "1", "b", 0.0)
    write_partitions(uri, batch, "_partition", sorted(set(batch["_partition"])))
    old = _entries(spec, parsed[:20], NOW - timedelta(days=40), "old")
    new = _entries(spec, parsed[20:], NOW - timedelta(days=1), "new")
    for entry in [*old, *new]:  # one commit each, as a busy service makes them
        sink.write([entry])
    before = _files(uri)
    done = sink.rotate(RotationRule(retention_days=30, vacuum_hours=0), NOW)
    sink.close()
    log = read(uri)
    assert done.rows_deleted == 20 and done.files_removed >= before - 2
    assert log["route"].value_counts().to_dict() == {"champion": 20, "batch": 5}
    assert all(r.startswith("new") for r in log.loc[log["route"] == "champion", "request_id"])
    assert _files(uri) < before  # compacted and vacuumed: the disk holds what is kept
    # Failure twin: nothing within the retention, nothing deleted; a missing table is a no-op.
    assert rotate_log(uri, RotationRule(retention_days=30, vacuum_hours=0), NOW).rows_deleted == 0
    assert rotate_log(str(tmp_path / "none"), RotationRule(), NOW).rows_deleted == 0


def test_the_writer_rotates_on_its_schedule(
    tmp_path: Path, spec: ProjectSpec, parsed: list[dict[str, Any]]
) -> None:
    uri = str(tmp_path / "predictions")
    rule = RotationRule(retention_days=30, vacuum_hours=0, every_seconds=0.2)
    writer = PredictionLogWriter(spec, uri, flush_rows=1000, flush_seconds=0.1, rotation=rule)
    writer.start()
    for entry in _entries(spec, parsed[:10], NOW - timedelta(days=60), "old"):
        writer.submit(entry)
    wait_for(lambda: writer.rows_written == 10, what="the write")
    for entry in _entries(spec, parsed[10:12], NOW, "new"):
        writer.submit(entry)
    wait_for(lambda: len(read(uri)) == 2, what="the scheduled rotation")
    writer.close()
    assert sorted(read(uri)["request_id"]) == ["new0", "new1"]


class FlakySink(InProcessSink):
    """A real sink whose first write kills the writer thread, or whose writes hang."""

    def __init__(self, spec: ProjectSpec, uri: str, mode: str) -> None:
        super().__init__(spec, uri)
        self.mode = mode
        self.release = threading.Event()

    def write(self, entries: list[LogEntry]) -> int:
        if self.mode == "crash":
            self.mode = ""
            raise MemoryError("simulated: the writer thread dies mid-write")
        if self.mode == "hang":
            self.release.wait(30)
        return super().write(entries)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # intended
def test_a_dead_log_writer_thread_is_restarted_with_its_rows(
    tmp_path: Path, spec: ProjectSpec, parsed: list[dict[str, Any]]
) -> None:
    uri = str(tmp_path / "predictions")
    writer = PredictionLogWriter(spec, uri, flush_seconds=0.05, sink=FlakySink(spec, uri, "crash"))
    supervisor = Supervisor([writer], hang_seconds=5)
    writer.start()
    for entry in _entries(spec, parsed[:5], NOW, "r"):
        writer.submit(entry)
    wait_for(lambda: not writer.alive(), what="the thread to die")
    problems = supervisor.check()
    assert writer.restarts == 1 and not any(p.fatal for p in problems)
    wait_for(lambda: writer.rows_written == 5, what="the restarted thread to write the kept rows")
    writer.close()
    assert sorted(read(uri)["request_id"]) == [f"r{i}" for i in range(5)]


def test_a_hung_log_write_fails_readiness(
    tmp_path: Path, spec: ProjectSpec, parsed: list[dict[str, Any]]
) -> None:
    uri = str(tmp_path / "predictions")
    sink = FlakySink(spec, uri, "hang")
    writer = PredictionLogWriter(spec, uri, flush_seconds=0.05, sink=sink)
    supervisor = Supervisor([writer], hang_seconds=0.2)
    writer.start()
    writer.submit(_entries(spec, parsed[:1], NOW, "r")[0])
    wait_for(lambda: (writer.busy_seconds() or 0) > 0.3, what="the stuck write")
    [problem] = supervisor.check()
    assert problem.fatal and problem.reason.startswith("prediction-log: one call has run for")
    sink.release.set()  # the store answers again: the write completes, readiness recovers
    wait_for(lambda: writer.rows_written == 1, what="the write")
    assert supervisor.check() == ()
    writer.close()
    assert isinstance(read(uri), pd.DataFrame)
