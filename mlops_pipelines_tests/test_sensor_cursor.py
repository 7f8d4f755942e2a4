"""The sensor cursor's record and JSON: round trip, the old format, and every malformed field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_pipelines.sensor_cursor import (
    CURSOR_VERSION,
    HISTORY_LIMIT,
    CursorError,
    CursorPointer,
    PartitionResult,
    SensorCursor,
    parse_cursor,
    state_digest,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"

RESULTS = (
    PartitionResult("2011-03-01", "ok", 0.05, False, 1),
    PartitionResult("2011-03-02", "invalid", None, True, 3),
    PartitionResult("2011-03-03", "warn", 0.4, False, 5),
)


def test_a_cursor_round_trips_through_compact_versioned_json() -> None:
    cursor = SensorCursor.of(5, 6, reversed(RESULTS))  # put in partition order on the way in
    text = cursor.to_json()
    assert text.startswith('{"v":4,') and " " not in text
    assert json.loads(text)["results"][1] == ["2011-03-02", "invalid", None, True, 3, None, None, None, None]
    assert SensorCursor.from_json(text) == cursor
    assert cursor.results == RESULTS and cursor.version == CURSOR_VERSION


def test_no_cursor_yet_is_a_fresh_one() -> None:
    assert SensorCursor.from_json(None) == SensorCursor.from_json("") == SensorCursor()
    assert SensorCursor().to_json() == '{"v":4,"drift_after":null,"performance_after":null,"results":[]}'


def test_only_the_newest_results_are_kept() -> None:
    many = [PartitionResult(f"p{i:04d}", "ok", 0.0, False, i) for i in range(HISTORY_LIMIT + 5)]
    kept = SensorCursor.from_json(SensorCursor.of(None, None, many).to_json()).results
    assert len(kept) == HISTORY_LIMIT and kept[0].partition == "p0005"


def test_performance_verdicts_and_the_champion_round_trip() -> None:
    judged = PartitionResult("2011-03-04", "warn", 0.6, False, 7, True, None, "3")
    cursor = SensorCursor.of(7, None, [*RESULTS, judged])
    assert SensorCursor.from_json(cursor.to_json()).results[-1] == judged


def test_row_growth_round_trips_and_a_v2_row_loads_without_it() -> None:
    grown = PartitionResult("2011-03-04", "ok", 0.0, False, 7, False, None, "3", 3.25)
    cursor = SensorCursor.of(7, None, [*RESULTS, grown])
    assert SensorCursor.from_json(cursor.to_json()).results[-1] == grown
    assert grown.observation().row_growth == 3.25
    v2 = ["2011-03-01", "ok", 0.0, False, 1, None, None, "3"]
    loaded = SensorCursor.from_json(
        json.dumps({"v": 2, "drift_after": 1, "performance_after": None, "results": [v2]})
    )
    assert loaded.results[0].row_growth is None and loaded.results[0].champion_version == "3"
    bad = ["2011-03-01", "ok", 0.0, False, 1, None, None, "3", "lots"]
    with pytest.raises(CursorError, match="row_growth must be a finite number or null, got 'lots'"):
        SensorCursor.from_json(
            json.dumps({"v": 4, "drift_after": 1, "performance_after": None, "results": [bad]})
        )
    with pytest.raises(CursorError, match=r"expected \[partition, .*champion_version, row_growth\]"):
        SensorCursor.from_json(
            json.dumps({"v": 4, "drift_after": 1, "performance_after": None, "results": [v2]})
        )


def test_a_v1_cursor_stored_by_the_previous_release_loads_without_verdicts() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parent / "fixtures" / "sensor_cursor_v1.json").read_text(
        encoding="utf-8"
    )
    cursor = SensorCursor.from_json(text)
    assert [r.partition for r in cursor.results][:2] == ["2011-03-01", "2011-03-02"]
    assert all(
        r.estimated_degraded is r.realized_degraded is r.champion_version is None for r in cursor.results
    )
    assert cursor.results[3].drift_share is None and cursor.results[4].kpi_breach is True


def test_a_v2_row_with_a_bad_verdict_is_an_error_naming_it() -> None:
    row = ["2011-03-01", "ok", 0.0, False, 1, "yes", None, None]
    with pytest.raises(CursorError, match="estimated_degraded must be true, false or null"):
        SensorCursor.from_json(
            json.dumps({"v": 2, "drift_after": 1, "performance_after": None, "results": [row]})
        )


def test_the_unversioned_format_loads_with_no_share_for_no_verdict() -> None:
    old = {
        "drift_after": 9,
        "performance_after": None,
        "results": {"2011-03-02": ["warn", 0.4, False, 3], "2011-03-01": ["invalid", 0.0, True, 1]},
    }
    cursor = SensorCursor.from_json(json.dumps(old))
    assert cursor.results == (
        PartitionResult("2011-03-01", "invalid", None, True, 1),
        PartitionResult("2011-03-02", "warn", 0.4, False, 3),
    )
    assert (cursor.drift_after, cursor.performance_after) == (9, None)


def _v1(**changes: object) -> str:
    body: dict[str, object] = {"v": 1, "drift_after": 1, "performance_after": 2, "results": []}
    body.update(changes)
    return json.dumps(body)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "must be a JSON object"),
        (_v1(v=5), "version 5"),
        (_v1(extra=1), "unexpected keys ['extra']"),
        (json.dumps({"v": 1, "results": []}), "missing keys ['drift_after', 'performance_after']"),
        (_v1(drift_after="9"), "'drift_after' must be a storage id or null"),
        (_v1(performance_after=True), "'performance_after' must be a storage id or null"),
        (_v1(results={}), "'results' must be a list"),
        (_v1(results=[["p1", "ok", 0.1, False]]), "expected [partition, status, drift_share"),
        (_v1(results=[["", "ok", 0.1, False, 1]]), "partition must be a non-empty string"),
        (_v1(results=[["p1", 3, 0.1, False, 1]]), "status must be a string"),
        (_v1(results=[["p1", "ok", "0.1", False, 1]]), "drift_share must be a finite number or null"),
        ('{"v":1,"drift_after":1,"performance_after":2,"results":[["p1","ok",NaN,false,1]]}', "finite"),
        (_v1(results=[["p1", "ok", 0.1, 0, 1]]), "kpi_breach must be true or false"),
        (_v1(results=[["p1", "ok", 0.1, False, "1"]]), "event_id must be a storage id"),
        (_v1(results=[["p1", "ok", 0.1, False, 1], ["p1", "warn", 0.2, False, 2]]), "['p1']"),
        (
            json.dumps({"drift_after": 1, "performance_after": 2, "results": []}),
            "'results' must be an object",
        ),
        (json.dumps({"drift_after": 1, "results": {}}), "missing keys ['performance_after']"),
        (
            json.dumps({"drift_after": 1, "performance_after": 2, "results": {"p1": ["ok", 0.1]}}),
            "result for 'p1'",
        ),
    ],
)
def test_a_malformed_cursor_is_an_error_naming_the_problem(text: str, problem: str) -> None:
    with pytest.raises(CursorError) as info:
        SensorCursor.from_json(text)
    assert problem in str(info.value)


def test_a_cursor_record_is_always_the_current_version() -> None:
    with pytest.raises(CursorError, match="older forms load through from_json"):
        SensorCursor(version=0)


# --- v3: the short pointer the sensor page shows; the state it points to is a v4 body ---


def test_a_pointer_is_short_and_round_trips_whatever_the_state_holds() -> None:
    many = [
        PartitionResult(f"2011-{i // 28 + 1:02d}-{i % 28 + 1:02d}", "ok", 0.1, False, i) for i in range(700)
    ]
    state = SensorCursor.of(12_345_678, 12_345_699, many)
    pointer = CursorPointer.to(state, 1)
    text = pointer.to_json()
    assert len(text) < 100 < len(state.to_json()) // 100  # the page shows ~90 bytes, not ~40 kB
    assert (
        text == f'{{"v":3,"drift_after":12345678,"performance_after":12345699,"state":"1:{pointer.digest}"}}'
    )
    assert parse_cursor(text) == pointer
    assert pointer.holds(state.to_json()) and not pointer.holds(SensorCursor().to_json())
    assert not pointer.holds(None)


@pytest.mark.parametrize(
    "name", ["sensor_cursor_v2.json", "sensor_cursor_v1.json", "sensor_cursor_unversioned.json"]
)
def test_every_earlier_stored_cursor_still_parses_as_a_whole_cursor(name: str) -> None:
    parsed = parse_cursor((FIXTURES / name).read_text(encoding="utf-8"))
    assert isinstance(parsed, SensorCursor)
    assert [r.partition for r in parsed.results] == [f"2011-03-0{d}" for d in range(1, 6)]
    assert (parsed.drift_after, parsed.performance_after) == (9, 10)


def test_the_v2_fixture_keeps_its_verdicts_and_champion() -> None:
    parsed = parse_cursor((FIXTURES / "sensor_cursor_v2.json").read_text(encoding="utf-8"))
    assert isinstance(parsed, SensorCursor)
    assert parsed.results[2] == PartitionResult("2011-03-03", "error", 0.75, False, 5, True, True, "1")


def test_no_cursor_parses_as_a_fresh_one_and_digests_tell_states_apart() -> None:
    assert parse_cursor(None) == parse_cursor("") == SensorCursor()
    assert len(state_digest("x")) == 12 and state_digest("x") != state_digest("y")


@pytest.mark.parametrize(
    ("state", "problem"),
    [("0:zz", "'SLOT:DIGEST'"), ("2:0123456789ab", "slot below 2"), (7, "got 7"), ("0", "'SLOT:DIGEST'")],
)
def test_a_malformed_pointer_is_an_error_naming_the_field(state: object, problem: str) -> None:
    text = json.dumps({"v": 3, "drift_after": 1, "performance_after": None, "state": state})
    with pytest.raises(CursorError, match="'state'") as info:
        parse_cursor(text)
    assert problem in str(info.value)


def test_a_pointer_with_missing_keys_or_read_as_a_whole_cursor_is_an_error() -> None:
    with pytest.raises(CursorError, match="missing keys \\['state'\\]"):
        parse_cursor(json.dumps({"v": 3, "drift_after": 1, "performance_after": None}))
    with pytest.raises(CursorError, match="points to stored state"):
        SensorCursor.from_json(CursorPointer(1, 2, 0, "0" * 12).to_json())
