"""Alert sinks: a JSON-lines file by default, a webhook (e.g. Slack) by configuration."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

log = logging.getLogger(__name__)


class AlertSink(dg.ConfigurableResource):
    """Interface: deliver one alert. Delivery failures raise: an alert is never silently lost."""

    def send(self, project: str, severity: str, title: str, details: dict[str, Any]) -> None:
        raise NotImplementedError


def _alert(project: str, severity: str, title: str, details: dict[str, Any]) -> dict[str, Any]:
    return {
        "at": datetime.now(UTC).isoformat(),
        "project": project,
        "severity": severity,
        "title": title,
        "details": details,
    }


class FileAlertSink(AlertSink):
    path: str = ""  # empty: alerts.jsonl in the state directory, resolved when sending

    def send(self, project: str, severity: str, title: str, details: dict[str, Any]) -> None:
        from mlops_pipelines.settings import load_settings

        target = Path(self.path or load_settings().alerts_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(_alert(project, severity, title, details), default=str)
        with target.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
        log.warning("[%s] %s: %s", severity, project, title)


class WebhookAlertSink(AlertSink):
    """POSTs the alert as JSON (Slack incoming webhooks accept the `text` field)."""

    url: str
    timeout_seconds: float = 5.0

    def send(self, project: str, severity: str, title: str, details: dict[str, Any]) -> None:
        import httpx

        body = _alert(project, severity, title, details)
        body["text"] = f"[{severity}] {project}: {title}"
        response = httpx.post(self.url, json=body, timeout=self.timeout_seconds)
        response.raise_for_status()
