"""The retraining sensor's cursor: a frozen, typed, versioned record and its compact JSON.

What the sensor page shows is the v3 pointer, about 90 bytes:
`{"v":3,"drift_after":ID|null,"performance_after":ID|null,"state":"SLOT:DIGEST"}`. The bulky
per-partition state is stored beside it, in the instance's key-value store (`sensor_state`),
under one of STATE_SLOTS slots per sensor; DIGEST (the first 12 hex digits of its sha256) proves
the slot still holds the state this pointer was written with.

That state is the v4 form, `{"v":4,"drift_after":ID|null,"performance_after":ID|null,"results":
[[partition, status, drift_share|null, kpi_breach, event_id, estimated_degraded|null,
realized_degraded|null, champion_version|null, row_growth|null], ...]}`, rows in partition
order: arrays, not objects, keep HISTORY_LIMIT rows at about 60 bytes each. (The number 3 is the
pointer's.) v2, the same rows without row_growth, was also the stored cursor itself before v3;
it still loads, its row growth None (unknown). Older cursors still load, their performance
verdicts None (not judged yet): v1 (the v2 rows without their last three fields) and the
unversioned cursor written before v1 (`results` a dict of
partition -> [status, drift_share, kpi_breach, event_id]), whose writer spelled "no share" 0.0,
so a no-verdict status loads with drift_share None.

Loading checks every field: anything else is a CursorError that says what is wrong. Pure: no
dagster, so it is tested without an instance.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from mlops_pipelines.lib.monitoring.policy import NO_VERDICT_STATUSES, MonitoringObservation

CURSOR_VERSION: Final = 4  # the state's form (v2: the stored cursor's before the v3 pointer)
POINTER_VERSION: Final = 3
STATE_SLOTS: Final = 2  # a tick writes the slot after its cursor's: the one it read stays intact
_POINTER_KEYS = frozenset({"v", "drift_after", "performance_after", "state"})
_STATE_REF = re.compile(r"^(\d+):([0-9a-f]{12})$")
HISTORY_LIMIT: Final = 800  # per-partition results kept (covers every policy window here)
_VERSIONED_KEYS = frozenset({"v", "drift_after", "performance_after", "results"})
_ROW_FIELDS = {1: 5, 2: 8, 4: 9}  # fields of one result row per cursor version
_UNVERSIONED_KEYS = frozenset({"drift_after", "performance_after", "results"})


class CursorError(ValueError):
    """A stored cursor that cannot be read; the message names the problem."""


@dataclass(frozen=True)
class PartitionResult:
    partition: str
    status: str  # a DriftStatus: ok | warn | error | insufficient_data | invalid
    drift_share: float | None  # None: no verdict, or no drift observation yet
    kpi_breach: bool
    event_id: int  # storage id of the observation that set it last
    estimated_degraded: bool | None = None  # label-free estimate of the window worse than expected
    realized_degraded: bool | None = None  # realized performance worse than expected (labels in)
    champion_version: str | None = None  # the champion the drift observation judged
    row_growth: float | None = None  # rows per partition against the champion's training data's

    def observation(self) -> MonitoringObservation:
        """The policy's view of this partition."""
        return MonitoringObservation(
            self.partition,
            self.status,
            self.drift_share,
            self.kpi_breach,
            self.event_id,
            self.estimated_degraded,
            self.realized_degraded,
            self.champion_version,
            self.row_growth,
        )


@dataclass(frozen=True)
class SensorCursor:
    version: int = CURSOR_VERSION
    drift_after: int | None = None  # storage ids read up to (None: nothing read yet)
    performance_after: int | None = None
    results: tuple[PartitionResult, ...] = ()  # one per partition, in partition order

    def __post_init__(self) -> None:
        if self.version != CURSOR_VERSION:
            raise CursorError(
                f"a SensorCursor is version {CURSOR_VERSION}; older forms load through from_json"
            )

    @classmethod
    def of(
        cls, drift_after: int | None, performance_after: int | None, results: Iterable[PartitionResult]
    ) -> SensorCursor:
        """A current-version cursor; results are put in partition order, one per partition."""
        ordered = tuple(sorted(results, key=lambda r: r.partition))
        seen = [r.partition for r in ordered]
        if len(set(seen)) != len(seen):
            duplicated = sorted({p for p in seen if seen.count(p) > 1})
            raise CursorError(f"more than one result for partition(s) {duplicated}")
        return cls(CURSOR_VERSION, drift_after, performance_after, ordered)

    def to_json(self) -> str:
        """Compact JSON of the newest HISTORY_LIMIT results (older ones never change a decision)."""
        rows = [
            [
                r.partition,
                r.status,
                r.drift_share,
                r.kpi_breach,
                r.event_id,
                r.estimated_degraded,
                r.realized_degraded,
                r.champion_version,
                r.row_growth,
            ]
            for r in self.results[-HISTORY_LIMIT:]
        ]
        body = {
            "v": self.version,
            "drift_after": self.drift_after,
            "performance_after": self.performance_after,
            "results": rows,
        }
        return json.dumps(body, separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, text: str | None) -> SensorCursor:
        """The cursor in `text`; None or "" (no cursor yet) is a fresh one."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise CursorError(f"sensor cursor is not JSON ({err}): {text[:80]!r}") from err
        if not isinstance(data, dict):
            raise CursorError(f"sensor cursor must be a JSON object, got {type(data).__name__}")
        if "v" not in data:
            return _unversioned(data)
        version = data["v"]
        if version == POINTER_VERSION:
            raise CursorError("a v3 sensor cursor points to stored state: read it with parse_cursor")
        if version not in _ROW_FIELDS or isinstance(version, bool):
            raise CursorError(
                f"sensor cursor version {version!r}: this code reads versions {sorted(_ROW_FIELDS)} "
                "and the unversioned format"
            )
        _exact_keys(data, _VERSIONED_KEYS, f"v{version}")
        rows = data["results"]
        if not isinstance(rows, list):
            raise CursorError(f"sensor cursor 'results' must be a list, got {type(rows).__name__}")
        results = [_result(row[0] if isinstance(row, list) and row else None, row, version) for row in rows]
        return cls.of(_storage_id(data, "drift_after"), _storage_id(data, "performance_after"), results)


def _unversioned(data: dict[str, Any]) -> SensorCursor:
    _exact_keys(data, _UNVERSIONED_KEYS, "unversioned")
    rows = data["results"]
    if not isinstance(rows, dict):
        raise CursorError(f"unversioned sensor cursor 'results' must be an object, got {type(rows).__name__}")
    results = []
    for partition, row in rows.items():
        result = _result(partition, [partition, *row] if isinstance(row, list) else row, 0)
        if result.status in NO_VERDICT_STATUSES:
            result = PartitionResult(partition, result.status, None, result.kpi_breach, result.event_id)
        results.append(result)
    return SensorCursor.of(_storage_id(data, "drift_after"), _storage_id(data, "performance_after"), results)


def _exact_keys(data: dict[str, Any], expected: frozenset[str], form: str) -> None:
    if set(data) != expected:
        missing, extra = sorted(expected - set(data)), sorted(set(data) - expected)
        raise CursorError(f"{form} sensor cursor: missing keys {missing}, unexpected keys {extra}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _storage_id(data: dict[str, Any], key: str) -> int | None:
    value = data[key]
    if value is None or _is_int(value):
        return value
    raise CursorError(f"sensor cursor '{key}' must be a storage id or null, got {value!r}")


def _result(partition: Any, row: Any, version: int) -> PartitionResult:
    """One row [partition, status, drift_share, kpi_breach, event_id(, estimated_degraded,
    realized_degraded)], every field checked; version 0 is the unversioned form."""
    where = f"sensor cursor (v{version}) result for {partition!r}"
    fields = _ROW_FIELDS.get(version, 5)
    if not (isinstance(row, list) and len(row) == fields):
        shape = "[partition, status, drift_share, kpi_breach, event_id"
        shape += ", estimated_degraded, realized_degraded, champion_version" if fields >= 8 else ""
        shape += ", row_growth]" if fields == 9 else "]"
        raise CursorError(f"{where}: expected {shape}, got {row!r}")
    name, status, share, breach, event = row[:5]
    estimated, realized, champion = (row[5], row[6], row[7]) if fields >= 8 else (None, None, None)
    growth = row[8] if fields == 9 else None
    if growth is not None and not (_is_int(growth) or (isinstance(growth, float) and math.isfinite(growth))):
        raise CursorError(f"{where}: row_growth must be a finite number or null, got {growth!r}")
    if champion is not None and not isinstance(champion, str):
        raise CursorError(f"{where}: champion_version must be a string or null, got {champion!r}")
    for label, flag in (("estimated_degraded", estimated), ("realized_degraded", realized)):
        if flag is not None and not isinstance(flag, bool):
            raise CursorError(f"{where}: {label} must be true, false or null, got {flag!r}")
    if not isinstance(name, str) or not name:
        raise CursorError(f"{where}: partition must be a non-empty string")
    if not isinstance(status, str):
        raise CursorError(f"{where}: status must be a string, got {status!r}")
    if share is not None and not (_is_int(share) or (isinstance(share, float) and math.isfinite(share))):
        raise CursorError(f"{where}: drift_share must be a finite number or null, got {share!r}")
    if not isinstance(breach, bool):
        raise CursorError(f"{where}: kpi_breach must be true or false, got {breach!r}")
    if not _is_int(event):
        raise CursorError(f"{where}: event_id must be a storage id, got {event!r}")
    share_value = None if share is None else float(share)
    growth_value = None if growth is None else float(growth)
    return PartitionResult(
        name, status, share_value, breach, event, estimated, realized, champion, growth_value
    )


def state_digest(text: str) -> str:
    """The short digest a pointer keeps of the state text it points to."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class CursorPointer:
    """The v3 cursor: read-up-to storage ids and where the state is (slot and digest)."""

    drift_after: int | None
    performance_after: int | None
    slot: int
    digest: str

    @classmethod
    def to(cls, state: SensorCursor, slot: int) -> CursorPointer:
        return cls(state.drift_after, state.performance_after, slot, state_digest(state.to_json()))

    def to_json(self) -> str:
        body = {
            "v": POINTER_VERSION,
            "drift_after": self.drift_after,
            "performance_after": self.performance_after,
            "state": f"{self.slot}:{self.digest}",
        }
        return json.dumps(body, separators=(",", ":"))

    def holds(self, text: str | None) -> bool:
        """Whether `text` (what the slot holds now) is the state this pointer was written with."""
        return text is not None and state_digest(text) == self.digest


def parse_cursor(text: str | None) -> SensorCursor | CursorPointer:
    """A stored cursor: a v3 pointer, or a whole cursor of an earlier form (None: a fresh one)."""
    if text and text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None  # from_json says what is wrong with it
        if isinstance(data, dict) and data.get("v") == POINTER_VERSION:
            _exact_keys(data, _POINTER_KEYS, "v3")
            match = _STATE_REF.match(data["state"]) if isinstance(data["state"], str) else None
            if match is None or int(match.group(1)) >= STATE_SLOTS:
                raise CursorError(
                    f"v3 sensor cursor 'state' must be 'SLOT:DIGEST' with a slot below {STATE_SLOTS} "
                    f"and 12 hex digits, got {data['state']!r}"
                )
            drift, performance = _storage_id(data, "drift_after"), _storage_id(data, "performance_after")
            return CursorPointer(drift, performance, int(match.group(1)), match.group(2))
    return SensorCursor.from_json(text)
