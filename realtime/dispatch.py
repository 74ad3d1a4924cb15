"""Run invocations and streams on a hub; map every outcome to a message.

A HubException's message reaches the caller. Any other exception is logged
with its traceback and the caller gets a generic error, so no internals leak
and the connection stays up. Refusals (unknown method, wrong arguments, a
HubException) are logged through the connection, which logs a repeating
client sparingly and closes one that keeps sending invocations it cannot
have meant; the client's target is clipped in replies and logs alike.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from realtime import metrics, uploads
from realtime.binding import BindingError, bind
from realtime.hub import Hub, HubException, HubMethod
from realtime.logtext import clip
from realtime.protocol import Completion, HubMessage, Invocation, StreamInvocation, StreamItem

logger = logging.getLogger(__name__)


class Caller(Protocol):
    """The connection an invocation came from, as the dispatcher uses it."""

    #: Its open client-to-server streams (realtime/uploads.py).
    uploads: uploads.Uploads | None

    async def send(self, message: HubMessage) -> None:
        """Encode and send one hub message to the caller."""

    async def refused(self, target: str, reason: str, *, strike: bool = True) -> None:
        """Log a refused invocation; close a caller that keeps sending them."""


class _Refused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _resolve(
    hub: Hub, message: Invocation | StreamInvocation, streaming: bool, connection: Caller
) -> tuple:
    # Synchronous on purpose: an invocation with uploads opens its streams
    # here, before its first suspension lets the reader take their items.
    method: HubMethod | None = type(hub).find_method(message.target)
    if method is None:
        raise _Refused(f"Unknown hub method '{clip(message.target)}'")
    if method.streaming != streaming:
        kind = "a streaming" if method.streaming else "a non-streaming"
        how = "StreamInvocation" if method.streaming else "Invocation"
        raise _Refused(
            f"The client attempted to invoke {kind} hub method '{method.target}' "
            f"without using {how}."
        )
    try:
        arguments = bind(method, message.arguments)
    except BindingError as exc:
        raise _Refused(
            f"Failed to invoke '{method.target}' due to an error on the server. {exc}"
        ) from None
    if method.uploads or message.stream_ids:
        try:
            streams = uploads.announce(connection, method, message.stream_ids)
        except uploads.UploadRefused as exc:
            raise _Refused(_hub_error(method.target, exc)) from None
        arguments = uploads.arguments(method, arguments, streams)
    return method, arguments


def _hub_error(target: str, exc: Exception) -> str:
    return f"An unexpected error occurred invoking '{target}' on the server. HubException: {exc}"


def _generic_error(target: str) -> str:
    return f"An unexpected error occurred invoking '{target}' on the server."


async def invoke(hub: Hub, message: Invocation, connection: Caller) -> Completion | None:
    """Run an Invocation; return its Completion (None when non-blocking)."""
    started = time.perf_counter()
    completion, outcome = await _invoke(hub, message, connection)
    metrics.invoked(type(hub), message.target, outcome, time.perf_counter() - started)
    return completion


async def _invoke(
    hub: Hub, message: Invocation, connection: Caller
) -> tuple[Completion | None, str]:
    invocation_id = message.invocation_id
    try:
        method, arguments = _resolve(hub, message, False, connection)
        result = await getattr(hub, method.name)(*arguments)
    except _Refused as exc:
        await connection.refused(message.target, exc.message)
        error, outcome = exc.message, "refused"
    except HubException as exc:
        await connection.refused(message.target, f"HubException: {exc}", strike=False)
        error, outcome = _hub_error(message.target, exc), "hub_error"
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("hub method %s failed", message.target)
        error, outcome = _generic_error(message.target), "error"
    else:
        if invocation_id is None:
            return None, "ok"
        if result is None:
            return Completion.void(invocation_id), "ok"
        return Completion.with_result(invocation_id, result), "ok"
    if invocation_id is None:
        return None, outcome
    return Completion.with_error(invocation_id, error), outcome


async def stream(hub: Hub, message: StreamInvocation, connection: Caller) -> None:
    """Run a streaming method: StreamItems, then one Completion (none if cancelled)."""
    invocation_id = message.invocation_id
    try:
        method, arguments = _resolve(hub, message, True, connection)
        async for item in getattr(hub, method.name)(*arguments):
            await connection.send(StreamItem(invocation_id, item))
            # A generator that never awaits must not starve the process:
            # writes to daphne do not suspend, so yield to the loop here.
            await asyncio.sleep(0)
    except asyncio.CancelledError:
        logger.debug("stream %s cancelled", message.target)
        raise
    except _Refused as exc:
        await connection.send(Completion.with_error(invocation_id, exc.message))
        await connection.refused(message.target, exc.message)
    except HubException as exc:
        await connection.send(Completion.with_error(invocation_id, _hub_error(message.target, exc)))
        await connection.refused(message.target, f"HubException: {exc}", strike=False)
    except Exception:
        logger.exception("stream %s failed", message.target)
        await connection.send(Completion.with_error(invocation_id, _generic_error(message.target)))
    else:
        await connection.send(Completion.void(invocation_id))
