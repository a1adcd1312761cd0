"""How much time the machine took from every process: what a test of a real-time bound may
excuse, and nothing else.

A separate process wakes every 5 ms and writes down each wake-up that came late (the machine
did not run it: other processes, a host that paused the VM). A test that measures a call in
real seconds adds the lateness seen during the call to its slack, at most ``MOST`` seconds.
The meter is another process, so a call of ours that holds the GIL or spins is not excused:
the meter runs on.
"""

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

MOST = 0.5  # seconds of stalls a bound excuses at most: a regression past it always shows
# the meter sleeps TICK seconds at a time; each gap between two wake-ups (the sleep and the
# loop around it) longer than TICK by more than NOTE is written down
TICK, NOTE = 0.005, 0.01
_SEEN = 0.02  # by this long after a moment, a wake-up late past it is written down

# (it ends when the process that started it is gone)
_METER = r"""
import os, sys, time
TICK, NOTE, PARENT = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
print("ready", flush=True)
last = time.monotonic()
while os.getppid() == PARENT:
    time.sleep(TICK)
    now = time.monotonic()
    if now - last - TICK > NOTE:
        print(f"{last!r} {now!r}", flush=True)
    last = now
"""

_meter = None
_starting = threading.Lock()


def _start():
    global _meter
    folder = tempfile.mkdtemp(prefix="gs-stalls-")
    path = os.path.join(folder, "late.log")
    with open(path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-c", _METER, str(TICK), str(NOTE),
                                    str(os.getpid())],
                                   stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not _lines(path):
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError("the stall meter did not start")
        time.sleep(0.01)
    owner = os.getpid()

    def stop():
        if os.getpid() == owner:  # (not in a forked child that exits)
            process.kill()
            process.wait()
            shutil.rmtree(folder, ignore_errors=True)

    atexit.register(stop)
    _meter = path


def _lines(path):
    """The meter's complete lines (a line being written is left for later)."""
    with open(path) as log:
        text = log.read()
    return text[:text.rfind("\n") + 1].splitlines()


def start():
    """Start the meter now (before the time a test measures): its first start takes a while."""
    with _starting:
        if _meter is None:
            _start()


def stalled(started, ended):
    """Seconds between ``started`` and ``ended`` (time.monotonic(), shared by all processes)
    in which the meter was kept from running past its sleeps, at most ``MOST``."""
    start()
    time.sleep(max(0.0, ended + _SEEN - time.monotonic()))
    total = 0.0
    for line in _lines(_meter)[1:]:
        before, after = map(float, line.split())
        total += max(0.0, min(after, ended) - max(before + TICK, started))
    return min(MOST, total)
