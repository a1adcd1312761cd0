"""The providers, in one place: name -> the module and class of its client.

Nothing here imports a client: ``client_class`` loads the one asked for.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any, Dict, Tuple, Type

from ._config import shown
from .errors import ConfigurationError

if TYPE_CHECKING:
    from ._http import BaseClient

CLIENTS: Dict[str, Tuple[str, str]] = {
    "sivi": ("providers.sivi", "SiviClient"),
    "rivya": ("providers.rivya", "RivyaClient"),
    "sellerpic": ("providers.sellerpic", "SellerPicClient"),
    "clipia": ("providers.clipia", "ClipiaClient"),
}
PROVIDERS: Tuple[str, ...] = tuple(CLIENTS)


def check_provider(provider: object) -> str:
    """``provider`` when it names one; else ConfigurationError (also a ValueError)."""
    if not isinstance(provider, str) or provider not in CLIENTS:
        raise ConfigurationError(f"unknown provider {shown(provider)}; one of "
                                 f"{', '.join(PROVIDERS)}")
    return provider


def client_class(provider: str) -> "Type[BaseClient[Any, Any]]":
    """The client class of ``provider``; ConfigurationError for a name not in PROVIDERS."""
    module, name = CLIENTS[check_provider(provider)]
    cls: Type[BaseClient[Any, Any]] = getattr(import_module(f".{module}", __package__), name)
    return cls
