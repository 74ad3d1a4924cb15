"""The largest request body each realtime route accepts, known from the path alone.

A server that checks bodies before reading them (`realtime.server` for
daphne) asks `limit_for` as soon as it has a request's head: hub routes
(negotiate, sends) and views marked with `bounded_body` (``/realtime/token``)
take at most MAX_MESSAGE_SIZE bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.urls import Resolver404, resolve

from realtime import conf

_hub_paths: set[str] = set()


def register_hub(path: str) -> None:
    """Note a hub's path (its negotiate and transport routes)."""
    _hub_paths.add(path.strip("/"))


def bounded_body(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a view whose requests take at most MAX_MESSAGE_SIZE bytes of body."""
    view.realtime_bounded_body = True  # type: ignore[attr-defined]
    return view


def limit_for(path: str) -> int | None:
    """Return the body limit of a realtime route, or None for other paths."""
    route = path.strip("/")
    hub = route.removesuffix("/negotiate")
    if route in _hub_paths or hub in _hub_paths:
        return conf.get().MAX_MESSAGE_SIZE
    try:
        match = resolve("/" + route)
    except Resolver404:
        return None
    if getattr(match.func, "realtime_bounded_body", False):
        return conf.get().MAX_MESSAGE_SIZE
    return None
