"""Client results: invoke a method on one client and await what it returns.

ASP.NET Core 7's ``Clients.Client(id).InvokeAsync<T>``. The server sends the
client an Invocation with an invocation id; the client's handler (JS:
``connection.on``) returns a value and the client answers with a Completion:
the value, or an error, which raises HubException with the client's text.

- The owning side (`invoke`): a connection of this process. Its waiting
  invocation ids are bounded (MAX_PENDING_CLIENT_RESULTS), each waits at
  most its timeout (CLIENT_RESULT_TIMEOUT by default), and all of them fail
  when the connection ends.
- The asking side (`invoke_connection`): any code, on any instance. For a
  connection of another process it sends an InvokeClient envelope to the
  owner's channel and waits for the ClientResult reply on its own process's
  channel (or, outside a server, on a channel made for the one request).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
import weakref
from collections import deque
from collections.abc import Awaitable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from channels.layers import get_channel_layer
from redis.exceptions import RedisError

from realtime import conf, epoch, inline
from realtime.errors import HubException
from realtime.lifetime.envelopes import ClientResult, InvokeClient
from realtime.protocol import Completion, HubMessage, Invocation

logger = logging.getLogger(__name__)

#: An asker waits this much longer than the owner, whose timeout decides.
REPLY_GRACE = 5.0
#: Requests this process may have waiting on other processes at once.
MAX_WAITING_PER_PROCESS = 10_000
#: Ids of ended requests remembered per connection, so that a late answer
#: (after a timeout) is passed over instead of closing the connection.
REMEMBERED = 64

#: Set while a hub's on_connected runs: the reader is busy with it.
_connecting: ContextVar[bool] = ContextVar("realtime_connecting", default=False)
_ids = itertools.count(1)


async def without_client_results(hook: Awaitable[None]) -> None:
    """Run a hub's on_connected, refusing client results meanwhile (as ASP.NET Core does)."""
    token = _connecting.set(True)
    try:
        await hook
    finally:
        _connecting.reset(token)


class ClientResultError(Exception):
    """No client result: the connection is gone or unknown, or too many wait."""


class ClientResultTimeout(ClientResultError, TimeoutError):
    """The client did not answer within the timeout."""


def _gone(connection_id: str) -> ClientResultError:
    return ClientResultError(f"Connection '{connection_id}' disconnected.")


def _unknown(connection_id: str) -> ClientResultError:
    return ClientResultError(f"Connection '{connection_id}' does not exist.")


def _timed_out(connection_id: str, target: str, timeout: float) -> ClientResultTimeout:
    return ClientResultTimeout(
        f"Connection '{connection_id}' did not answer '{target}' within {timeout:g} s."
    )


class Client(Protocol):
    """A connection of this process, as client results use it."""

    connection_id: str
    hub_class: Any
    #: The client results its client owes.
    results: Pending | None

    @property
    def is_open(self) -> bool:
        """Whether the handshake is done and the connection has not ended."""

    async def send(self, message: HubMessage) -> None:
        """Encode and send one hub message to the client."""


class Pending:
    """The invocation ids of one connection that wait for the client's Completion."""

    __slots__ = ("ended", "waiting")

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future] = {}
        self.ended: deque[str] = deque(maxlen=REMEMBERED)


async def invoke(
    connection: Client, target: str, arguments: Iterable[Any], timeout: float | None = None
) -> Any:
    """Invoke `target` on a connection of this process; return the client's result."""
    settings = conf.get()
    timeout = settings.CLIENT_RESULT_TIMEOUT if timeout is None else timeout
    connection_id = connection.connection_id
    if _connecting.get():
        raise RuntimeError("Client results inside OnConnectedAsync Hub methods are not allowed.")
    if not connection.is_open:
        raise _gone(connection_id)
    if connection.results is None:
        connection.results = Pending()
    pending = connection.results
    limit = settings.MAX_PENDING_CLIENT_RESULTS
    if len(pending.waiting) >= limit:
        raise ClientResultError(
            f"Connection '{connection_id}' already has {limit} client results pending."
        )
    invocation_id = f"r{next(_ids)}"
    future = asyncio.get_running_loop().create_future()
    pending.waiting[invocation_id] = future
    # The answer comes through the reader this call may be running in.
    inline.release()
    try:
        await connection.send(Invocation(target, tuple(arguments), invocation_id))
        return await asyncio.wait_for(future, timeout)
    except TimeoutError:
        raise _timed_out(connection_id, target, timeout) from None
    finally:
        if pending.waiting.pop(invocation_id, None) is not None:
            pending.ended.append(invocation_id)


def complete(connection: Client, message: Completion) -> bool:
    """Hand a client's Completion to the invocation waiting for it.

    Return False when the server never asked for it (a protocol error).
    """
    pending = connection.results
    if pending is None:
        return False
    invocation_id = message.invocation_id
    future = pending.waiting.pop(invocation_id, None)
    if future is None:
        return invocation_id in pending.ended  # a late answer: passed over
    pending.ended.append(invocation_id)
    if not future.done():
        if message.error is not None:
            future.set_exception(HubException(message.error))
        else:
            future.set_result(message.result)
    return True


def connection_closed(connection: Client) -> None:
    """Fail every invocation still waiting for the client's answer."""
    pending = connection.results
    if pending is None:
        return
    waiting, pending.waiting = pending.waiting, {}
    for future in waiting.values():
        if not future.done():
            future.set_exception(_gone(connection.connection_id))


# The asking side ------------------------------------------------------------


@dataclass(eq=False)
class Process:
    """A server process's channel, its connections, and its requests waiting."""

    layer: Any
    channel: str
    connections: dict[str, Client]
    replies: dict[str, asyncio.Future] = field(default_factory=dict)


_processes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Process] = (
    weakref.WeakKeyDictionary()
)


def serve(layer: Any, channel: str, connections: dict[str, Client]) -> Process:
    """Make this loop's server process answer and receive client results."""
    process = _processes[asyncio.get_running_loop()] = Process(layer, channel, connections)
    return process


async def invoke_connection(
    namespace: str,
    connection_id: str,
    target: str,
    arguments: Iterable[Any],
    timeout: float | None = None,
) -> Any:
    """Invoke `target` on a connection of any instance; return the client's result."""
    timeout = conf.get().CLIENT_RESULT_TIMEOUT if timeout is None else timeout
    process = _processes.get(asyncio.get_running_loop())
    local = process.connections.get(connection_id) if process is not None else None
    if local is not None:
        if local.hub_class.namespace != namespace:
            raise _unknown(connection_id)
        return await invoke(local, target, arguments, timeout)
    try:
        owners = await epoch.route_connections([connection_id], conf.get().REGISTRY_SETTLE)
    except (RedisError, OSError) as exc:
        raise ClientResultError(f"Could not invoke '{target}': Redis is unavailable.") from exc
    if owners is None:
        raise ClientResultError(
            f"Could not invoke '{target}': the registry is being rebuilt after a Redis restart."
        )
    if not owners[0]:
        raise _unknown(connection_id)
    request = InvokeClient(
        connection_id, namespace, target, list(arguments), timeout, uuid.uuid4().hex, ""
    )
    inline.release()
    if process is None:
        reply = await _ask_alone(owners[0], request, timeout + REPLY_GRACE)
    else:
        reply = await _ask(process, owners[0], request, timeout + REPLY_GRACE)
    if reply is None:
        raise _timed_out(connection_id, target, timeout)
    return _outcome(reply)


async def _ask(
    process: Process, owner: str, request: InvokeClient, wait: float
) -> ClientResult | None:
    if len(process.replies) >= MAX_WAITING_PER_PROCESS:
        raise ClientResultError("Too many client results are pending in this process.")
    future = asyncio.get_running_loop().create_future()
    process.replies[request.request] = future
    try:
        await process.layer.send(owner, replace(request, reply_to=process.channel).to_message())
        return await asyncio.wait_for(future, wait)
    except TimeoutError:
        return None
    finally:
        process.replies.pop(request.request, None)


async def _ask_alone(owner: str, request: InvokeClient, wait: float) -> ClientResult | None:
    # Code outside a server (a command, a worker, a shell): a channel for
    # this one request, on the default channel layer.
    layer = get_channel_layer()
    channel = await layer.new_channel("realtime.reply.")
    await layer.send(owner, replace(request, reply_to=channel).to_message())
    try:
        return ClientResult.from_message(await asyncio.wait_for(layer.receive(channel), wait))
    except TimeoutError:
        return None


def _outcome(reply: ClientResult) -> Any:
    if reply.failure is None:
        return reply.value
    if reply.failure == "client":
        raise HubException(reply.error)
    if reply.failure == "timeout":
        raise ClientResultTimeout(reply.error)
    raise ClientResultError(reply.error)


def reply_arrived(reply: ClientResult) -> None:
    """Resolve the request a ClientResult envelope answers (if still waiting)."""
    process = _processes.get(asyncio.get_running_loop())
    future = process.replies.get(reply.request) if process is not None else None
    if future is not None and not future.done():
        future.set_result(reply)


# The owning side of a request from another process --------------------------

_answering: set[asyncio.Task] = set()


def request_arrived(request: InvokeClient) -> None:
    """Start answering an InvokeClient envelope (the client's answer may take a while)."""
    task = asyncio.get_running_loop().create_task(_answer(request))
    _answering.add(task)
    task.add_done_callback(_answering.discard)


async def _answer(request: InvokeClient) -> None:
    process = _processes.get(asyncio.get_running_loop())
    if process is None:
        return
    connection_id = request.connection_id
    connection = process.connections.get(connection_id)
    try:
        if connection is None or connection.hub_class.namespace != request.namespace:
            raise _unknown(connection_id)
        value = await invoke(connection, request.target, request.arguments, request.timeout)
        reply = ClientResult(request.request, value)
    except HubException as exc:
        reply = ClientResult(request.request, failure="client", error=str(exc))
    except ClientResultTimeout as exc:
        reply = ClientResult(request.request, failure="timeout", error=str(exc))
    except ClientResultError as exc:
        reply = ClientResult(request.request, failure="gone", error=str(exc))
    try:
        await process.layer.send(request.reply_to, reply.to_message())
    except Exception:
        logger.warning("could not return a client result to %s", request.reply_to, exc_info=True)
