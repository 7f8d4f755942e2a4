"""Pure helpers of the monitoring stage: windows, references and KPI breaches."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from mlops_pipelines.lib.evaluation.holdout import KpiResult
    from mlops_pipelines.lib.promotion.champion import ChampionRef
    from mlops_pipelines.spec import ProjectSpec

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Reference:
    """The rows monitoring compares against: a bounded window of the champion's training data."""

    partitions: tuple[str, ...]
    features_version: int
    origin: str  # "champion v3 training window" or "first partitions (no champion yet)"


def current_window(all_keys: Sequence[str], partition: str, size: int) -> list[str]:
    """The `size` partitions ending at `partition` (fewer at the start of the data).

    A partition without feature rows (every row quarantined as unlabelled) is judged on the
    `size` partitions before it that have rows, and on none (no verdict: too few rows) when
    no earlier one has any; `all_keys` are the table's keys, in order."""
    return [k for k in all_keys if k <= partition][-size:]


def evidence_window(
    window: Sequence[K], earlier: Sequence[K], class_counts: Mapping[K, Mapping[str, int]], need: int
) -> list[K]:
    """A classifier's labelled window, reaching back over `earlier` partitions (oldest first:
    the same model scored them, none older than a training window) until its rarest class holds
    `need` rows, or none is left.

    Rows are not the evidence of a classifier's metric, its rarer class is: 210 rows with 6
    positives give ROC-AUC a standard error near 0.04, so the noise bar sat near 10 % and a
    fraud-shaped stream's slow decline (its first model from 0.985 to 0.95) never passed it; that
    model served 22 months. Partitions of both classes in plenty keep the window as it is."""
    out = list(window)
    counts: Counter[str] = Counter()
    for key in out:
        counts.update(class_counts.get(key, {}))
    for key in reversed(earlier):
        if len(counts) >= 2 and min(counts.values()) >= need:
            break
        out.insert(0, key)
        counts.update(class_counts.get(key, {}))
    return out


def reference_window(
    all_keys: Sequence[str], spec: ProjectSpec, champion: ChampionRef | None, current_version: int
) -> Reference:
    """The champion's training window (its newest `drift.reference_partitions` when set), else
    the first partitions.

    The champion's training range and features version come with the `ChampionRef` the lineage
    hands on, so no registry is asked. Bounded by the training window: monitoring one partition
    costs the same at partition 700 as at 10. A champion that does not say what it trained on
    (no range or no features version, e.g. registered by hand) falls back to the first
    partitions.
    """
    cap = spec.drift.reference_partitions
    if (
        champion is not None
        and champion.version is not None
        and champion.train_range is not None
        and champion.features_version is not None
    ):
        first, last = champion.train_range
        trained_on = [k for k in all_keys if first <= k <= last]
        if trained_on:
            return Reference(
                tuple(trained_on[-cap:] if cap else trained_on),
                champion.features_version,
                f"champion v{champion.version} training window",
            )
    first_window = list(all_keys)[: spec.drift_reference_partitions]
    return Reference(tuple(first_window), current_version, "first partitions (no champion yet)")


def kpi_breaches(kpis: Sequence[KpiResult]) -> list[str]:
    """Human-readable breaches; a KPI that cannot be computed on the window is not a breach."""
    breaches = []
    for kpi in kpis:
        if kpi.value is None or kpi.passed:
            continue
        bound = f">= {kpi.floor}" if kpi.floor is not None else f"<= {kpi.ceiling}"
        breaches.append(f"{kpi.metric} {kpi.value:.4g} breaks {bound}")
    return breaches
