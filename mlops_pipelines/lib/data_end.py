"""Where a project's data ends, known from the spec alone: the partitions a project shows stop there.

The code location builds every project's partitions when it loads, so the end must be known
without reading any data:
- a finished dataset (files that will not grow) sets `partitions.end` (exclusive) to the day after
  its last timestamp; the packaged examples do, and a test checks each against its real data;
- a simulator's data ends after `simulator.days` days from `simulator.start`: that is its end
  unless `partitions.end` stops earlier (a later one is a spec error: partitions with no data);
- a live source (files or a URL that keep growing) leaves `partitions.end` unset: its partitions
  run to today, and the daily schedule requests each one as it closes.
Pure: no dagster.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops_pipelines.spec import ProjectSpec, SimulatorSpec


@dataclass(frozen=True)
class DataEnd:
    """The exclusive end of a project's partitions and the setting it comes from."""

    end: date
    setting: str  # names what to change: "partitions.end" or "simulator.start + simulator.days"


def simulator_end(simulator: SimulatorSpec) -> date:
    """The day after the simulator's last simulated day."""
    return simulator.start + timedelta(days=simulator.days)


def data_end(spec: ProjectSpec) -> DataEnd | None:
    """The end of the project's data; None for a live source (its partitions run to today)."""
    simulator = spec.source.simulator if spec.source.kind == "simulator" else None
    if spec.partitions.end is not None:
        return DataEnd(spec.partitions.end, "partitions.end")
    if simulator is not None:
        return DataEnd(simulator_end(simulator), "simulator.start + simulator.days")
    return None


def end_after(last: datetime, grain: str, week_start: str = "monday") -> date:
    """The `partitions.end` whose last partition holds `last`: the start of the period after it."""
    from mlops_pipelines.lib.grains import anchored_start

    start = anchored_start(grain, last.date(), week_start)
    if grain in ("hourly", "daily"):
        return last.date() + timedelta(days=1)
    if grain == "weekly":
        return start + timedelta(weeks=1)
    month = start.month - 1 + {"monthly": 1, "quarterly": 3, "yearly": 12}[grain]
    return date(start.year + month // 12, month % 12 + 1, 1)


def end_hint(spec: ProjectSpec, last_time: str | None) -> str | None:
    """What `validate-spec --data` suggests when a file source sets no end, from the newest row's
    time (ISO); None when the spec sets one, is a simulator, or the data holds no row."""
    if spec.partitions.end is not None or spec.source.kind == "simulator" or last_time is None:
        return None
    end = end_after(
        datetime.fromisoformat(last_time), spec.partitions.grain.value, spec.partitions.week_start
    )
    return (
        f"partitions.end is not set: partitions run to today, as for a live source; if this data is "
        f"finished (its last row is at {last_time}), set partitions.end: {end}"
    )
