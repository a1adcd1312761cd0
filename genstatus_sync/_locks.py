"""A lock that a forked child gets afresh; and a thread's word that the call it works for
has ended.

A ``threading.Lock`` held by another thread at the moment of ``fork()`` stays held in the
child for good (the thread that would release it is not there), and the child's first wait,
rate budget or history read blocks forever. The clients' own locks (a rate budget's, a
duration history's) are these instead: a hook run in the child after each fork replaces every
one of them with a new, free lock. The hook is installed with the first lock, not on import.

``wait_all`` hands polls to threads of its own; once the call has ended (raised, or been
left), a poll of its that a thread has not sent yet (one waiting for its client's turn) is
dropped: the thread is tied to the call with ``abandon_with``, a rate budget's wait for a turn
ends early (``pause``), and the client asks ``abandoned()`` before it sends.
"""

import os
import threading
import time
import weakref
from typing import Any, Callable, Set, Tuple

__all__ = ["ForkSafeLock", "abandon_with", "abandoned", "at_fork", "pause"]

_made: "weakref.WeakSet[ForkSafeLock]" = weakref.WeakSet()
_hooks: Set[Tuple[str, Callable[[], None]]] = set()
_thread = threading.local()


def at_fork(when: str, hook: Callable[[], None]) -> None:
    """Run ``hook`` at every fork from now on (``when``: "before", or "after_in_child"),
    registered once however often it is asked for; where the platform has no fork hooks
    (Windows), nothing. Every fork hook of the package is registered here, on first need."""
    if (when, hook) not in _hooks and hasattr(os, "register_at_fork"):
        _hooks.add((when, hook))
        os.register_at_fork(**{when: hook})


class ForkSafeLock:
    """``with lock:`` as a ``threading.Lock``; free again in a forked child."""

    __slots__ = ("_lock", "__weakref__")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        at_fork("after_in_child", _renew_all)
        _made.add(self)

    def __enter__(self) -> bool:
        return self._lock.acquire()

    def __exit__(self, *exc_info: Any) -> None:
        self._lock.release()


def _renew_all() -> None:
    # in the child, before any of its threads: nothing can hold the new locks yet
    for lock in list(_made):
        lock._lock = threading.Lock()


def abandon_with(ended: threading.Event) -> None:
    """Tie this thread's requests to the call that set ``ended`` when it ended."""
    _thread.ended = ended


def abandoned() -> bool:
    """Whether the call this thread works for has ended (see ``abandon_with``): its requests
    not sent yet are then not sent. False in every thread not tied to a call."""
    ended = getattr(_thread, "ended", None)
    return ended is not None and ended.is_set()


def pause(sleep: Callable[[float], None], seconds: float) -> None:
    """``sleep(seconds)``; in a thread tied to a call, ended as soon as the call ends (when
    ``sleep`` is ``time.sleep``: a sleep of the caller's own is the caller's to end)."""
    ended = getattr(_thread, "ended", None)
    if ended is not None and sleep is time.sleep:
        ended.wait(seconds)
    else:
        sleep(seconds)
