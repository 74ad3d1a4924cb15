"""In-process counters for what must never be silent (drops, refusals)."""

from collections import Counter

counters: Counter[str] = Counter()


def increment(name: str, amount: int = 1) -> None:
    """Add to a counter (e.g. "messages_dropped")."""
    counters[name] += amount


def set_gauge(name: str, value: int) -> None:
    """Set a counter to a current value (e.g. "connections_open")."""
    counters[name] = value


def snapshot() -> dict[str, int]:
    """Return a copy of every counter."""
    return dict(counters)
