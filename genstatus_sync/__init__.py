"""genstatus_sync: read and wait for the status of AI generation jobs (Sivi, Rivya, SellerPic,
Clipia) from synchronous code.

Public names are imported lazily: ``import genstatus_sync`` loads neither ``requests`` nor a
provider client until one is used.
"""

from typing import TYPE_CHECKING, Any, Dict, List

from ._version import __version__

if TYPE_CHECKING:
    from ._wait import wait, wait_all
    from .backoff import Backoff
    from .errors import (
        APIError,
        AuthenticationError,
        ConfigurationError,
        GenerationFailed,
        GenStatusError,
        NotFoundError,
        PermissionDeniedError,
        RateLimitError,
        ResponseFormatError,
        ResultNotReady,
        ServerError,
        TransportError,
        WaitTimeout,
    )
    from .providers.clipia import ClipiaClient
    from .providers.rivya import RivyaClient
    from .providers.sellerpic import SellerPicClient
    from .providers.sivi import SiviClient
    from .status import JobStatus, State

_LAZY: Dict[str, str] = {
    "APIError": "errors",
    "AuthenticationError": "errors",
    "Backoff": "backoff",
    "ClipiaClient": "providers.clipia",
    "RivyaClient": "providers.rivya",
    "SellerPicClient": "providers.sellerpic",
    "SiviClient": "providers.sivi",
    "wait": "_wait",
    "wait_all": "_wait",
    "ConfigurationError": "errors",
    "GenStatusError": "errors",
    "GenerationFailed": "errors",
    "JobStatus": "status",
    "NotFoundError": "errors",
    "PermissionDeniedError": "errors",
    "RateLimitError": "errors",
    "ResponseFormatError": "errors",
    "ResultNotReady": "errors",
    "ServerError": "errors",
    "State": "status",
    "TransportError": "errors",
    "WaitTimeout": "errors",
}

__all__ = [
    "APIError",
    "AuthenticationError",
    "Backoff",
    "ClipiaClient",
    "ConfigurationError",
    "GenStatusError",
    "GenerationFailed",
    "JobStatus",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseFormatError",
    "ResultNotReady",
    "RivyaClient",
    "SellerPicClient",
    "ServerError",
    "SiviClient",
    "State",
    "TransportError",
    "WaitTimeout",
    "__version__",
    "wait",
    "wait_all",
]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module_name}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))
