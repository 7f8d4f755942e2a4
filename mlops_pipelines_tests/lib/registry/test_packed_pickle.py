"""Compressed model pickles: smaller in the store, loaded unchanged by MLflow in a process that
never imports this project, and never a silent wrong model from a damaged file."""

from __future__ import annotations

import json
import lzma
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_pipelines.lib.registry.aliases import load_model
from mlops_pipelines.lib.registry.model_logging import (
    PICKLE_RAW_BYTES_TAG,
    PICKLE_STORED_BYTES_TAG,
    pickle_warning_dropped,
)
from mlops_pipelines.lib.registry.packed_pickle import MIN_PACK_BYTES, pack_pickle_file
from mlops_pipelines.lib.registry.session import open_client
from mlops_pipelines.lib.registry.tracking import TrackingConfig
from mlops_pipelines_tests.lib.registry.registry_support import register_regressor

FEATURES = ["a", "b"]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = pd.DataFrame({"a": rng.normal(size=600), "b": rng.uniform(0, 5, 600)})
    rows["y"] = 2 * rows["a"] + np.sin(rows["b"]) + rng.normal(scale=0.3, size=600)
    return rows


def _forest(frame: pd.DataFrame) -> Any:
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), RandomForestRegressor(n_estimators=40, random_state=0))
    return model.fit(frame[FEATURES], frame["y"])


def _saved(tmp_path: Path, model: object) -> Path:
    import mlflow.sklearn

    target = tmp_path / "model"
    with pickle_warning_dropped():
        mlflow.sklearn.save_model(model, str(target), serialization_format="cloudpickle")
    return target


def test_a_packed_forest_is_smaller_and_mlflow_alone_loads_it_to_the_same_predictions(
    tmp_path: Path, frame: pd.DataFrame
) -> None:
    model = _forest(frame)
    saved = _saved(tmp_path, model)
    result = pack_pickle_file(saved / "model.pkl")
    assert result.raw_bytes > 3 * result.stored_bytes, result
    assert (saved / "model.pkl").stat().st_size == result.stored_bytes
    assert not list(saved.glob("*.packing"))
    (tmp_path / "rows.json").write_text(frame[FEATURES].head(50).to_json(orient="split"))
    # A fresh interpreter with only MLflow: both of its loaders, and proof ours was never imported.
    script = f"""
import json, sys, pandas as pd, mlflow.sklearn, mlflow.pyfunc
rows = pd.read_json({str(tmp_path / "rows.json")!r}, orient="split")
raw = mlflow.sklearn.load_model({str(saved)!r}).predict(rows)
served = mlflow.pyfunc.load_model({str(saved)!r}).predict(rows)
print(json.dumps({{"raw": list(map(float, raw)), "served": list(map(float, served)),
    "ours": [m for m in sys.modules if m.startswith("mlops_pipelines")]}}))
"""
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONPATH": ""}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["ours"] == []
    expected = model.predict(frame[FEATURES].head(50))
    assert loaded["raw"] == pytest.approx(list(expected), abs=0)
    assert loaded["served"] == pytest.approx(list(expected), abs=0)


def test_small_and_incompressible_pickles_stay_as_they_are(tmp_path: Path) -> None:
    small = tmp_path / "small.pkl"
    small.write_bytes(pickle.dumps(list(range(100))))
    before = small.read_bytes()
    assert len(before) < MIN_PACK_BYTES
    assert pack_pickle_file(small).stored_bytes == len(before)
    assert small.read_bytes() == before
    noise = tmp_path / "noise.pkl"
    noise.write_bytes(pickle.dumps(os.urandom(4 * MIN_PACK_BYTES)))
    before = noise.read_bytes()
    result = pack_pickle_file(noise)
    assert (result.raw_bytes, result.stored_bytes) == (len(before), len(before))
    assert noise.read_bytes() == before


def test_a_damaged_packed_file_fails_to_load_instead_of_giving_a_model(
    tmp_path: Path, frame: pd.DataFrame
) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(_forest(frame)))
    pack_pickle_file(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside the compressed payload
    path.write_bytes(bytes(data))
    with pytest.raises(lzma.LZMAError):
        pickle.loads(path.read_bytes())


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrackingConfig]:
    patch = pytest.MonkeyPatch()
    patch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    yield TrackingConfig.embedded(tmp_path_factory.mktemp("state"))
    patch.undo()


def test_a_logged_model_is_stored_packed_with_both_sizes_and_loads_verified(
    cfg: TrackingConfig, frame: pd.DataFrame
) -> None:
    model = _forest(frame)
    logged, ref = register_regressor(cfg, "packed", model, frame[FEATURES])
    with open_client(cfg) as client:
        tags = client.get_logged_model(logged.model_id).tags
    raw, stored = int(tags[PICKLE_RAW_BYTES_TAG]), int(tags[PICKLE_STORED_BYTES_TAG])
    assert raw > 3 * stored, tags
    pipeline = load_model(cfg, "packed", ref.version).model.get_raw_model()
    assert list(pipeline.predict(frame[FEATURES])) == list(model.predict(frame[FEATURES]))
