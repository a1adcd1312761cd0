"""Test helpers: ``FakeProviders``, a real local HTTP server that speaks all four APIs.

Standard library only, so it can run wherever the SDK runs; see ``FakeProviders``.
"""

from ._fake import FakeProviders, RecordedRequest

__all__ = ["FakeProviders", "RecordedRequest"]
