"""A lock that a forked child gets afresh; and a thread's word that the call it works for
has ended.

A ``threading.Lock`` held by another thread at the moment of ``fork()`` stays held in the
child for good (the thread that would release it is not there), and the child's first wait,
rate budget or history read blocks forever. The clients' own locks (a rate budget's, a
duration history's) are made by ``fork_safe_lock`` instead: a hook run in the child after each
fork gives every owner of one a new, free lock. The hook is installed with the first lock, not
on import. They are plain locks, taken with ``with owner._lock:``: a lock's own ``__enter__``
is C code, where a wrapper's, in Python, could be interrupted by a signal (Ctrl-C) just after
taking the lock, before the ``with`` block begins, and leave it held for good.

``wait_all`` hands polls to threads of its own; once the call has ended (raised, or been
left), a poll of its that a thread has not sent yet (one waiting for its client's turn) is
dropped: the thread is tied to the call with ``abandon_with``, a rate budget's wait for a turn
ends early (``pause``), and the client asks ``abandoned()`` before it sends.
"""

import os
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, Callable, Set, Tuple

if TYPE_CHECKING:
    from _thread import LockType

__all__ = ["abandon_with", "abandoned", "at_fork", "fork_safe_lock", "pause"]

_owners: "weakref.WeakSet[Any]" = weakref.WeakSet()
_hooks: Set[Tuple[str, Callable[[], None]]] = set()
_thread = threading.local()


def at_fork(when: str, hook: Callable[[], None]) -> None:
    """Run ``hook`` at every fork from now on (``when``: "before", or "after_in_child"),
    registered once however often it is asked for; where the platform has no fork hooks
    (Windows), nothing. Every fork hook of the package is registered here, on first need."""
    if (when, hook) not in _hooks and hasattr(os, "register_at_fork"):
        _hooks.add((when, hook))
        os.register_at_fork(**{when: hook})


def fork_safe_lock(owner: Any) -> "LockType":
    """A new lock for ``owner._lock``; in a forked child, ``owner._lock`` is a new, free one."""
    at_fork("after_in_child", _renew_all)
    _owners.add(owner)
    return threading.Lock()


def _renew_all() -> None:
    # in the child, before any of its threads: nothing can hold the new locks yet
    for owner in list(_owners):
        owner._lock = threading.Lock()


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
