"""The providers, in one place: name -> the module and class of its client.

Nothing here imports a client: ``client_class`` loads the one asked for.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any, Dict, Tuple, Type

if TYPE_CHECKING:
    from ._http import BaseClient

CLIENTS: Dict[str, Tuple[str, str]] = {
    "sivi": ("providers.sivi", "SiviClient"),
    "rivya": ("providers.rivya", "RivyaClient"),
    "sellerpic": ("providers.sellerpic", "SellerPicClient"),
    "clipia": ("providers.clipia", "ClipiaClient"),
}
PROVIDERS: Tuple[str, ...] = tuple(CLIENTS)


def client_class(provider: str) -> "Type[BaseClient[Any, Any]]":
    """The client class of ``provider``; raises ValueError for a name not in PROVIDERS."""
    if provider not in CLIENTS:
        raise ValueError(f"unknown provider {provider!r}; one of {', '.join(PROVIDERS)}")
    module, name = CLIENTS[provider]
    cls: Type[BaseClient[Any, Any]] = getattr(import_module(f".{module}", __package__), name)
    return cls
