"""Where a server's time goes: py-spy on its PID, and a summary of the samples.

py-spy writes collapsed stacks ("raw", which speedscope also opens); the
summary lists the functions with the most samples on top of the stack
(self) and anywhere in it (inclusive), as percentages of busy samples.
"""

from __future__ import annotations

import logging
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

logger = logging.getLogger(__name__)

RATE = 250
TOP = 30


def py_spy() -> str:
    """Return the py-spy executable next to this interpreter, or on PATH."""
    local = Path(sys.executable).with_name("py-spy")
    if local.exists():
        return str(local)
    found = shutil.which("py-spy")
    if not found:
        raise FileNotFoundError("py-spy is not installed (pip install py-spy)")
    return found


class Profiler:
    """Sample one process from construction until `stop`."""

    def __init__(self, pid: int, stem: Path) -> None:
        self.raw = stem.with_suffix(".collapsed.txt")
        self.summary = stem.with_suffix(".summary.txt")
        self.raw.parent.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                py_spy(), "record", "--pid", str(pid), "--rate", str(RATE), "--format", "raw",
                "--output", str(self.raw), "--nonblocking", "--function",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip

    def stop(self) -> None:
        """Stop sampling (SIGINT makes py-spy write its file) and summarise."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.raw.exists():
            self.summary.write_text(summarize(self.raw.read_text()))
            logger.info("profile written to %s", self.summary)
        else:
            logger.warning("py-spy wrote nothing: %s", self.process.stderr.read().decode()[-500:])


def summarize(collapsed: str, top: int = TOP) -> str:
    """Top functions by self and inclusive samples, from collapsed stacks."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"{total} busy samples at {RATE} Hz", "", "self %  function"]
    lines += [f"{100 * n / total:6.1f}  {frame}" for frame, n in own.most_common(top)]
    lines += ["", "incl %  function"]
    lines += [f"{100 * n / total:6.1f}  {frame}" for frame, n in inclusive.most_common(top)]
    return "\n".join(lines) + "\n"
