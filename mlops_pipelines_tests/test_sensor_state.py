"""The sensor's compact cursor on a real instance, and skip reasons that say what would make it act.

The cursor Dagster stores is a short v3 pointer; the state it points to sits in the instance's
key-value store (`sensor_state`). Ticks are evaluated for real (`build_sensor_context`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from mlops_pipelines.sensor_cursor import CursorError, CursorPointer, SensorCursor, parse_cursor
from mlops_pipelines.sensor_state import state_key
from mlops_pipelines.spec import ProjectSpec
from mlops_pipelines_tests.test_sensors import DAYS, FIXTURES, _report_drift, observe, state_of, tick


@pytest.fixture
def spec(specs: dict[str, ProjectSpec]) -> ProjectSpec:
    base = specs["bike_sharing"]
    return base.model_copy(update={"retraining": base.retraining.model_copy(update={"consecutive_drift": 2})})


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test(temp_dir=str(tmp_path)) as inst:
        yield inst


def test_the_stored_cursor_stays_short_over_a_long_history_and_restarts_decide_the_same(
    spec: ProjectSpec, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    days = [f"2011-04-{d:02d}" for d in range(1, 31)]  # each event is a write: the pure tests go to 700
    for day in days:
        _report_drift(instance, spec, day, {"status": "ok", "drift_share": 0.0})
    first = tick(instance, spec, None, tmp_path)
    assert first.cursor is not None and len(first.cursor) < 100, first.cursor
    state = state_of(instance, spec, first.cursor)
    assert len(state.results) == len(days) and len(state.to_json()) > 10 * len(first.cursor)
    # Nothing new: the same cursor back, so the sensor page shows no change.
    assert tick(instance, spec, first.cursor, tmp_path).cursor == first.cursor
    observe(instance, spec, "2011-05-01", "warn")
    observe(instance, spec, "2011-05-02", "warn")
    second = tick(instance, spec, first.cursor, tmp_path)
    assert second.cursor != first.cursor and len(second.cursor or "") < 100
    # A restart from the older cursor (its slot untouched by the newer tick) decides the same.
    again = tick(instance, spec, first.cursor, tmp_path)
    assert [r.run_key for r in again.run_requests or []] == [r.run_key for r in second.run_requests or []]
    assert [r.run_key for r in second.run_requests or []] == ["retrain:2011-05-02:1"]


def test_a_cursor_whose_state_was_overwritten_rereads_the_event_log_without_a_warning(
    spec: ProjectSpec, instance: dg.DagsterInstance, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    observe(instance, spec, DAYS[0], "warn")
    first = tick(instance, spec, None, tmp_path)
    pointer = parse_cursor(first.cursor)
    assert isinstance(pointer, CursorPointer)
    key = state_key(f"{spec.name}__retrain_on_drift", pointer.slot)
    instance.run_storage.set_cursor_values({key: SensorCursor().to_json()})  # a newer tick's state
    with pytest.raises(CursorError, match="no longer matches the cursor"):
        state_of(instance, spec, first.cursor)
    observe(instance, spec, DAYS[1], "warn")
    result = tick(instance, spec, first.cursor, tmp_path)
    assert [r.run_key for r in result.run_requests or []] == [f"retrain:{DAYS[1]}:1"]
    assert "unreadable sensor cursor" not in capfd.readouterr().err


def test_a_v2_cursor_stored_by_the_previous_release_loads_and_is_replaced_by_a_pointer(
    spec: ProjectSpec, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    old = (FIXTURES / "sensor_cursor_v2.json").read_text(encoding="utf-8")
    result = tick(instance, spec, old, tmp_path)
    assert result.cursor is not None and result.cursor.startswith('{"v":3,')
    assert state_of(instance, spec, result.cursor) == SensorCursor.from_json(old)
    # Drift on 03-02..03-03 with performance degraded: the same decision the v2 code made.
    assert [r.run_key for r in result.run_requests or []] == [f"retrain:{DAYS[2]}:1"]


def test_skip_reasons_are_one_short_line_saying_what_would_make_the_sensor_act(
    spec: ProjectSpec, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    empty = tick(instance, spec, None, tmp_path).skip_reason
    assert empty is not None and empty.skip_message is not None
    assert empty.skip_message == (
        "no monitoring results for the current champion yet; acts once bike_sharing__daily monitors a partition"
    )
    observe(instance, spec, DAYS[0], "ok")
    observe(instance, spec, DAYS[1], "warn")
    calm = tick(instance, spec, None, tmp_path).skip_reason
    message = (calm.skip_message if calm else None) or ""
    assert message.startswith(f"no trigger up to {DAYS[1]}: drift 1/2 in a row, degraded labels 0/2;")
    assert "acts at 2 drifted or 2 degraded partitions in a row, or a KPI breach (4 new)" in message
    assert len(message) <= 200 and "\n" not in message
