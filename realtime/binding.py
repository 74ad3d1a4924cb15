"""Bind invocation arguments to a hub method's type hints.

Supported annotations: ``int`` (also a decimal string of ASCII digits such as
``"42"``, which clients written for ``string orderId`` send), ``float``, ``str``, ``bool``,
``None``, ``X | None``, unions, ``list[T]``, ``dict[str, T]``, ``Any`` and
no annotation. A value that does not fit raises BindingError, which the
dispatcher turns into an error Completion.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from typing import Any

from realtime.hub import HubMethod

#: ASCII digits only: ``\d`` would also take other scripts' digits (U+0661, U+FF14).
_DECIMAL = re.compile(r"-?[0-9]{1,18}")


class BindingError(ValueError):
    """The arguments of an invocation do not fit the method."""


def _fits(value: Any, annotation: Any) -> tuple[bool, Any]:
    if annotation is Any or annotation is inspect.Parameter.empty:
        return True, value
    if annotation is None or annotation is type(None):
        return value is None, value
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(annotation):
            ok, converted = _fits(value, option)
            if ok:
                return True, converted
        return False, value
    if annotation is bool:
        return isinstance(value, bool), value
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return True, value
        if isinstance(value, str) and _DECIMAL.fullmatch(value):
            return True, int(value)
        return False, value
    if annotation is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return ok, float(value) if ok else value
    if annotation is str:
        return isinstance(value, str), value
    if origin is list or annotation is list:
        if not isinstance(value, list):
            return False, value
        (item,) = typing.get_args(annotation) or (Any,)
        converted = []
        for element in value:
            ok, element = _fits(element, item)
            if not ok:
                return False, value
            converted.append(element)
        return True, converted
    if origin is dict or annotation is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            return False, value
        args = typing.get_args(annotation)
        if not args:
            return True, value
        result = {}
        for k, v in value.items():
            ok, v = _fits(v, args[1])
            if not ok:
                return False, value
            result[k] = v
        return True, result
    raise TypeError(f"unsupported hub method annotation: {annotation!r}")


_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "a boolean"}


def _describe(annotation: Any) -> str:
    if annotation in _NAMES:
        return _NAMES[annotation]
    return str(annotation).replace("typing.", "")


def convert(value: Any, annotation: Any) -> Any:
    """Return `value` converted to `annotation` (a stream item), or raise BindingError."""
    ok, converted = _fits(value, annotation)
    if not ok:
        raise BindingError(f"Item must be {_describe(annotation)}, got {type(value).__name__}.")
    return converted


def bind(method: HubMethod, arguments: tuple | list) -> list[Any]:
    """Return the arguments converted for `method`, or raise BindingError."""
    positional = [
        p
        for p in method.parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in method.uploads
    ]
    required = [p for p in positional if p.default is p.empty]
    if not len(required) <= len(arguments) <= len(positional):
        expected = (
            str(len(positional))
            if len(required) == len(positional)
            else f"{len(required)} to {len(positional)}"
        )
        raise BindingError(
            f"Invocation provides {len(arguments)} argument(s) but target expects {expected}."
        )
    bound = []
    for parameter, value in zip(positional, arguments, strict=False):
        annotation = method.hints.get(parameter.name, inspect.Parameter.empty)
        ok, converted = _fits(value, annotation)
        if not ok:
            raise BindingError(
                f"Argument '{parameter.name}' must be {_describe(annotation)}, "
                f"got {type(value).__name__}."
            )
        bound.append(converted)
    return bound
