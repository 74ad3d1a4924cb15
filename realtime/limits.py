"""Per-connection limits on what a client sends: the invocation rate, refusals.

The rate is a token bucket (MAX_INVOCATIONS_PER_SECOND, bursts of twice
that). A client that repeats a refused invocation (over the rate, an unknown
method, wrong arguments) would otherwise write one log line per message: the
first refusal of a 10-second window is logged in full, its client text
clipped by `realtime.logtext.clip`, and the rest of the window is counted and
logged as one line when the window is over or the connection ends
(``refused 4,312 more invocations from <id> in the last 10 s``). Past
MAX_REFUSED_INVOCATIONS refusals in one window the connection is closed.
"""

from __future__ import annotations

import logging
import time

from realtime import conf
from realtime.logtext import clip

logger = logging.getLogger("realtime.connection")

#: Seconds of one refusal window: one full line, then one line with a count.
WINDOW = 10.0


class Limits:
    """The invocation allowance and the refusal log of one connection."""

    __slots__ = (
        "_allowance", "_checked_at", "_connection_id", "_level", "_started", "_strikes",
        "_suppressed",
    )  # fmt: skip

    def __init__(self, connection_id: str) -> None:
        self._connection_id = connection_id
        self._allowance = 2 * conf.get().MAX_INVOCATIONS_PER_SECOND
        self._checked_at = time.monotonic()
        self._started = -WINDOW
        self._strikes = 0
        self._suppressed = 0
        self._level = logging.DEBUG

    def admit(self) -> bool:
        """Take one invocation from the allowance; False when it is used up."""
        now = time.monotonic()
        rate = conf.get().MAX_INVOCATIONS_PER_SECOND
        self._allowance = min(2 * rate, self._allowance + (now - self._checked_at) * rate)
        self._checked_at = now
        if self._allowance < 1:
            return False
        self._allowance -= 1
        return True

    def refused(self, target: str, reason: str, *, level: int, strike: bool) -> bool:
        """Log or count one refusal; return whether the connection must close.

        `strike`: whether the refusal counts toward MAX_REFUSED_INVOCATIONS
        (the client could not have sent it in good faith).
        """
        now = time.monotonic()
        if now - self._started >= WINDOW:
            self.flush(now)
            self._started = now
            self._strikes = 0
            logger.log(
                level, "refused %s on %s: %s", clip(target), self._connection_id, clip(reason, 200)
            )
        else:
            self._suppressed += 1
            self._level = max(self._level, level)
        self._strikes += strike
        return self._strikes > conf.get().MAX_REFUSED_INVOCATIONS

    def flush(self, now: float) -> None:
        """Log the count of refusals left out of the log, if any."""
        if not self._suppressed:
            return
        logger.log(
            self._level,
            "refused %s more invocations from %s in the last %.0f s",
            f"{self._suppressed:,}",
            self._connection_id,
            min(now - self._started, WINDOW),
        )
        self._suppressed = 0
        self._level = logging.DEBUG

    def due(self, now: float) -> bool:
        """Whether a count waits for a window that is over (the sweep flushes it)."""
        return bool(self._suppressed) and now - self._started >= WINDOW
