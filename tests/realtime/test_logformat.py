"""Log lines: stable fields in JSON, one bounded line per record in both formats."""

import io
import json
import logging
import subprocess
import sys

import pytest

from realtime import logformat
from realtime.testing import HubCommunicator, HubError
from tests.realtime.hubs import EchoHub

ROOT = logformat.__file__.rsplit("/realtime/", 1)[0]
FORGED = "Echo\n2026-01-01 00:00:00,000 CRITICAL realtime: forged\x1b[31m" + "A" * 5000


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    entry = logging.LogRecord("realtime.dispatch", logging.INFO, __file__, 1, message, args, None)
    entry.__dict__.update(extra)
    return entry


@pytest.mark.parametrize("formatter", [logformat.TextFormatter(), logformat.JsonFormatter()])
def test_client_text_is_cut_and_escaped_to_one_line(formatter):
    line = formatter.format(record("refused %s: %s", FORGED, "unknown method"))
    assert "\n" not in line
    assert "\x1b" not in line
    assert len(line) < logformat.ARGUMENT_LIMIT + 600
    assert f"…[+{len(FORGED) - logformat.ARGUMENT_LIMIT} chars]" in line


def test_json_lines_carry_the_stable_fields():
    logformat.bind("conn-1", "7", "orders")
    entry = json.loads(
        logformat.JsonFormatter().format(
            record("refused %s", "x", event="refused", reason="origin not allowed")
        )
    )
    assert set(entry) == {
        "time", "level", "logger", "instance", "message",
        "connection_id", "user_id", "hub", "event", "reason",
    }  # fmt: skip
    assert entry["connection_id"] == "conn-1"
    assert entry["user_id"] == "7"
    assert entry["hub"] == "orders"
    assert entry["event"] == "refused"
    assert entry["reason"] == "origin not allowed"
    assert entry["logger"] == "realtime.dispatch"
    assert entry["level"] == "INFO"


def test_the_text_format_names_the_connection():
    logformat.bind("conn-2", "8", "notifications")
    line = logformat.TextFormatter().format(record("closing %s", "conn-2", event="closed"))
    assert line.endswith("[connection=conn-2 user=8 hub=notifications event=closed]")


@pytest.fixture
def json_lines():
    """Lines the realtime loggers write through a JSON handler, as emitted."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logformat.JsonFormatter())
    logger = logging.getLogger("realtime")
    logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


@pytest.mark.django_db(transaction=True)
async def test_lines_logged_while_a_connection_works_name_it(json_lines):
    client = HubCommunicator(EchoHub)
    await client.connect()
    connection_id = await client.invoke("Whoami")
    with pytest.raises(HubError):
        await client.invoke("Refuse", "no")
    await client.disconnect()
    (refused,) = [e for e in json_lines() if e["message"].startswith("refused Refuse")]
    assert refused["connection_id"] == connection_id
    assert refused["hub"] == "echohub"


@pytest.mark.parametrize(("value", "ok"), [("json", True), ("text", True), ("xml", False)])
def test_log_format_is_validated(value, ok):
    completed = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={"DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "1", "LOG_FORMAT": value,
             "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (completed.returncode == 0) == ok, completed.stderr
    if not ok:
        assert "LOG_FORMAT must be one of text, json, got 'xml'" in completed.stderr
