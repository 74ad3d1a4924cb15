"""Log lines an operator can search: readable by default, JSON with LOG_FORMAT=json.

Both formats carry the same fields: time, level, logger, instance, and, when
the line is about a connection, its connection id, user id and hub (bound
with `bind` by the connection, so every line logged while it handles a
message names it), plus `event` and `reason` where a call site gives them
(``extra={"event": "refused", "reason": ...}``). Text a client supplied
reaches log calls as %-arguments (a hub target, a path): each string
argument is cut to `ARGUMENT_LIMIT` characters, and control characters are
escaped, so one record stays one line of bounded size in both formats.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
from contextvars import ContextVar
from datetime import UTC, datetime

#: Longest string %-argument written, in characters.
ARGUMENT_LIMIT = 300
FIELDS = ("connection_id", "user_id", "hub", "event", "reason")
INSTANCE = f"{socket.gethostname()}:{os.getpid()}"
# Backslashes stay as they are: call sites may have escaped client text
# already (an escape sequence must not be escaped twice).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

_connection: ContextVar[tuple[str, str, str] | None] = ContextVar("realtime_log", default=None)


def bind(connection_id: str, user_id: str, hub: str) -> None:
    """Name this connection on every line logged from the current task."""
    _connection.set((connection_id, user_id, hub))


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def escape(text: str) -> str:
    """Escape control characters and line separators."""
    return _CONTROL.sub(_escape, text)


def _clip(value: object) -> object:
    if isinstance(value, str) and len(value) > ARGUMENT_LIMIT:
        return f"{value[:ARGUMENT_LIMIT]}…[+{len(value) - ARGUMENT_LIMIT} chars]"
    return value


def safe_message(record: logging.LogRecord) -> str:
    """The record's message with long string arguments cut and controls escaped."""
    args = record.args
    if isinstance(args, tuple):
        args = tuple(_clip(a) for a in args)
    elif isinstance(args, dict):
        args = {k: _clip(v) for k, v in args.items()}
    message = str(_clip(str(record.msg)))
    if args:
        try:
            message = message % args
        except (TypeError, ValueError):
            message = f"{message} {args!r}"
    return escape(message)


def fields(record: logging.LogRecord) -> dict[str, str]:
    """The connection fields of a record: bound by the task or given as extra."""
    bound = _connection.get()
    values = dict(zip(("connection_id", "user_id", "hub"), bound, strict=True)) if bound else {}
    for name in FIELDS:
        given = getattr(record, name, None)
        if given:
            values[name] = str(given)
    return {name: escape(str(_clip(values[name]))) for name in FIELDS if values.get(name)}


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message [connection=… user=… hub=… event=… reason=…]``."""

    _short = {"connection_id": "connection", "user_id": "user"}

    def format(self, record: logging.LogRecord) -> str:
        record.message = safe_message(record)
        line = f"{self.formatTime(record)} {record.levelname:<7} {record.name}: {record.message}"
        extra = fields(record)
        if extra:
            line += " [" + " ".join(f"{self._short.get(k, k)}={v}" for k, v in extra.items()) + "]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line with stable keys (json.dumps escapes the rest)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "instance": INSTANCE,
            "message": safe_message(record),
            **dict.fromkeys(FIELDS),
            **fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)
