"""The drift scenarios of the demand simulator: what regime each simulated day is in.

`simulate` draws a day's rows from a `DayRegime`; this module decides that regime from the
spec alone (seed-free, so a day's regime never depends on the window that asked for it). Two
concepts exist (see simulate.py): the OLD one (commute peaks, demand rises with warmth, bad
weather deters) and the NEW one (late-morning and late-evening peaks, heat deters, weather
barely matters, 1.6x the level, a wetter climate). `concept` is the NEW concept's weight.

- "sudden" (the original stream, byte for byte): the old concept, then the new one from
  midnight of `concept_change`; a calendar-year temperature cycle and a growth trend.
- "gradual": as sudden, but the weight climbs linearly from 0 at `concept_change` to 1 at
  `concept_change + ramp_days`: the hourly profile, the temperature and weather responses,
  the level and the humidity all morph, so every day is slightly unlike the last one.
- "recurring": a winter regime (the old concept: commuters, warmth attracts) and a summer
  regime (the new one: leisure riders, heat deters, 1.6x the level) alternate every
  `season_days`, starting with winter. Each season has its own steady climate (5 C on average
  in winter, 17 C in summer, the summer wetter) and there is no growth trend, so the drift sits
  at the switches alone and a regime's weather comes back with it: a model trained on one
  winter is bad in every summer and good again the next winter. (The real calendar still
  drives weekdays and holidays.)
- "none": the no-drift control. The old concept, a stationary climate (no yearly cycle) and
  no growth, so the relationship between features and demand never changes. But the rows
  arrive ordered by station: days come in blocks of `group_block_days`, each block dominated
  by one station (`group_share` of its rows, the rest split evenly), cycling north, center,
  south. Station, temperature (heat island) and demand mixes move from block to block; a
  model given the station as a feature does not lose accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import overload

import numpy as np

from mlops_pipelines.spec import SimulatorSpec

_GROWTH_PER_DAY = 0.0025
_SEASON_SWING = 13.0  # degrees C between the mean and the coldest (or warmest) day
_SEASON_STEP = 6.0  # recurring: degrees C a summer is above, a winter below, the mean
_YEAR_DAYS = 365.25


@dataclass(frozen=True)
class DayRegime:
    """What drives one simulated day's rows, besides that day's own random draws."""

    concept: float  # weight of the NEW concept: 0 = old, 1 = new, in between a blend
    season_temp: float  # the season's temperature offset from the 11 C mean
    growth: float  # demand multiplier from the trend (1.0 = none)
    station_shares: tuple[float, ...] | None  # None: every station equally likely


def concept_weight(sim: SimulatorSpec, day: date) -> float:
    """The NEW concept's weight on `day` (0.0 or 1.0 except on a gradual ramp)."""
    if sim.scenario == "sudden":
        return 1.0 if day >= sim.concept_change else 0.0
    if sim.scenario == "gradual":
        return float(np.clip((day - sim.concept_change).days / sim.ramp_days, 0.0, 1.0))
    if sim.scenario == "recurring":
        return float(((day - sim.start).days // sim.season_days) % 2)
    return 0.0


def concept_switches(sim: SimulatorSpec) -> tuple[date, ...]:
    """The days the concept starts to move inside the simulation (empty for the control)."""
    end = sim.start + timedelta(days=sim.days)
    if sim.scenario in ("sudden", "gradual"):
        return (sim.concept_change,) if sim.start < sim.concept_change < end else ()
    if sim.scenario == "recurring":
        count = (sim.days - 1) // sim.season_days
        return tuple(sim.start + timedelta(days=sim.season_days * k) for k in range(1, count + 1))
    return ()


def _season_temp(sim: SimulatorSpec, day: date) -> float:
    if sim.scenario == "none":
        return 0.0
    if sim.scenario == "recurring":
        # A season's climate is steady and comes back with it: drift happens at the switches only.
        return _SEASON_STEP if concept_weight(sim, day) == 1.0 else -_SEASON_STEP
    # Spelled as the original stream computes it, so "sudden" stays bit-identical.
    angle = 2 * np.pi * (day.timetuple().tm_yday - 20) / _YEAR_DAYS
    return float(-(_SEASON_SWING * np.cos(angle)))


def _station_shares(sim: SimulatorSpec, day: date, stations: int) -> tuple[float, ...] | None:
    if sim.scenario != "none":
        return None
    dominant = ((day - sim.start).days // sim.group_block_days) % stations
    rest = (1.0 - sim.group_share) / (stations - 1)
    return tuple(sim.group_share if k == dominant else rest for k in range(stations))


def day_regime(sim: SimulatorSpec, day: date, stations: int) -> DayRegime:
    """The regime of `day` under `sim.scenario`, for a simulator with `stations` stations."""
    trend = sim.scenario in ("sudden", "gradual")
    return DayRegime(
        concept=concept_weight(sim, day),
        season_temp=_season_temp(sim, day),
        growth=1.0 + _GROWTH_PER_DAY * (day - sim.start).days if trend else 1.0,
        station_shares=_station_shares(sim, day, stations),
    )


@overload
def blend(old: float, new: float, weight: float) -> float: ...
@overload
def blend(old: np.ndarray, new: np.ndarray, weight: float) -> np.ndarray: ...
def blend(old: np.ndarray | float, new: np.ndarray | float, weight: float) -> np.ndarray | float:
    """(1 - weight) * old + weight * new, returning `old` or `new` themselves at 0 and 1, so the
    two pure concepts are computed exactly as the original stream computed them."""
    if weight == 0.0:
        return old
    if weight == 1.0:
        return new
    mixed = (1.0 - weight) * np.asarray(old) + weight * np.asarray(new)
    return mixed if isinstance(old, np.ndarray) else float(mixed)
