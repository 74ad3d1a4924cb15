"""Prometheus metrics: who may read /metrics, and labels a client cannot grow."""

import logging
import re
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from prometheus_client import generate_latest

from realtime import Hub, conf, metrics
from realtime.testing import HubCommunicator, HubError

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "scrape-token-0123456789abcdef-long-enough"


class MeteredHub(Hub):
    """Sends a client event whose name the caller chooses."""

    client_events = frozenset({"Known"})

    async def say(self, target: str) -> None:
        await self.clients.caller.send(target)


def value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def scrape_token(settings):
    settings.REALTIME = {"METRICS_TOKEN": TOKEN}
    return TOKEN


@pytest.mark.django_db
def test_metrics_need_a_staff_session_or_the_token(client, customer, staff, scrape_token):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN[:-1]}x").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 401
    client.force_login(customer)
    assert client.get("/metrics").status_code == 401
    client.force_login(staff)
    assert client.get("/metrics").status_code == 200
    client.logout()
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    text = response.content.decode()
    assert "# TYPE realtime_connections_open gauge" in text
    assert "# TYPE realtime_invocations_total counter" in text
    assert "# TYPE realtime_fanout_duration_seconds histogram" in text
    assert "_created" not in text


@pytest.mark.django_db
def test_no_token_configured_means_no_bearer_access(client, settings):
    settings.REALTIME = {"METRICS_TOKEN": ""}
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401


@pytest.mark.django_db
def test_the_token_is_never_logged(client, scrape_token, caplog):
    caplog.set_level(logging.DEBUG)
    client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}x")
    client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert TOKEN not in caplog.text


@pytest.mark.django_db
def test_metrics_off_records_nothing_and_the_endpoint_says_so(client, staff, settings):
    settings.REALTIME = {"METRICS": False}
    before = value("realtime_messages_dropped_total")
    metrics.increment("messages_dropped")
    assert value("realtime_messages_dropped_total") == before
    client.force_login(staff)
    assert client.get("/metrics").status_code == 404


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"METRICS_TOKEN": "short"}, "at least 24 characters"),
        ({"METRICS_TOKEN": 123456789012345678901234567}, "must be str"),
        ({"METRICS": "yes"}, "must be bool"),
        ({"STATS_INTERVAL": 0}, "must be positive"),
    ],
)
def test_bad_metrics_settings_name_the_key(options, problem):
    with pytest.raises(ImproperlyConfigured, match=problem) as raised:
        conf.load(options)
    assert "123456789012345678901234567" not in str(raised.value)


@pytest.mark.django_db(transaction=True)
async def test_client_chosen_names_are_counted_as_other():
    """Unknown methods and undeclared event names never become label values."""
    other_method = value(
        "realtime_invocations_total", hub="meteredhub", method="other", outcome="refused"
    )
    known = value("realtime_messages_sent_total", hub="meteredhub", target="Known")
    other = value("realtime_messages_sent_total", hub="meteredhub", target="other")
    client = HubCommunicator(MeteredHub)
    await client.connect()
    with pytest.raises(HubError):
        await client.invoke("NoSuchMethod-zq81")
    await client.invoke("Say", "Known")
    await client.invoke("Say", "Chosen-zq81")
    await client.disconnect()

    assert (
        value("realtime_invocations_total", hub="meteredhub", method="other", outcome="refused")
        == other_method + 1
    )
    assert value("realtime_messages_sent_total", hub="meteredhub", target="Known") == known + 1
    assert value("realtime_messages_sent_total", hub="meteredhub", target="other") == other + 1
    assert value("realtime_invocations_total", hub="meteredhub", method="Say", outcome="ok") >= 2
    labels = {
        label
        for family in metrics.REGISTRY.collect()
        for sample in family.samples
        for label in sample.labels.values()
    }
    assert not [label for label in labels if "zq81" in label]


@pytest.mark.django_db(transaction=True)
async def test_connections_are_counted_by_hub_transport_and_reason():
    opened = value("realtime_connections_open", hub="meteredhub", transport="WebSockets")
    closed = value("realtime_disconnects_total", hub="meteredhub", reason="client_closed")
    client = HubCommunicator(MeteredHub)
    await client.connect()
    assert value("realtime_connections_open", hub="meteredhub", transport="WebSockets") == (
        opened + 1
    )
    await client.disconnect()
    assert value("realtime_connections_open", hub="meteredhub", transport="WebSockets") == opened
    assert value("realtime_disconnects_total", hub="meteredhub", reason="client_closed") == (
        closed + 1
    )


@pytest.mark.django_db(transaction=True)
async def test_a_protocol_error_is_its_own_disconnect_reason():
    before = value("realtime_disconnects_total", hub="meteredhub", reason="protocol_error")
    client = HubCommunicator(MeteredHub)
    await client.connect()
    await client.send_raw('{"type": 3, "invocationId": "nope"}\x1e')
    await client.receive_close()
    await client.disconnect()
    assert value("realtime_disconnects_total", hub="meteredhub", reason="protocol_error") == (
        before + 1
    )


def test_the_alert_rules_name_only_exported_series():
    """deploy/prometheus-alerts.yml cannot drift from what the code exports."""
    text = generate_latest(metrics.REGISTRY).decode()
    exported = set(re.findall(r"^(\w+)[{ ]", text, re.M) + re.findall(r"^# TYPE (\w+)", text, re.M))
    rules = (ROOT / "deploy" / "prometheus-alerts.yml").read_text()
    named = set(re.findall(r"\b((?:realtime|notifier)_\w+)", rules))
    assert len(named) >= 8
    assert named <= exported, named - exported
