"""Test helpers.

* ``FakeProviders``: a real local HTTP server that speaks all four APIs (standard library
  only), for tests over real sockets;
* ``MockTransport``: a client's HTTP replaced by a function, for unit tests without sockets
  (``Reply``, ``Request`` and ``json_reply`` go with it).
"""

from .._transport import Reply, Request
from ._fake import FakeProviders, RecordedRequest
from ._mock import MockTransport, json_reply

__all__ = ["FakeProviders", "MockTransport", "RecordedRequest", "Reply", "Request", "json_reply"]
