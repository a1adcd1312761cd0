"""How much time the machine took from every process: what a test of a real-time bound may
excuse, and nothing else.

A separate process wakes every 5 ms and writes down each wake-up that came late (the machine
did not run it: other processes, a host that paused the VM). A test that measures a call in
real seconds adds the lateness seen during the call to its slack. The meter is another
process, so a call of ours that holds the GIL or spins is not excused: the meter runs on.
"""

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time

_METER = r"""
import sys, time
TICK, NOTE = 0.005, 0.01
print("ready", flush=True)
while True:
    before = time.monotonic()
    time.sleep(TICK)
    after = time.monotonic()
    if after - before - TICK > NOTE:
        print(f"{before!r} {after!r}", flush=True)
"""

_meter = None


def _start():
    global _meter
    folder = tempfile.mkdtemp(prefix="gs-stalls-")
    path = os.path.join(folder, "late.log")
    with open(path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-c", _METER], stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not _lines(path):
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError("the stall meter did not start")
        time.sleep(0.01)

    def stop():
        process.kill()
        process.wait()
        shutil.rmtree(folder, ignore_errors=True)

    atexit.register(stop)
    _meter = path


def _lines(path):
    with open(path) as log:
        return log.read().splitlines()


def stalled(started, ended):
    """Seconds between ``started`` and ``ended`` (time.monotonic(), shared by all processes)
    in which the meter was kept from running past its 5 ms sleeps."""
    if _meter is None:
        _start()
    time.sleep(0.02)  # a wake-up late past ``ended`` is written down by now
    total = 0.0
    for line in _lines(_meter)[1:]:
        before, after = map(float, line.split())
        total += max(0.0, min(after, ended) - max(before + 0.005, started))
    return total


def start():
    """Start the meter now (before the time a test measures): its first start takes a while."""
    if _meter is None:
        _start()
