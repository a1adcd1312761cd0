"""Test helpers.

* ``FakeProviders``: a real local HTTP server that speaks all four APIs (standard library
  only), for tests over real sockets; it pushes signed webhooks too (``WebhookDelivery``);
* ``MockTransport``: a client's HTTP replaced by a function, for unit tests without sockets
  (``Reply``, ``Request`` and ``json_reply`` go with it).
"""

from .._transport import Reply, Request
from ._fake import FakeProviders, RecordedRequest
from ._mock import MockTransport, json_reply
from ._webhooks import WebhookDelivery

__all__ = ["FakeProviders", "MockTransport", "RecordedRequest", "Reply", "Request",
           "WebhookDelivery", "json_reply"]
