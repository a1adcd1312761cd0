"""MockTransport: a client's HTTP replaced by a function, for unit tests without sockets."""

import json
from typing import Any, Callable, List, Mapping, Optional, Tuple

from .._transport import MAX_BODY_BYTES, Reply, Request
from ..errors import ResponseFormatError

__all__ = ["MockTransport", "json_reply"]


def json_reply(data: Any, status: int = 200, headers: Optional[Mapping[str, str]] = None) -> Reply:
    """A Reply whose body is ``data`` as JSON."""
    return Reply(status=status, headers={"Content-Type": "application/json", **(headers or {})},
                 body=json.dumps(data).encode())


class MockTransport:
    """Answers each request with ``handler(request)``: a ``Reply``, or an exception such as
    ``TransportError`` to raise. Requests are kept in ``requests``, in order.

    ``client = gs.RivyaClient(api_key="k", transport=MockTransport(handler))``
    """

    def __init__(self, handler: Callable[[Request], Reply]) -> None:
        if not callable(handler):  # (else a TypeError at the first request, deep in a client)
            raise TypeError(f"MockTransport takes a function of a Request, got "
                            f"{type(handler).__name__}")
        self.handler = handler
        self.requests: List[Request] = []

    def get(self, request: Request, *, timeout: Tuple[float, float], total: Optional[float],
            max_bytes: int = MAX_BODY_BYTES) -> Reply:
        self.requests.append(request)
        reply = self.handler(request)
        if not isinstance(reply, Reply):
            raise TypeError(f"the handler returned {type(reply).__name__}, not a Reply")
        # (a mistake in the test's handler, named here rather than deep in the client)
        if isinstance(reply.status, bool) or not isinstance(reply.status, int):
            raise TypeError(f"the handler's Reply has a status of {type(reply.status).__name__},"
                            " not an int")
        if not isinstance(reply.body, bytes):
            raise TypeError(f"the handler's Reply has a body of {type(reply.body).__name__}, "
                            "not bytes (json_reply() encodes one)")
        for name, value in reply.headers.items():
            if not isinstance(name, str) or not isinstance(value, str):
                raise TypeError(f"the handler's Reply has a header {name!r}: {value!r}; "
                                "header names and values are strings")
        if len(reply.body) > max_bytes:
            raise ResponseFormatError(f"reply is larger than {max_bytes} bytes; not read",
                                      status_code=reply.status, body="")
        return reply

    def close(self) -> None:
        pass
