"""Test-only hubs that exercise every part of the realtime layer."""

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from realtime import (
    AuthenticatedHub,
    ClientResultError,
    ClientResultTimeout,
    Hub,
    HubException,
    hub_context,
    hub_method,
)

logger = logging.getLogger(__name__)


class EchoHub(Hub):
    """Open to anonymous clients; covers results, errors, groups and streams."""

    client_events = frozenset({"Notified", "Shouted"})

    async def echo(self, value):
        return value

    async def add(self, a: int, b: int) -> int:
        return a + b

    async def refuse(self, reason: str) -> None:
        raise HubException(reason)

    async def crash(self) -> None:
        raise RuntimeError("internal detail that must not leak")

    async def notify_me(self, text: str) -> None:
        await self.clients.caller.send("Notified", text)

    async def join(self, group: str) -> None:
        await self.groups.add(group)

    async def leave(self, group: str) -> None:
        await self.groups.discard(group)

    async def shout(self, group: str, text: str) -> None:
        await self.clients.group(group).send("Shouted", group, text)

    async def whoami(self) -> str:
        return self.connection_id

    async def counter(self, count: int, delay_ms: int = 0):
        for i in range(count):
            if delay_ms:
                await asyncio.sleep(delay_ms / 1000)
            yield i

    async def failing_stream(self):
        yield 1
        raise HubException("stream refused")

    @hub_method("Legacy_Name")
    async def renamed(self) -> str:
        return "renamed"

    def not_exposed(self) -> None:
        """Sync methods are never hub methods."""

    async def _private(self) -> None:
        """Underscore methods are never hub methods."""


class SecureHub(AuthenticatedHub):
    """Needs a session or an access token."""

    async def whoami(self) -> str:
        return self.user.get_username()


HEARD = "Heard"


class AudienceHub(Hub):
    """Opts in to hub-wide sends; reaches every audience of ASP.NET Core's IHubClients."""

    allow_broadcast_to_all = True

    async def whoami(self) -> str:
        return self.connection_id

    async def join(self, group: str) -> None:
        await self.groups.add(group)

    async def to_others(self, text: str) -> None:
        await self.clients.others.send(HEARD, "others", text)

    async def to_all_except(self, connection_ids: list[str], text: str) -> None:
        await self.clients.all_except(connection_ids).send(HEARD, "all_except", text)

    async def to_others_in_group(self, group: str, text: str) -> None:
        await self.clients.others_in_group(group).send(HEARD, "others_in_group", text)

    async def to_group_except(self, group: str, connection_ids: list[str], text: str) -> None:
        await self.clients.group_except(group, connection_ids).send(HEARD, "group_except", text)

    async def to_clients(self, connection_ids: list[str], text: str) -> None:
        await self.clients.clients(connection_ids).send(HEARD, "clients", text)

    async def to_users(self, user_ids: list[str], text: str) -> None:
        await self.clients.users(user_ids).send(HEARD, "users", text)


class GroupOnlyHub(AudienceHub):
    """The same methods on a hub that keeps hub-wide sends off (the default)."""

    allow_broadcast_to_all = False


ASK = "Ask"


async def outcome(call: Any) -> dict:
    """Await a client result and describe how it ended (tests read all four ways)."""
    try:
        return {"result": await call}
    except HubException as exc:
        return {"hub_error": str(exc)}
    except ClientResultTimeout as exc:
        return {"timeout": str(exc)}
    except ClientResultError as exc:
        return {"gone": str(exc)}


class ResultHub(Hub):
    """Client results (``InvokeAsync``) and client-to-server streams."""

    #: What the last cancelled or closed upload saw (tests read it).
    upload_endings: ClassVar[list[str]] = []

    async def whoami(self) -> str:
        return self.connection_id

    async def ask_caller(self, question: Any, timeout: float = 5.0, target: str = ASK) -> dict:
        return await outcome(self.clients.caller.invoke(target, question, timeout=timeout))

    async def ask_caller_twice(self, timeout: float = 5.0) -> list:
        caller = self.clients.caller
        calls = [caller.invoke(ASK, n, timeout=timeout) for n in ("one", "two", "three")]
        return list(await asyncio.gather(*(outcome(c) for c in calls)))

    async def ask(self, connection_id: str, question: str, timeout: float = 5.0) -> dict:
        proxy = self.clients.connection(connection_id)
        return await outcome(proxy.invoke(ASK, question, timeout=timeout))

    async def sum_upload(self, numbers: AsyncIterator[int]) -> int:
        total = 0
        async for number in numbers:
            total += number
        return total

    async def collect(self, label: str, items: AsyncIterator) -> list:
        return [label, *[item async for item in items]]

    async def slow_sum(self, numbers: AsyncIterator[int]) -> dict:
        total, most = 0, 0
        async for number in numbers:
            most = max(most, numbers.buffered)
            total += number
            await asyncio.sleep(0.02)
        return {"total": total, "most_buffered": most}

    async def upper(self, words: AsyncIterator[str]):
        async for word in words:
            yield word.upper()

    async def hold(self, items: AsyncIterator):
        try:
            async for item in items:
                yield item
        except asyncio.CancelledError:
            ResultHub.upload_endings.append("cancelled")
            raise


class AskOnConnectHub(Hub):
    """Asks its caller in on_connected, which ASP.NET Core refuses as well."""

    async def on_connected(self) -> None:
        await self.clients.caller.invoke(ASK, "too early")


class ResumeHub(Hub):
    """Stateful reconnect: numbered events to one connection, tallies from it.

    Logs its lifecycle hooks (as warnings: the live servers show those from
    any logger), so a test can count them in the server log.
    """

    client_events = frozenset({"Number", "Tallied"})
    #: The running number senders of this process (kept from the collector).
    senders: ClassVar[set[asyncio.Task]] = set()

    async def on_connected(self) -> None:
        logger.warning("resumehub on_connected %s", self.connection_id)

    async def on_disconnected(self, exception: Exception | None) -> None:
        logger.warning("resumehub on_disconnected %s", self.connection_id)

    async def numbers(self, count: int, delay_ms: int) -> None:
        """Send Number 1..count to this connection's own group, from the server side."""
        group = f"numbers:{self.connection_id}"
        await self.groups.add(group)
        task = asyncio.get_running_loop().create_task(send_numbers(group, count, delay_ms))
        self.senders.add(task)
        task.add_done_callback(self.senders.discard)

    async def tally(self, number: int) -> int:
        await self.clients.caller.send("Tallied", number)
        return number

    async def echo(self, value: str) -> str:
        return value


async def send_numbers(group: str, count: int, delay_ms: int) -> None:
    """Send the numbers through the channel layer, as any server-side code would."""
    audience = hub_context(ResumeHub).group(group)
    for number in range(1, count + 1):
        await audience.asend("Number", number)
        await asyncio.sleep(delay_ms / 1000)
