"""autobahn's debug-log arguments, formatted only when a debug line is written.

autobahn builds the arguments of its debug log calls whether or not debug
logging is on: for every frame it sends, its method's qualified name and two
values styled for a terminal (``click.style``, when click is installed, as
uvicorn installs it), about 5 µs; for every connection, its options through
``pprint.pformat``, about 150 µs. The log line itself is dropped at the
default level.

`install` makes those helpers, in the autobahn modules daphne runs, return
a stand-in that formats on demand: a written debug line reads exactly as
before, and a dropped one costs an object.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from pprint import pformat
from typing import Any

#: The autobahn modules and the helpers each imports by name.
TARGETS = {
    "autobahn.websocket.protocol": ("hltype", "hlval", "pformat"),
    "autobahn.twisted.websocket": ("hltype", "hlval"),
}


class Deferred:
    """``function(*args, **kwargs)``, called when the value is formatted."""

    __slots__ = ("_args", "_function", "_kwargs")

    def __init__(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._function = function
        self._args = args
        self._kwargs = kwargs

    def __str__(self) -> str:
        return str(self._function(*self._args, **self._kwargs))

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __repr__(self) -> str:
        return str(self)


def _deferring(function: Callable[..., Any]) -> Callable[..., Deferred]:
    def deferred(*args: Any, **kwargs: Any) -> Deferred:
        return Deferred(function, *args, **kwargs)

    deferred.original = function  # type: ignore[attr-defined]
    return deferred


def install() -> None:
    """Defer the helpers' work in the modules of `TARGETS` (once per process)."""
    for name, helpers in TARGETS.items():
        module = import_module(name)
        for helper in helpers:
            current = getattr(module, helper)
            if not hasattr(current, "original"):
                setattr(module, helper, _deferring(current))
    # Timings.__str__ must return a str, not a stand-in.
    timings = import_module("autobahn.websocket.protocol").Timings
    timings.__str__ = lambda self: pformat(self._timings)  # type: ignore[method-assign]


def installed() -> bool:
    """Return whether `install` has run in this process."""
    module = import_module("autobahn.websocket.protocol")
    return all(hasattr(getattr(module, helper), "original") for helper in TARGETS[module.__name__])
