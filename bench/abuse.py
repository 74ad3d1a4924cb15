"""Other clients' broadcast latency with and without 10 clients that never read.

Issue 10's finding 3 as a benchmark: the same spaced broadcasts to N others
are measured alone, then while 10 slow readers (4 KiB receive buffers, never
reading, joined to the broadcast topic) each send an invocation every 5 ms
(an unknown method with a 1,000-character name).
A reader the server closes (for its refused invocations or its unsent
output) is replaced at once, as a determined abuser would, so ten exist for
the whole measurement. Ours only: the readers speak SignalR JSON.
"""

from __future__ import annotations

import itertools
import logging
from typing import TYPE_CHECKING, Any

from bench import stats
from bench.slowreaders import Flood, SlowReader, invocation

if TYPE_CHECKING:
    from bench.dialects import ClientSpec
    from bench.scenarios import ContenderRun
    from bench.servers import ServerProcess, Trigger

logger = logging.getLogger(__name__)

READERS = 10
#: What each reader invokes: an unknown method with a long name, whose
#: refusal the server answers (and, before issue 10, echoed in full).
ABUSIVE_TARGET = "A" * 1000
KEYS = ("p50_ms", "p99_ms", "complete_max_ms")


def slow_readers(
    run: ContenderRun, server: ServerProcess, trigger: Trigger, spec: ClientSpec, port: int
) -> None:
    """Measure the others' latency alone, then next to `READERS` slow readers."""
    plan = run.ctx.plan
    resized = run._resize(spec, plan.slow_others)
    tokens = itertools.cycle(run._credentials())

    def reader() -> SlowReader:
        path = f"{spec.path}?access_token={next(tokens)}"
        opened = SlowReader(port, path).open()
        opened.send(invocation("SubscribeToTopic", "bench"))
        return opened

    def measure() -> dict[str, Any]:
        runs = [
            run._broadcasts(trigger, spec, plan.slow_count, plan.slow_interval)
            for _ in range(plan.repeats)
        ]
        return {
            **stats.summarize(runs, KEYS),
            "received": sum(r["received"] for r in runs),
            "expected": sum(r["expected"] for r in runs),
        }

    alone = measure()
    rss_before = server.rss_kib()
    readers = [reader() for _ in range(READERS)]
    flood = Flood(readers, invocation(ABUSIVE_TARGET), reopen=reader)
    with flood.start(duration=600):
        beside = measure()
        rss_during = server.rss_kib()
    run._settle()
    run.result["slow_readers"] = {
        "others": resized["live"],
        "readers": READERS,
        "alone": alone,
        "beside": beside,
        "invocations_sent": flood.sent,
        "closed_by_server": flood.closed_by_server,
        "rss_before_kib": rss_before,
        "rss_during_kib": rss_during,
        "rss_after_kib": server.rss_kib(),
    }
