"""Calls that run once the transaction commits, their failures logged, not raised.

``transaction.on_commit(callback, robust=True)`` catches what the callback
raises and logs it under ``callback.__qualname__``, which a
``functools.partial`` does not have (Django 5.2). The logging itself then
raised AttributeError, in place of the callback's error: out of the
``atomic`` block into the view, command or signal that committed, and the
callbacks after it never ran. `after_commit` registers a call that carries
its function's name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction


def after_commit(function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
    """Call ``function(*args, **kwargs)`` after commit (now, outside a transaction).

    What it raises is logged by Django and goes no further: the code that
    committed and the other callbacks are unaffected.
    """

    def call() -> None:
        function(*args, **kwargs)

    call.__qualname__ = getattr(function, "__qualname__", type(function).__qualname__)
    transaction.on_commit(call, robust=True)
