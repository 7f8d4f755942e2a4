"""A seeded, SYNTHETIC drifting demand stream (the `demand_sim` project), offline and exact.

Each day is generated on its own from a numpy Generator seeded with (seed, day ordinal), then
clipped to the requested window: the same (seed, hour) always yields the same rows, whatever
window asked for them, so partitions can be (re)built independently and in any order.

What the stream contains, and why:
- daily seasonality (commute peaks on working days, a midday hump on weekends and holidays),
  a weekly pattern, a yearly temperature cycle (temp drifts through the season: slow,
  expected covariate shift), a growth trend, and multiplicative noise;
- `sim.scenario` picks how the concept moves (lib/ingestion/scenarios.py: sudden, gradual,
  recurring, or none, a group-ordered no-drift control); the default, "sudden", is:
- an abrupt concept change at midnight of `sim.concept_change`: the demand level jumps 1.6x,
  demand starts to fall with heat instead of rise with it, the hourly profile moves
  (late-morning and late-evening peaks), and bad weather stops mattering; mean demand about
  doubles overnight. A model trained before the change is clearly worse after it. The climate
  turns wetter at the same moment (humidity +0.18, so more mist and rain), while humidity and
  the weather mix barely move from day to day before it: their drift is the change's signature.
  Temperature and `dayofweek` differ between any one day and the weeks before it by design.
- each row is one station's reading: the hour's regional weather plus local variation, so a
  day's rows are not copies of one value. A 48-row day is still a small sample for PSI.
- labels are not delayed here: `demand` is in every row. The label delay is modeled
  downstream (`spec.monitoring.label_delay_partitions`).
- bad batches (`sim.bad_batch_every = N > 0`): days N, 2N, 3N, ... (1-based day number from
  `sim.start`) are corrupted with the faults in `BAD_BATCH_FAULTS`, in rotation: the k-th
  bad day (k = 1, 2, ...) gets entry (k - 1) mod 5. See `bad_batch_fault`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd

from mlops_pipelines.lib.ingestion.faults import FaultKind, inject_fault
from mlops_pipelines.lib.ingestion.scenarios import blend, day_regime
from mlops_pipelines.spec import SimulatorSpec

COLUMNS = (
    "timestamp",
    "hour",
    "dayofweek",
    "temp",
    "humidity",
    "windspeed",
    "weather",
    "holiday",
    "station",
    "demand",
)
BUSY = "busy"  # the binary target, only with `sim.busy_above`
WEATHERS = ("clear", "mist", "rain", "snow")
STATIONS = ("north", "center", "south")
BAD_BATCH_FAULTS: tuple[tuple[FaultKind, str], ...] = (
    ("out_of_range", "temp"),
    ("all_null", "humidity"),
    ("unseen_category", "weather"),
    ("duplicates", "station"),
    ("retyped", "windspeed"),
)
_STATION_SCALE = np.array([0.8, 1.3, 1.0])
_STATION_TEMP = np.array([-1.5, 0.8, 1.0])  # the city centre is a heat island
_WEATHER_EFFECT = {False: np.array([1.0, 0.85, 0.55, 0.4]), True: np.array([1.0, 1.0, 0.95, 0.9])}
# Weather spells last a few days: a day's temperature anomaly mixes the last 4 days' shocks.
_SPELL_WEIGHTS = np.array([0.6, 0.5, 0.4, 0.3]) / np.sqrt(0.86)
_BASE_DEMAND = 40.0
_LEVEL_JUMP = 1.6
_HUMIDITY_SHIFT = 0.18
_HOURS = np.arange(24)


def simulated_concept_change(sim: SimulatorSpec) -> datetime:
    """The instant the demand relation changes (midnight starting `sim.concept_change`)."""
    return datetime.combine(sim.concept_change, time())


def simulation_bounds(sim: SimulatorSpec) -> tuple[datetime, datetime]:
    """[first, end) of the simulated stream, naive."""
    first = datetime.combine(sim.start, time())
    return first, first + timedelta(days=sim.days)


def bad_batch_fault(sim: SimulatorSpec, day: date) -> tuple[FaultKind, str] | None:
    """The (fault kind, column) corrupting `day`, or None for a clean day."""
    number = (day - sim.start).days + 1
    if sim.bad_batch_every <= 0 or number < 1 or number % sim.bad_batch_every:
        return None
    return BAD_BATCH_FAULTS[(number // sim.bad_batch_every - 1) % len(BAD_BATCH_FAULTS)]


def holidays(year: int) -> set[date]:
    """Fixed-rule public holidays (US-style), so `holiday` needs no calendar data."""

    def nth_monday(month: int, n: int) -> date:
        first = date(year, month, 1)
        return first + timedelta(days=(7 - first.weekday()) % 7 + 7 * (n - 1))

    last_may = date(year, 5, 31) - timedelta(days=date(year, 5, 31).weekday())
    november_first = date(year, 11, 1)
    thanksgiving = november_first + timedelta(days=(3 - november_first.weekday()) % 7 + 21)
    fixed = {date(year, 1, 1), date(year, 7, 4), date(year, 12, 25)}
    return fixed | {nth_monday(1, 3), nth_monday(2, 3), last_may, nth_monday(9, 1), thanksgiving}


def _naive(moment: datetime) -> datetime:
    if moment.tzinfo is not None:
        return moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _bump(hours: np.ndarray, center: float, width: float, height: float) -> np.ndarray:
    return height * np.exp(-(((hours - center) / width) ** 2))


def _profile(hours: np.ndarray, working: bool, concept: float) -> np.ndarray:
    return blend(_concept_profile(hours, working, False), _concept_profile(hours, working, True), concept)


def _concept_profile(hours: np.ndarray, working: bool, changed: bool) -> np.ndarray:
    if not working:
        return 0.15 + _bump(hours, 14.0, 3.5, 1.1) + (_bump(hours, 21.0, 2.0, 0.6) if changed else 0.0)
    if changed:
        return 0.2 + _bump(hours, 10.5, 2.0, 1.15) + _bump(hours, 20.5, 1.8, 1.3)
    return 0.15 + _bump(hours, 8.0, 1.3, 1.2) + _bump(hours, 17.5, 1.6, 1.5) + _bump(hours, 12.5, 2.5, 0.5)


def _temp_effect(temp: np.ndarray, concept: float) -> np.ndarray:
    return blend(_concept_temp_effect(temp, False), _concept_temp_effect(temp, True), concept)


def _concept_temp_effect(temp: np.ndarray, changed: bool) -> np.ndarray:
    if changed:
        return 0.85 - 0.4 * np.clip((temp - 5.0) / 25.0, 0.0, 1.0)
    return 0.6 + 0.4 * np.clip((temp + 5.0) / 30.0, 0.0, 1.0)


def _seed(sim: SimulatorSpec, day: date, stream: int) -> list[int]:
    return [sim.seed & 0xFFFFFFFF, day.toordinal(), stream]


def _temp_anomaly(sim: SimulatorSpec, day: date) -> float:
    # Each day's shock comes from its own seed, so the mix stays window-independent.
    shocks = [np.random.default_rng(_seed(sim, day - timedelta(days=k), 2)).normal() for k in range(4)]
    return 2.5 * float(_SPELL_WEIGHTS @ np.array(shocks))


def _day_frame(sim: SimulatorSpec, day: date) -> pd.DataFrame:
    rng = np.random.default_rng(_seed(sim, day, 0))
    regime = day_regime(sim, day, len(STATIONS))
    concept = regime.concept
    working = day.weekday() < 5 and day not in holidays(day.year)
    # The hour's regional weather; rows below add each station's local variation.
    temp = 11.0 + regime.season_temp + _temp_anomaly(sim, day) + 6.0 * np.sin(2 * np.pi * (_HOURS - 9) / 24)
    temp = temp + rng.normal(0.0, 0.8, 24)
    humidity = 0.6 - 0.005 * (temp - 10.0) + 0.1 * np.cos(2 * np.pi * (_HOURS - 4) / 24)
    # Humidity varies little from day to day, so the regime change stands out against it.
    humidity = humidity + rng.normal(0.0, 0.02) + rng.normal(0.0, 0.03, 24)
    humidity = humidity + blend(0.0, _HUMIDITY_SHIFT, concept)

    rows = sim.rows_per_hour
    n = 24 * rows
    hour = np.repeat(_HOURS, rows)
    slot = np.tile(np.arange(rows), 24)
    seconds = hour * 3600 + np.floor((slot + rng.random(n)) * 3600 / rows).astype(np.int64)
    timestamps = np.datetime64(day.isoformat(), "ns") + seconds.astype("timedelta64[s]")
    if regime.station_shares is None:
        station = rng.integers(0, len(STATIONS), n)
    else:
        station = rng.choice(len(STATIONS), size=n, p=regime.station_shares)
    row_temp = np.clip(temp[hour] + _STATION_TEMP[station] + rng.normal(0.0, 0.7, n), -30.0, 50.0)
    row_humidity = np.clip(humidity[hour] + rng.normal(0.0, 0.03, n), 0.02, 1.0)
    # Weather as observed at the station: rows of one hour mostly, not always, agree.
    wetness = row_humidity + rng.normal(0.0, 0.08, n)
    weather = np.where(wetness < 0.65, 0, np.where(wetness < 0.8, 1, np.where(row_temp < 1.0, 3, 2)))
    windspeed = np.clip(rng.gamma(2.0, 0.07, n) + abs(rng.normal(0.0, 0.03)), 0.0, 1.0)

    jump = blend(1.0, _LEVEL_JUMP, concept)
    level = _BASE_DEMAND * regime.growth * jump * (1.08 if day.weekday() == 4 else 1.0)
    effect = _profile(hour.astype(float), working, concept) * _temp_effect(row_temp, concept)
    weather_effect = blend(_WEATHER_EFFECT[False], _WEATHER_EFFECT[True], concept)
    effect = effect * weather_effect[weather] * _STATION_SCALE[station]
    mean = level * effect * rng.gamma(25.0, 1 / 25.0, n)
    frame = pd.DataFrame(
        {
            "timestamp": timestamps.astype("datetime64[ns]"),
            "hour": hour.astype(np.int64),
            "dayofweek": np.full(n, day.weekday(), dtype=np.int64),
            "temp": np.round(row_temp, 1),
            "humidity": np.round(row_humidity, 3),
            "windspeed": np.round(windspeed, 3),
            "weather": np.array(WEATHERS, dtype=object)[weather],
            "holiday": np.full(n, int(day in holidays(day.year)), dtype=np.int64),
            "station": np.array(STATIONS, dtype=object)[station],
            "demand": rng.poisson(mean).astype(np.int64),
        }
    )
    if sim.busy_above is not None:
        frame[BUSY] = np.where(frame["demand"].to_numpy() > sim.busy_above, "yes", "no").astype(object)
    fault = bad_batch_fault(sim, day)
    if fault is not None:
        # Its own stream, so a bad day's clean values equal what a clean run would produce.
        fault_rng = np.random.default_rng(_seed(sim, day, 1))
        frame = inject_fault(frame, fault[0], fault[1], rng=fault_rng)
    return frame


_DTYPES = {"timestamp": "datetime64[ns]", "weather": "object", "station": "object", BUSY: "object"}
_DTYPES |= {name: "int64" for name in ("hour", "dayofweek", "holiday", "demand")}
_DTYPES |= {name: "float64" for name in ("temp", "humidity", "windspeed")}


def _empty(sim: SimulatorSpec) -> pd.DataFrame:
    names = COLUMNS if sim.busy_above is None else (*COLUMNS, BUSY)
    return pd.DataFrame({name: pd.Series(dtype=_DTYPES[name]) for name in names})


def simulate(sim: SimulatorSpec, start: datetime, end: datetime) -> pd.DataFrame:
    """Rows with start <= timestamp < end, clipped to [sim.start, sim.start + sim.days).

    `sim.rows_per_hour` rows per hour (more on a 'duplicates' bad day); timestamps are naive
    (tz-aware bounds are converted to UTC). Columns and dtypes follow `COLUMNS` (then `BUSY`
    with `sim.busy_above`).
    """
    first, last = simulation_bounds(sim)
    lo, hi = max(_naive(start), first), min(_naive(end), last)
    if lo >= hi:
        return _empty(sim)
    last_day = (hi - timedelta(microseconds=1)).date()
    days = [lo.date() + timedelta(days=i) for i in range((last_day - lo.date()).days + 1)]
    frame = pd.concat([_day_frame(sim, day) for day in days], ignore_index=True)
    inside = (frame["timestamp"] >= pd.Timestamp(lo)) & (frame["timestamp"] < pd.Timestamp(hi))
    return frame.loc[inside].reset_index(drop=True)
