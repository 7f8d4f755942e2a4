"""Alerts the retraining sensor could not deliver wait in the instance, not in front of a retrain.

A webhook that is down raised out of the tick before it returned its run request, so an alert
outage blocked retraining for as long as it lasted. Now the sensor hands each alert to
`send_or_hold`: delivered at once when the sink answers; otherwise held, in order, in the
instance's key-value store (`mlops/alert_outbox/<project>`, SQLite or PostgreSQL, so every host
of a deployment sees the same outbox), with a warning in the tick's log that names the error.
Every later tick first retries what is held (`flush_held`), oldest first, stopping at the first
failure so a dead sink costs one timeout per tick. A delivered late alert says since when it
was held. Only delivery errors are held (network and HTTP errors, file errors); anything else
is a defect and raises.

The outbox is bounded (MAX_HELD): past it the oldest alerts are dropped, and the drop is logged
as an error with the count, never silent.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from mlops_pipelines.resources.alerts import AlertSink

log = logging.getLogger(__name__)

OUTBOX_KEY_PREFIX = "mlops/alert_outbox"
MAX_HELD = 500


def _delivery_errors() -> tuple[type[BaseException], ...]:
    # httpx is imported on delivery, not when Dagster loads the code location with the sensor.
    import httpx

    return (httpx.HTTPError, OSError)


@dataclass(frozen=True)
class Delivery:
    sent: int
    held: int  # alerts still waiting after this call
    error: str | None  # why the first undelivered one failed


def outbox_key(project: str) -> str:
    return f"{OUTBOX_KEY_PREFIX}/{project}"


def held_alerts(instance: dg.DagsterInstance, project: str) -> list[dict[str, Any]]:
    key = outbox_key(project)
    text = instance.run_storage.get_cursor_values({key}).get(key)
    return list(json.loads(text)) if text else []


def _store(instance: dg.DagsterInstance, project: str, held: list[dict[str, Any]]) -> None:
    if len(held) > MAX_HELD:
        log.error("%s: alert outbox full, dropped the %d oldest held alerts", project, len(held) - MAX_HELD)
        held = held[-MAX_HELD:]
    instance.run_storage.set_cursor_values({outbox_key(project): json.dumps(held, default=str)})


def _deliver(
    sink: AlertSink, instance: dg.DagsterInstance, project: str, queue: list[dict[str, Any]], stored: bool
) -> Delivery:
    for done, alert in enumerate(queue):
        details = dict(alert["details"])
        if alert.get("held"):
            details["held_since"] = alert["at"]
        try:
            sink.send(project, alert["severity"], alert["title"], details)
        except _delivery_errors() as err:
            rest = [{**a, "held": True} for a in queue[done:]]
            _store(instance, project, rest)
            return Delivery(done, len(rest), f"{type(err).__name__}: {err}")
    if stored:
        _store(instance, project, [])
    return Delivery(len(queue), 0, None)


def note_delivery(logger: logging.Logger | dg.DagsterLogManager, delivery: Delivery, late: bool) -> None:
    """One line in the tick's log when there is news: what was held and why, or (`late`: a flush
    of held alerts) how many went out late. An alert delivered on time says nothing more."""
    if delivery.error is not None:
        logger.warning(
            f"alert sink failed ({delivery.error}): {delivery.held} alert(s) held, retried next tick"
        )
    elif late and delivery.sent:
        logger.info(f"delivered {delivery.sent} held alert(s)")


def flush_held(sink: AlertSink, instance: dg.DagsterInstance, project: str) -> Delivery:
    """Deliver the alerts held for `project`, oldest first, until one fails."""
    queue = held_alerts(instance, project)
    if not queue:
        return Delivery(0, 0, None)
    return _deliver(sink, instance, project, queue, stored=True)


def send_or_hold(
    sink: AlertSink,
    instance: dg.DagsterInstance,
    project: str,
    severity: str,
    title: str,
    details: dict[str, Any],
) -> Delivery:
    """Deliver this alert after any held ones; hold it (and them) when the sink fails."""
    queue = held_alerts(instance, project)
    alert = {"at": datetime.now(UTC).isoformat(), "severity": severity, "title": title, "details": details}
    return _deliver(sink, instance, project, [*queue, alert], stored=bool(queue))
