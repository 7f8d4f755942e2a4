"""A seeded hourly rain stream with a dry spell after its first model: every training window
that falls inside the spell holds one class. Shared by the backtest's and the demo's tests of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

DAYS = 60
DRY = range(22, 34)  # 2024-01-23..2024-02-03: longer than the 6 + 2 partitions a window spans


def write_rain_stream(folder: Path, dry: range = DRY, *, kinds: bool = False) -> Path:
    """Rain when it is warm, never on the days in `dry`; returns the spec file's path. With
    `kinds` the label is multiclass, none / light / heavy, and only heavy rain stops in `dry`."""
    rng = np.random.default_rng(7)
    hours = pd.date_range("2024-01-01", periods=DAYS * 24, freq="h")
    day = np.arange(len(hours)) // 24
    temp = rng.uniform(0, 20, len(hours))
    wet = temp + rng.normal(0, 2, len(hours))
    spell = np.isin(day, list(dry))
    rain = np.where((wet > 10) & ~spell, "yes", "no")
    if kinds:
        rain = np.where(wet > 14, "heavy", np.where(wet > 8, "light", "none"))
        rain = np.where(spell & (rain == "heavy"), "light", rain)
    frame = pd.DataFrame({"when": hours.strftime("%Y-%m-%d %H:%M"), "temp": temp, "hour": hours.hour})
    frame.assign(rain=rain).to_csv(folder / "rain.csv", index=False)
    categories = ["none", "light", "heavy"] if kinds else ["no", "yes"]
    return write_rain_spec(folder, categories, "2024-02-29")


def write_rain_spec(folder: Path, categories: list[str], end: str) -> Path:
    """The spec of `folder`/rain.csv (hourly `when`, `temp`, `hour`, label `rain` in
    `categories`: binary for two), daily partitions to `end`; returns its path."""
    spec = {
        "name": "rainfall",
        "task": "binary" if len(categories) == 2 else "multiclass",
        "data_dir": str(folder),
        "source": {"kind": "csv", "files": [{"path": "rain.csv"}]},
        "schema": {
            "when": {"dtype": "datetime"},
            "temp": {"dtype": "float"},
            "hour": {"dtype": "int", "min": 0, "max": 23},
            "rain": {"dtype": "str", "categories": categories},
        },
        "target": "rain",
        "time": {"column": "when"},
        "partitions": {"start": "2024-01-01", "end": end},
        "training": {
            "family": "linear",
            "search_space": {"model__C": [1.0]},
            "window_partitions": 6,
            "holdout_partitions": 2,
            "primary_metric": "roc_auc",
        },
    }
    path = folder / "rainfall.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path
