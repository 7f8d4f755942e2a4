"""Which version served when: the champion timeline read back from the audit trail.

Pure functions over `AuditEntry` lists (read by `audit.read_entries`): the timeline is every
done entry that moved the champion alias, oldest first; `champion_at` answers "which version
served at 14:00 last Tuesday" as the champion alias at that instant (the last champion move at
or before it). Pending and failed entries never count: they are not moves that happened.
Times without a zone are read as UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from mlops_pipelines.lib.registry.audit import DONE, AuditEntry
from mlops_pipelines.lib.registry.lookup import CHAMPION, RegistryError


class HistoryError(RegistryError):
    """A history question that has no answer (unknown project, bad time, before any champion)."""


@dataclass(frozen=True)
class Served:
    """One span of the timeline: `version` was champion from `since` until `until` (None: now)."""

    version: str | None  # None: the champion alias was removed
    since: datetime
    until: datetime | None
    entry: AuditEntry


def parse_time(text: str) -> datetime:
    """An ISO 8601 date or time ('2024-03-05', '2024-03-05T14:00', '...Z', '...+02:00'), as UTC."""
    cleaned = text.strip()
    if cleaned.endswith(("Z", "z")):
        cleaned = cleaned[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(cleaned)
    except ValueError as err:
        raise HistoryError(
            f"cannot read the time {text!r}: use ISO 8601, e.g. 2024-03-05T14:00:00Z (no zone means UTC)"
        ) from err
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def champion_timeline(entries: list[AuditEntry]) -> list[Served]:
    """Every champion move that happened, oldest first, each lasting until the next."""
    moves = [
        (parse_time(e.at), e, move)
        for e in entries
        if e.status == DONE and (move := e.move_of(CHAMPION)) is not None
    ]
    moves.sort(key=lambda item: item[0])
    spans: list[Served] = []
    for index, (since, entry, move) in enumerate(moves):
        until = moves[index + 1][0] if index + 1 < len(moves) else None
        spans.append(Served(move.to_version, since, until, entry))
    return spans


def champion_at(project: str, entries: list[AuditEntry], at: datetime) -> Served:
    """The span serving at `at`; HistoryError when the trail is empty or starts after `at`."""
    timeline = champion_timeline(entries)
    if not timeline:
        raise HistoryError(f"{project}: the audit trail has no champion move yet")
    if at < timeline[0].since:
        raise HistoryError(
            f"{project}: {at.isoformat()} is before the first champion "
            f"(version {timeline[0].version} since {timeline[0].since.isoformat()})"
        )
    return next(s for s in reversed(timeline) if s.since <= at)


def entry_line(entry: AuditEntry) -> str:
    """One line of the audit trail for a terminal: when, what, which aliases moved, who, why."""
    moves = ", ".join(f"{m.alias} {m.from_version or '-'} -> {m.to_version or '-'}" for m in entry.moves)
    versions = f" versions {', '.join(entry.versions)}" if entry.versions else ""
    status = "" if entry.status == DONE else f" [{entry.status}]"
    decision = f" decision {entry.decision_id}" if entry.decision_id else ""
    return (
        f"{entry.at}  {entry.action}{status}: {moves or 'no alias moved'}{versions}"
        f"  by {entry.actor}{decision}  ({entry.reason})"
    )


def entry_record(entry: AuditEntry) -> dict[str, object]:
    """An entry as plain JSON values (the --json output and the UI's table rows)."""
    return {
        "at": entry.at,
        "action": entry.action,
        "status": entry.status,
        "moves": [{"alias": m.alias, "from": m.from_version, "to": m.to_version} for m in entry.moves],
        "versions": list(entry.versions),
        "actor": entry.actor,
        "decision_id": entry.decision_id,
        "reason": entry.reason,
        "entry_id": entry.entry_id,
    }


def timeline_rows(entries: list[AuditEntry], limit: int = 20) -> list[dict[str, str | None]]:
    """The newest `limit` entries, newest first, as table rows (the deployment asset's timeline)."""
    rows = []
    for entry in reversed(entries[-limit:]):
        moves = "; ".join(f"{m.alias}: {m.from_version or '-'} → {m.to_version or '-'}" for m in entry.moves)
        rows.append(
            {
                "at (UTC)": entry.at,
                "action": entry.action if entry.status == DONE else f"{entry.action} ({entry.status})",
                "moves": moves or ("versions " + ", ".join(entry.versions) if entry.versions else None),
                "by": entry.actor,
                "decision": entry.decision_id,
                "reason": entry.reason,
            }
        )
    return rows
