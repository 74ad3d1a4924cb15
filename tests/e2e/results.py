"""Ask a client for a result from outside the server, as a management command would."""

from __future__ import annotations

from tests.support.daphne import LiveStack


def ask_from_outside(live: LiveStack, connection_id: str, question: str) -> str:
    """Ask a client from a separate process (a management command's view)."""
    return live.shell(
        "from realtime import ClientResultError, HubException, hub_context\n"
        f"proxy = hub_context('resulthub').connection({connection_id!r})\n"
        "try:\n"
        f"    print(repr(proxy.invoke('Ask', {question!r}, timeout=10)))\n"
        "except (ClientResultError, HubException) as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    ).strip()
