"""realtime.server.collector: the server's collector, settled when it serves.

The collector's state belongs to the process, so each check runs in a child.
"""

from realtime.server.collector import OLDER, YOUNG
from tests.support.processes import run_child

SERVED = r"""
from tests.support.processes import accepts, wait_until
from tests.support.reactor_child import echo, free_port, serve
import gc, json, sys

which = sys.argv[1]
report = {"before": [list(gc.get_threshold()), gc.get_freeze_count()]}
port = free_port()

def clients(server):
    from websockets.sync.client import connect
    wait_until(lambda: accepts(port), timeout=10)
    with connect(f"ws://127.0.0.1:{port}/ws", open_timeout=10) as ws:
        ws.send("hello")
        report["echo"] = ws.recv(timeout=5)
    report["serving"] = [list(gc.get_threshold()), gc.get_freeze_count()]

serve(which, echo, port, clients, limit=30)
print(json.dumps(report))
"""

CYCLES = r"""
import gc, json, weakref
from realtime.server import collector

collector.settle()
freed = [0]

class Node:
    pass

def count(_):
    freed[0] += 1

keep = []
for _ in range(100_000):
    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle: reference counting alone never frees it
    keep.append(weakref.ref(a, count))
print(json.dumps({"made": 100_000, "freed": freed[0], "pending": gc.get_count()[0]}))
"""


def test_ours_settles_the_collector_when_it_serves_and_stock_daphne_does_not():
    ours, stderr = run_child(SERVED, "ours")
    stock, _ = run_child(SERVED, "stock")
    assert ours["echo"] == stock["echo"] == "echo hello", stderr[-2000:]
    assert ours["before"] == stock["before"] == [[700, 10, 10], 0]
    assert stock["serving"] == [[700, 10, 10], 0]
    threshold, frozen = ours["serving"]
    assert threshold == [YOUNG, *OLDER]
    # Django, the URL conf and the hubs, loaded before serving, are frozen.
    assert frozen > 10_000


def test_cycles_made_after_settling_are_still_collected_without_being_asked():
    report, stderr = run_child(CYCLES)
    # Every batch of YOUNG allocations is collected; only the last batch waits.
    assert report["freed"] >= report["made"] - YOUNG, stderr[-2000:]
    assert report["pending"] <= YOUNG
