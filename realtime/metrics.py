"""In-process counters for what must never be silent (drops, refusals)."""

from collections import Counter

counters: Counter[str] = Counter()


def increment(name: str, amount: int = 1) -> None:
    """Add to a counter (e.g. "messages_dropped")."""
    counters[name] += amount


def snapshot() -> dict[str, int]:
    """Return a copy of every counter."""
    return dict(counters)
