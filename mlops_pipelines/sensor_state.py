"""Where the retraining sensor keeps its bulky state: the instance's key-value store.

The cursor Dagster stores (and the sensor page shows) is a short v3 pointer
(`sensor_cursor.CursorPointer`); the per-partition results it points to live under
`mlops/sensor_state/<sensor>/<slot>` in the same instance (SQLite or PostgreSQL), so they move
with it. A tick writes the slot after the one its cursor points to: should the daemon not store
that tick's cursor, the state its stored cursor points to is still intact.

The state only caches what the event log holds. State that is gone or overwritten (a cursor
older than the last STATE_SLOTS ticks, a wiped key) or unreadable (corrupt, or written by a
newer version) starts afresh from the event log, which decides the same; run keys stop any
duplicate run. Unreadable is a warning in the tick's log; gone is only noted.
"""

from __future__ import annotations

import dagster as dg

from mlops_pipelines.sensor_cursor import STATE_SLOTS, CursorError, CursorPointer, SensorCursor, parse_cursor

STATE_KEY_PREFIX = "mlops/sensor_state"


def state_key(sensor: str, slot: int) -> str:
    return f"{STATE_KEY_PREFIX}/{sensor}/{slot}"


def load_state(context: dg.SensorEvaluationContext, sensor: str) -> tuple[SensorCursor, CursorPointer | None]:
    """The state the stored cursor stands for, and its pointer (None: not a v3 cursor)."""
    try:
        stored = parse_cursor(context.cursor)
        if isinstance(stored, SensorCursor):
            return stored, None
        key = state_key(sensor, stored.slot)
        text = context.instance.run_storage.get_cursor_values({key}).get(key)
        if text is None or not stored.holds(text):
            context.log.info(f"sensor state {key} no longer matches the cursor: re-reading the event log")
            return SensorCursor(), None
        return SensorCursor.from_json(text), stored
    except CursorError as err:
        context.log.warning(f"unreadable sensor cursor, re-reading the event log from the start: {err}")
        return SensorCursor(), None


def store_state(
    instance: dg.DagsterInstance, sensor: str, state: SensorCursor, previous: CursorPointer | None
) -> str:
    """The cursor to return from the tick: `previous` again if the state did not change, else a
    pointer to the state written to the next slot."""
    text = state.to_json()
    if previous is not None and previous.holds(text):
        return previous.to_json()  # nothing new: no write, and the sensor page shows no change
    slot = 0 if previous is None else (previous.slot + 1) % STATE_SLOTS
    instance.run_storage.set_cursor_values({state_key(sensor, slot): text})
    return CursorPointer.to(state, slot).to_json()


def read_state(instance: dg.DagsterInstance, sensor: str, cursor: str | None) -> SensorCursor:
    """The state a stored cursor stands for (for inspection; a tick uses `load_state`)."""
    stored = parse_cursor(cursor)
    if isinstance(stored, SensorCursor):
        return stored
    key = state_key(sensor, stored.slot)
    text = instance.run_storage.get_cursor_values({key}).get(key)
    if text is None or not stored.holds(text):
        raise CursorError(f"sensor state {key} no longer matches the cursor {cursor}")
    return SensorCursor.from_json(text)
