"""realtime.server.lazy_debug: autobahn's debug lines read the same, dropped ones cost nothing.

Runs in a child process: installing changes autobahn's modules for good.
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import io, json, sys
from pprint import pformat
import txaio
txaio.use_twisted()
from autobahn import util
from autobahn.websocket import protocol
from autobahn.twisted import websocket
from realtime.server import lazy_debug

class Peer:
    def sendData(self):
        pass

before = {
    "hltype": util.hltype(Peer().sendData),
    "hlval": util.hlval(1234),
}
lazy_debug.install()
lazy_debug.install()  # twice: still one layer
report = {"installed": lazy_debug.installed()}
report["same_text"] = {
    "hltype": str(protocol.hltype(Peer().sendData)) == before["hltype"],
    "hlval": f"{protocol.hlval(1234)}" == before["hlval"],
    "twisted_hltype": str(websocket.hltype(Peer().sendData)) == before["hltype"],
    "pformat": str(protocol.pformat({"b": [1, 2], "a": 3})) == pformat({"b": [1, 2], "a": 3}),
}
report["one_layer"] = not hasattr(protocol.hltype.original, "original")
timings = protocol.Timings()
timings.track("x")
report["timings_str"] = isinstance(str(timings), str) and "x" in str(timings)

calls = []
def expensive(value):
    calls.append(value)
    return f"<{value}>"

out = io.StringIO()
txaio.start_logging(out=out, level="info")
log = txaio.make_logger()
log.debug("dropped {value}", value=lazy_debug.Deferred(expensive, "quiet"))
report["dropped_line_formatted"] = bool(calls)
txaio.set_global_log_level("debug")
log.debug("written {value} by {func}", value=lazy_debug.Deferred(expensive, "loud"),
          func=protocol.hltype(Peer().sendData))
report["written_line"] = "written <loud>" in out.getvalue() and "sendData" in out.getvalue()
# Twisted's logging took over sys.stdout: write to the real one.
sys.__stdout__.write(json.dumps(report) + "\n")
"""


def test_debug_helpers_defer_their_work_and_read_the_same():
    completed = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["installed"]
    assert report["same_text"] == {
        "hltype": True, "hlval": True, "twisted_hltype": True, "pformat": True
    }  # fmt: skip
    assert report["one_layer"]
    assert report["timings_str"]
    assert not report["dropped_line_formatted"]
    assert report["written_line"]
