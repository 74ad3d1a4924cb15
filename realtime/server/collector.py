"""The cyclic garbage collector of a server process, tuned for many live connections.

CPython collects its youngest generation after every 700 net allocations of
container objects and, every hundred such collections, the whole heap once
the long-lived objects have grown by a quarter. A process that is taking
on connections grows its long-lived heap all the time, so it walks every
object it holds again and again: while 5,000 clients opened (bench/'s idle
scenario, measured with `gc.callbacks`), the collector ran 19 full
collections and took 4.9 s of the 17.7 s of CPU the openings cost, about
1 ms per opening (bench/results/FINDINGS.md, fifth pass).

`settle` runs once, when the server starts serving:

- what the process holds by then (Django, the URL conf, the hubs: about
  100,000 objects) is moved out of every later collection (`gc.freeze`),
  as servers that fork workers do; objects in it that become unreachable
  are still freed by reference counting;
- the youngest generation is collected after `YOUNG` allocations instead
  of 700, so the older ones, and the whole heap, are walked 14 times less
  often. Cycles are still collected, only in larger batches: at most
  `YOUNG` young objects wait for a collection.

Rarer full collections keep cyclic garbage that reached the oldest
generation longer, so a server should make little of it: the one cycle
every opening left (daphne's upgrade channel and request) is broken in
`realtime.server.serve.release_http_channel`. Measured together against
the revision before (`bench ab`, 6 rounds, 5,000 clients opening 400 at a
time): CPU per opening 0.73x, RSS per idle connection unchanged; this
alone, without the cycle broken, cost 8 % more RSS per idle connection.
"""

from __future__ import annotations

import gc

#: Net container allocations between collections of the youngest generation.
YOUNG = 10_000
#: The older generations keep CPython's ratios.
OLDER = (10, 10)


def settle() -> None:
    """Freeze what the process holds now and collect young objects in larger batches."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, *OLDER)
