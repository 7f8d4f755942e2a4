"""Exact two-sample drift statistics on numpy arrays: the kernels behind `lib.monitoring.drift`.

Numeric kernels take sorted, NaN-free float arrays (one sort per column serves every
statistic); categorical kernels take aligned per-category counts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PSI_BINS = 10
# Floor for an empty bin's share so PSI stays finite; Evidently uses the same 1e-4.
PSI_EPSILON = 1e-4
# Evidently normalises Wasserstein by the reference std, floored so a constant column cannot blow it up.
WASSERSTEIN_MIN_STD = 1e-3


def numeric_values(series: pd.Series) -> np.ndarray | None:
    """Float values with nulls (and +-inf) as NaN; None when the column holds non-numbers.

    float32 stays float32: every statistic here is exact on the stored values, and it halves
    the sort and merge memory on wide, long windows.
    """
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.to_numpy(dtype="float64", na_value=np.nan)
    if pd.api.types.is_numeric_dtype(series.dtype):
        dtype = "float32" if series.dtype == np.float32 else "float64"
        values = series.to_numpy(dtype=dtype, na_value=np.nan)
    elif series.dtype == object:
        converted = pd.to_numeric(series, errors="coerce")
        if int(converted.notna().sum()) < int(series.notna().sum()):
            return None
        values = converted.to_numpy(dtype="float64", na_value=np.nan)
    else:
        return None
    return values if np.isfinite(values).all() else np.where(np.isfinite(values), values, np.nan)


def proportions(counts: np.ndarray) -> np.ndarray:
    return counts / max(int(counts.sum()), 1)


def psi(ref_share: np.ndarray, cur_share: np.ndarray) -> float:
    ref = np.maximum(ref_share, PSI_EPSILON)
    cur = np.maximum(cur_share, PSI_EPSILON)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def psi_numeric(ref_sorted: np.ndarray, cur_sorted: np.ndarray, bins: int = PSI_BINS) -> float:
    """PSI over reference-quantile bins; tied quantiles (discrete columns) merge their bins."""
    # numpy's default 'linear' quantile, read straight off the sorted values.
    position = np.linspace(0, 1, bins + 1)[1:-1] * (len(ref_sorted) - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, len(ref_sorted) - 1)
    edges = np.unique(ref_sorted[low] + (ref_sorted[high] - ref_sorted[low]) * (position - low))
    # Bin i is [edge[i-1], edge[i]); counts come from cumulative positions, no per-row pass.
    ref_counts = np.diff(np.searchsorted(ref_sorted, edges, side="left"), prepend=0, append=len(ref_sorted))
    cur_counts = np.diff(np.searchsorted(cur_sorted, edges, side="left"), prepend=0, append=len(cur_sorted))
    top = ref_sorted[-1]
    if edges[-1] == top:
        # The top bin holds only the reference's maximum (a discrete column tied at its top: a
        # flag that was always 0). A value above it is one the reference never had and gets its
        # own bin, as a value below the minimum already does; merged, a flag turning from 0 to 1
        # scored PSI 0. A continuous column's top bin is open (the last decile), left as it is.
        above = len(cur_sorted) - int(np.searchsorted(cur_sorted, top, side="right"))
        ref_counts = np.append(ref_counts, 0)
        cur_counts = np.append(cur_counts[:-1], [cur_counts[-1] - above, above])
    return psi(proportions(ref_counts), proportions(cur_counts))


def merged_gap(ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of both samples, and n_ref * n_cur * (F_ref - F_cur) at each of them.

    Integer counts, not float CDFs: exact, and a third of the temporaries (this is the hot loop).
    """
    n, m = len(ref_sorted), len(cur_sorted)
    values = np.concatenate([ref_sorted, cur_sorted])
    # Two sorted runs: the stable sort (timsort) merges them in linear time.
    order = np.argsort(values, kind="stable")
    values = values[order]
    # count_ref * m - count_cur * n, with count_cur = k - count_ref after k merged values.
    gap = np.cumsum(order < n, dtype=np.int64)
    del order
    gap *= n + m
    gap -= np.arange(n, n * (n + m) + 1, n, dtype=np.int64)
    last = np.empty(len(values), dtype=bool)  # last of each run of ties: where both CDFs are final
    np.not_equal(values[1:], values[:-1], out=last[:-1])
    last[-1] = True
    if last.all():
        return values, gap
    return values[last], gap[last]


def ks_statistic(ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> float:
    """Two-sample KS statistic D = max |F_ref - F_cur| (the same value as scipy's ks_2samp)."""
    _, gap = merged_gap(ref_sorted, cur_sorted)
    return float(np.abs(gap).max()) / (len(ref_sorted) * len(cur_sorted))


def wasserstein_normed(ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> float:
    """W1 distance divided by the reference std (population), as Evidently's 'wasserstein'."""
    values, gap = merged_gap(ref_sorted, cur_sorted)
    # Between consecutive distinct values both CDFs are flat: W1 = sum |F_ref - F_cur| * width.
    area = float(np.dot(np.abs(gap[:-1]), np.diff(values))) / (len(ref_sorted) * len(cur_sorted))
    return area / max(float(np.std(ref_sorted)), WASSERSTEIN_MIN_STD)


def _value_counts(series: pd.Series) -> pd.Series:
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes, labels = series.cat.codes.to_numpy(), series.cat.categories
    else:
        codes, labels = pd.factorize(series)
    return pd.Series(np.bincount(codes[codes >= 0], minlength=len(labels)), index=pd.Index(labels))


def category_counts(ref: pd.Series, cur: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Counts per category over the union of both sides' non-null values, aligned by position."""
    ref_counts, cur_counts = _value_counts(ref), _value_counts(cur)
    union = ref_counts.index.append(cur_counts.index).unique()
    return (
        ref_counts.reindex(union, fill_value=0).to_numpy(),
        cur_counts.reindex(union, fill_value=0).to_numpy(),
    )


def jensenshannon_distance(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """JS distance with the natural log (max sqrt(ln 2)), as scipy's and Evidently's default."""
    p, q = proportions(ref_counts), proportions(cur_counts)
    m = (p + q) / 2

    def kl_to_m(x: np.ndarray) -> float:
        used = x > 0  # 0 * log 0 = 0; m > 0 wherever x > 0
        return float(np.sum(x[used] * np.log(x[used] / m[used])))

    return float(np.sqrt(max((kl_to_m(p) + kl_to_m(q)) / 2, 0.0)))


def chisquare_pvalue(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Chi-square test of homogeneity of the two samples' category counts (no Yates correction).

    Evidently's 'chisquare' is a goodness-of-fit test that treats the reference shares as
    exact; with a reference about as large as the current window that doubles the statistic's
    variance and flags identical distributions far more often than the threshold promises.
    """
    # scipy.special, not scipy.stats: the latter takes seconds to import on a busy machine.
    from scipy.special import chdtrc

    table = np.vstack([ref_counts, cur_counts]).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    dof = table.shape[1] - 1
    if dof < 1:
        return 1.0
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    stat = float(np.sum((table - expected) ** 2 / expected))
    return float(chdtrc(dof, stat))
