"""A lock that a forked child gets afresh.

A ``threading.Lock`` held by another thread at the moment of ``fork()`` stays held in the
child for good (the thread that would release it is not there), and the child's first wait,
rate budget or history read blocks forever. The clients' own locks (a rate budget's, a
duration history's) are these instead: a hook run in the child after each fork replaces every
one of them with a new, free lock. The hook is installed with the first lock, not on import.
"""

import os
import threading
import weakref
from typing import Any

__all__ = ["ForkSafeLock"]

_made: "weakref.WeakSet[ForkSafeLock]" = weakref.WeakSet()
_hook_installed = False


class ForkSafeLock:
    """``with lock:`` as a ``threading.Lock``; free again in a forked child."""

    __slots__ = ("_lock", "__weakref__")

    def __init__(self) -> None:
        global _hook_installed
        self._lock = threading.Lock()
        if not _hook_installed and hasattr(os, "register_at_fork"):
            _hook_installed = True
            os.register_at_fork(after_in_child=_renew_all)
        _made.add(self)

    def __enter__(self) -> bool:
        return self._lock.acquire()

    def __exit__(self, *exc_info: Any) -> None:
        self._lock.release()


def _renew_all() -> None:
    # in the child, before any of its threads: nothing can hold the new locks yet
    for lock in list(_made):
        lock._lock = threading.Lock()
