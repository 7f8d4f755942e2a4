"""The serving champion as a `ChampionRef`, read from its registry version, and the rollback.

Everything a `ChampionRef` says comes from the tags its registry version carries: the lineage
tags written at training (features version, training partitions, as-of) and the evidence the
gate wrote when it went live (the primary metric, its pooled out-of-sample level, on how many
rows, its bootstrap noise, and the pinned performance estimator). Versions promoted before
that evidence was tagged fall back to their promotion decision (metric, score, rows); a
version without those tags (registered by hand) gives None for each, never a guess. So a
rollback restores the older version with its own estimator and evaluated level.

A rollback is the other way the champion moves: champion <- previous-champion, under the same
lock and compare-and-set as a promotion.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mlops_pipelines import names
from mlops_pipelines.lib.promotion.champion import ChampionRef, ChampionSource

if TYPE_CHECKING:
    from pathlib import Path

    from mlops_pipelines.lib.registry.lookup import ModelVersionRef
    from mlops_pipelines.lib.registry.session import TrackingConfig


def _promotion_decision(ref: ModelVersionRef) -> dict[str, Any]:
    """The decision that made `ref` champion, as the registry tagged it ({} when it has none)."""
    text = ref.tags.get(names.ML_PROMOTION_DECISION)
    if text is None:
        return {}
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{ref.name} version {ref.version}: tag {names.ML_PROMOTION_DECISION} is not JSON: {err}"
        ) from err
    return document if isinstance(document, dict) else {}


def _train_range(span: str | None) -> tuple[str, str] | None:
    if span is None or ".." not in span:
        return None
    first, last = span.split("..", 1)
    return first, last


def champion_ref_of(
    project: str, ref: ModelVersionRef, source: ChampionSource, decided_at: str | None
) -> ChampionRef:
    """`ref` as the serving champion, named by a decision or rollback at `decided_at`."""
    tags = ref.tags
    features_version = tags.get(names.ML_FEATURES_VERSION)
    evidence: dict[str, Any] = {
        "metric": tags.get(names.ML_EVALUATED_METRIC),
        "score": tags.get(names.ML_EVALUATED_SCORE),
        "rows": tags.get(names.ML_EVALUATED_ROWS),
        "noise": tags.get(names.ML_EVALUATED_NOISE),
    }
    if evidence["metric"] is None:  # promoted before the gate tagged its evidence: what it won with
        decision = _promotion_decision(ref)
        evidence = {
            "metric": decision.get("metric"),
            "score": decision.get("challenger_score"),
            "rows": decision.get("n_rows"),
            "noise": None,
        }
    metric, score, rows, noise = (evidence[k] for k in ("metric", "score", "rows", "noise"))
    return ChampionRef(
        project=project,
        version=ref.version,
        run_id=ref.run_id,
        artifact_sha256=ref.artifact_sha256,
        features_version=None if features_version is None else int(features_version),
        train_range=_train_range(tags.get(names.ML_TRAIN_PARTITIONS)),
        as_of=tags.get(names.ML_AS_OF),
        metric=None if metric is None else str(metric),
        evaluated_score=None if score is None else float(score),
        evaluated_rows=None if rows is None else int(rows),
        evaluated_noise=None if noise is None else float(noise),
        estimator_uri=tags.get(names.ML_ESTIMATOR_URI),
        estimator_sha256=tags.get(names.ML_ESTIMATOR_SHA),
        source=source,
        decided_at=decided_at,
    )


def rollback_champion(
    project: str,
    tracking: TrackingConfig,
    lock_path: Path,
    *,
    to_version: str | None = None,
    actor: str | None = None,
    reason: str | None = None,
) -> tuple[str | None, ChampionRef]:
    """champion <- previous-champion, or <- `to_version` several steps back (compare-and-set on
    the champion read just before, under the promotion lock). Returns the champion rolled back
    from and the restored one.

    Raises RollbackError when there is nothing to restore (no previous champion, no registered
    model, a target that is unknown, retired, never served or broken), and PromotionConflict
    when the champion moved between the read and the rollback.
    """
    from mlops_pipelines.lib.registry.aliases import CHAMPION, get_alias, rollback
    from mlops_pipelines.lib.registry.lookup import utc_now

    current = get_alias(tracking, project, CHAMPION)
    before = None if current is None else current.version
    restored = rollback(
        tracking,
        project,
        lock_path,
        expected_champion=before,
        to_version=to_version,
        actor=actor,
        reason=reason,
    )
    return before, champion_ref_of(project, restored, "rollback", utc_now())
