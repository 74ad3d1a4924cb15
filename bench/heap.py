"""Where idle connections' memory goes: tracemalloc and gc inside the server.

``python -m bench.heap daphne|uvicorn|<module> ARGS...`` runs a server's
usual entry point with tracemalloc on. Each SIGUSR1 writes a snapshot and a
count of live objects by type into $BENCH_HEAP_DIR (``<n>.snapshot``,
``<n>.types.json``, then ``<n>.done``). `compare` turns two of them into a
per-connection breakdown. Tracing makes the server slow and larger; use it
to find what grows, and the plain run for how much RSS grows.
"""

from __future__ import annotations

import gc
import itertools
import json
import os
import runpy
import signal
import sys
import tracemalloc
from collections import Counter
from pathlib import Path
from types import FrameType

FRAMES = 15


def _type_name(obj: object) -> str:
    kind = type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


def _install(directory: Path) -> None:
    numbers = itertools.count()

    def dump(signum: int, frame: FrameType | None) -> None:
        n = next(numbers)
        gc.collect()
        tracemalloc.take_snapshot().dump(str(directory / f"{n}.snapshot"))
        types = Counter(_type_name(o) for o in gc.get_objects())
        (directory / f"{n}.types.json").write_text(json.dumps(types))
        (directory / f"{n}.done").touch()

    signal.signal(signal.SIGUSR1, dump)


def compare(directory: Path, before: int, after: int, connections: int, top: int = 25) -> str:
    """Per-connection growth between two dumps: allocation sites and object types."""
    first = tracemalloc.Snapshot.load(str(directory / f"{before}.snapshot"))
    second = tracemalloc.Snapshot.load(str(directory / f"{after}.snapshot"))
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    first, second = first.filter_traces(ignore), second.filter_traces(ignore)
    by_file = second.compare_to(first, "filename")
    total = sum(s.size_diff for s in by_file)
    lines = [
        f"Python heap growth (tracemalloc): {total / 1024 / connections:.1f} KiB per connection "
        f"over {connections} connections",
        "",
        "By file (KiB per connection, blocks per connection):",
        *_growth(by_file[:top], connections, with_line=False),
        "",
        "By line:",
        *_growth(second.compare_to(first, "lineno")[:top], connections, with_line=True),
    ]
    counts_before = Counter(json.loads((directory / f"{before}.types.json").read_text()))
    counts_after = Counter(json.loads((directory / f"{after}.types.json").read_text()))
    counts_after.subtract(counts_before)
    lines += ["", "Live gc-tracked objects per connection, by type:"]
    for name, count in counts_after.most_common(top):
        lines.append(f"{count / connections:7.2f}  {name}")
    return "\n".join(lines) + "\n"


def _growth(stats: list, connections: int, *, with_line: bool) -> list[str]:
    """One line per allocation site: KiB and blocks per connection, then where."""
    lines = []
    for stat in stats:
        frame = stat.traceback[0]
        where = _short(frame.filename) + (f":{frame.lineno}" if with_line else "")
        lines.append(
            f"{stat.size_diff / 1024 / connections:7.2f}  {stat.count_diff / connections:6.1f}"
            f"  {where}"
        )
    return lines


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def main() -> None:
    directory = Path(os.environ["BENCH_HEAP_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    tracemalloc.start(FRAMES)
    _install(directory)
    module, *args = sys.argv[1:]
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
