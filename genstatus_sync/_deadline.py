"""A wall-clock bound on a whole HTTP request.

requests' read timeout bounds each socket read, not the request: a server that sends one byte
per second never trips it. Sessions the clients make mount ``DeadlineAdapter``, whose
connection pools note which connection the current thread's request uses; one daemon thread
(started at the first request) shuts that socket down if the request is still running at its
deadline, which ends the blocked read at once.
"""

import contextlib
import itertools
import os
import socket
import threading
import time
from typing import Any, Dict, Optional, Tuple

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_current = threading.local()


class Slot:
    """One request attempt: the connection it uses and whether its deadline cut it off."""

    __slots__ = ("conn", "expired")

    def __init__(self) -> None:
        self.conn: Any = None
        self.expired = False

    def expire(self) -> None:
        if self.conn is None:
            return  # a session without DeadlineAdapter: nothing to cut, nothing cut
        self.expired = True
        sock = getattr(self.conn, "sock", None)
        if sock is not None:
            # the plain socket's shutdown, also under TLS: the blocked read sees EOF now
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._armed: Dict[int, Tuple[float, Slot]] = {}
        self._tokens = itertools.count()
        self._wake_at: Optional[float] = None
        self._thread_pid: Optional[int] = None  # the process whose thread it is

    def arm(self, seconds: float, slot: Slot) -> int:
        deadline = time.monotonic() + seconds
        with self._cond:
            token = next(self._tokens)
            self._armed[token] = (deadline, slot)
            if self._thread_pid != os.getpid():  # first use, or a forked child without it
                if self._thread_pid is not None:  # the parent's requests are not ours to cut
                    self._armed = {token: self._armed[token]}
                self._thread_pid = os.getpid()
                threading.Thread(target=self._run, name="genstatus-deadline", daemon=True).start()
            elif self._wake_at is None or deadline < self._wake_at:
                self._cond.notify()
        return token

    def disarm(self, token: int) -> None:
        with self._cond:
            self._armed.pop(token, None)

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for token, (deadline, slot) in list(self._armed.items()):
                    if deadline <= now:
                        del self._armed[token]
                        slot.expire()
                self._wake_at = min((d for d, _ in self._armed.values()), default=None)
                self._cond.wait(None if self._wake_at is None else self._wake_at - now)


_watchdog = _Watchdog()


class Bound:
    """``with Bound(seconds) as slot:`` around one request; ``slot.expired`` tells afterwards
    whether the deadline cut it off."""

    __slots__ = ("slot", "_seconds", "_token")

    def __init__(self, seconds: float) -> None:
        self.slot = Slot()
        self._seconds = seconds

    def __enter__(self) -> Slot:
        _current.slot = self.slot
        self._token = _watchdog.arm(self._seconds, self.slot)
        return self.slot

    def __exit__(self, *exc_info: object) -> None:
        _watchdog.disarm(self._token)
        _current.slot = None


class _Noting:
    def _get_conn(self, timeout: Optional[float] = None) -> Any:
        conn = super()._get_conn(timeout)  # type: ignore[misc]
        slot = getattr(_current, "slot", None)
        if slot is not None:
            slot.conn = conn
        return conn


class _NotingPool(_Noting, HTTPConnectionPool):
    pass


class _NotingHTTPSPool(_Noting, HTTPSConnectionPool):
    pass


_POOLS = {"http": _NotingPool, "https": _NotingHTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """An HTTPAdapter whose pools let a ``Bound`` find and cut the request's socket."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if getattr(manager, "pool_classes_by_scheme", None) is not None and not proxy.lower(
        ).startswith("socks"):
            manager.pool_classes_by_scheme = _POOLS
        return manager


def new_session(base_url: str) -> requests.Session:
    """A requests Session for ``base_url`` whose requests a ``Bound`` can cut off.

    The environment's proxy and CA settings for ``base_url`` (HTTPS_PROXY, NO_PROXY,
    REQUESTS_CA_BUNDLE, ...) are read here, once: requests would scan os.environ again on
    every request, which costs about a third of a loopback poll. .netrc is not consulted:
    the clients authenticate with their key.
    """
    session = requests.Session()
    adapter = DeadlineAdapter()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    settings = session.merge_environment_settings(base_url, {}, None, None, None)
    session.trust_env = False
    session.proxies = settings["proxies"]
    session.verify = settings["verify"]
    return session
