"""genstatus_sync: read and wait for the status of AI generation jobs (Sivi, Rivya, SellerPic,
Clipia) from synchronous code.

Public names are imported lazily: ``import genstatus_sync`` loads neither ``requests`` nor a
provider client until one is used.
"""

from typing import TYPE_CHECKING, Any, Dict, List

from ._registry import CLIENTS
from ._version import __version__ as __version__

if TYPE_CHECKING:  # what the names below are, for type checkers
    from ._download import *  # noqa: F403
    from ._job import *  # noqa: F403
    from ._wait import *  # noqa: F403
    from .backoff import *  # noqa: F403
    from .errors import *  # noqa: F403
    from .history import *  # noqa: F403
    from .providers.clipia import *  # noqa: F403
    from .providers.rivya import *  # noqa: F403
    from .providers.sellerpic import *  # noqa: F403
    from .providers.sivi import *  # noqa: F403
    from .status import *  # noqa: F403

# The public names, each with the module that defines it (and lists it in its __all__).
_LAZY: Dict[str, str] = {
    **{name: module for module, name in CLIENTS.values()},
    "APIError": "errors",
    "AuthenticationError": "errors",
    "Backoff": "backoff",
    "ConfigurationError": "errors",
    "DurationHistory": "history",
    "GenStatusError": "errors",
    "GenerationFailed": "errors",
    "Job": "_job",
    "JobStatus": "status",
    "NotFoundError": "errors",
    "PermissionDeniedError": "errors",
    "RateLimitError": "errors",
    "ResponseFormatError": "errors",
    "ResultNotReady": "errors",
    "ServerError": "errors",
    "State": "status",
    "Step": "_job",
    "TransportError": "errors",
    "WaitTimeout": "errors",
    "WebhookVerificationError": "errors",
    "download": "_download",
    "wait": "_wait",
    "wait_all": "_wait",
}

__all__ = sorted([*_LAZY, "__version__"])

if not TYPE_CHECKING:  # hidden from type checkers, so that a misspelt name is an error

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
