"""Alerts held while a real webhook (a loopback HTTP server) is down, delivered in order once it is
back; the retraining sensor requests its retrain during the outage all the same."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from mlops_pipelines.alert_outbox import MAX_HELD, flush_held, held_alerts, send_or_hold
from mlops_pipelines.resources.alerts import AlertSink, WebhookAlertSink
from mlops_pipelines.sensors import build_retrain_sensor
from mlops_pipelines.spec import ProjectSpec
from mlops_pipelines_tests.test_sensors import DAYS, observe, record_run


@dataclass
class Hook:
    url: str
    status: list[int] = field(default_factory=lambda: [503])  # what the next POST gets
    received: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def hook() -> Iterator[Hook]:
    state = Hook("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            code = state.status[0]
            if code == 200:
                state.received.append(body)
            self.send_response(code)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test(temp_dir=str(tmp_path)) as inst:
        yield inst


def test_alerts_are_held_while_the_webhook_fails_and_delivered_in_order_after(
    hook: Hook, instance: dg.DagsterInstance
) -> None:
    sink = WebhookAlertSink(url=hook.url, timeout_seconds=2)
    first = send_or_hold(sink, instance, "p", "warning", "one", {"n": 1})
    second = send_or_hold(sink, instance, "p", "warning", "two", {"n": 2})
    assert (first.sent, first.held) == (0, 1) and "503" in (first.error or "")
    assert (second.sent, second.held) == (0, 2)
    assert [a["title"] for a in held_alerts(instance, "p")] == ["one", "two"]
    assert held_alerts(instance, "other") == []  # per project
    hook.status[0] = 200
    done = flush_held(sink, instance, "p")
    assert (done.sent, done.held, done.error) == (2, 0, None)
    assert [b["text"] for b in hook.received] == ["[warning] p: one", "[warning] p: two"]
    assert all("held_since" in b["details"] for b in hook.received)  # a late alert says so
    assert held_alerts(instance, "p") == []
    assert flush_held(sink, instance, "p").sent == 0


def test_an_unreachable_webhook_is_held_too_but_a_defect_in_the_sink_raises(
    instance: dg.DagsterInstance,
) -> None:
    nobody = WebhookAlertSink(url="http://127.0.0.1:9/hook", timeout_seconds=1)  # discard port: refused
    assert send_or_hold(nobody, instance, "p", "warning", "t", {}).held == 1

    class Broken(AlertSink):
        def send(self, project: str, severity: str, title: str, details: dict[str, Any]) -> None:
            raise KeyError("a bug, not an outage")

    with pytest.raises(KeyError):
        send_or_hold(Broken(), instance, "q", "warning", "t", {})


def test_the_outbox_is_bounded_and_drops_the_oldest(
    instance: dg.DagsterInstance, caplog: pytest.LogCaptureFixture
) -> None:
    nobody = WebhookAlertSink(url="http://127.0.0.1:9/hook", timeout_seconds=1)
    filler = [
        {"at": "2026-01-01", "severity": "info", "title": f"t{i}", "details": {}} for i in range(MAX_HELD)
    ]
    instance.run_storage.set_cursor_values({"mlops/alert_outbox/p": json.dumps(filler)})
    send_or_hold(nobody, instance, "p", "warning", "newest", {})
    held = held_alerts(instance, "p")
    assert len(held) == MAX_HELD and held[0]["title"] == "t1" and held[-1]["title"] == "newest"
    assert "dropped the 1 oldest" in caplog.text


def test_the_sensor_requests_its_retrain_while_the_webhook_is_down_and_sends_the_alert_later(
    hook: Hook, instance: dg.DagsterInstance, specs: dict[str, ProjectSpec]
) -> None:
    spec = specs["bike_sharing"]
    sensor = build_retrain_sensor(spec)
    sink = WebhookAlertSink(url=hook.url, timeout_seconds=2)
    for day in DAYS[:3]:
        observe(instance, spec, day, "error")
    context = dg.build_sensor_context(instance=instance, resources={"alerts": sink})
    during = sensor.evaluate_tick(context)
    assert len(during.run_requests or []) == 1  # the outage did not block the retrain
    assert [a["title"].startswith("retraining:") for a in held_alerts(instance, spec.name)] == [True]
    [request] = during.run_requests or []
    record_run(instance, spec, request, dg.DagsterRunStatus.STARTED)  # what the daemon does next
    hook.status[0] = 200
    again = dg.build_sensor_context(instance=instance, cursor=during.cursor, resources={"alerts": sink})
    assert not sensor.evaluate_tick(again).run_requests  # delivers what was held, first thing
    [late] = hook.received
    assert late["title"].startswith("retraining:") and late["details"]["run_key"] == request.run_key
    assert "held_since" in late["details"]
    assert held_alerts(instance, spec.name) == []


def test_only_news_reaches_the_tick_log(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from mlops_pipelines.alert_outbox import Delivery, note_delivery

    logger = logging.getLogger("tick")
    with caplog.at_level(logging.INFO, logger="tick"):
        note_delivery(logger, Delivery(1, 0, None), late=False)  # on time: nothing to say
        assert caplog.records == []
        note_delivery(logger, Delivery(2, 0, None), late=True)
        note_delivery(logger, Delivery(0, 3, "ConnectError: refused"), late=False)
    assert [r.getMessage() for r in caplog.records] == [
        "delivered 2 held alert(s)",
        "alert sink failed (ConnectError: refused): 3 alert(s) held, retried next tick",
    ]
