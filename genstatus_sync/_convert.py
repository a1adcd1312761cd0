"""Decoded JSON into the generated models and back: ``structure`` and the one cattrs
Converter.

``structure`` runs the model's generated structure function (strict checks from
``_strict``, no cattrs); only when it fails is the cattrs converter built (cattrs is imported
then, not before) to say where and why in JSON terms. ``unstructure`` writes models back as
the provider's JSON. Both paths apply the same strict rules.
"""

import sys
from datetime import datetime
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    List,
    Optional,
    Tuple,
    Type,
    TypeVar,
    Union,
)

import attrs

from ._open_enum import OpenEnum
from ._strict import (
    Mismatch,
    boolean,
    enum,
    expected,
    format_datetime,
    integer,
    number,
    obj,
    parse_datetime,
    string,
)
from .errors import ResponseFormatError

if TYPE_CHECKING:
    from cattrs import Converter

__all__ = ["configure_converter", "make_converter", "problems", "structure", "unstructure",
           "format_datetime", "parse_datetime"]

T = TypeVar("T")


def _unstructure_enum(value: OpenEnum) -> str:
    return str(value.value)


class _ItemErrors(ValueError):
    """Errors of some items of a JSON array, by index (detailed validation only)."""

    def __init__(self, errors: List[Tuple[int, BaseException]]) -> None:
        super().__init__(f"{len(errors)} bad items")
        self.errors = errors


def _list_hook(converter: "Converter") -> Callable[[Any], Callable[[Any, Any], List[Any]]]:
    # cattrs' own list hook would take any iterable, so that "abc" became ["a", "b", "c"].
    def factory(list_type: Any) -> Callable[[Any, Any], List[Any]]:
        (item_type,) = getattr(list_type, "__args__", None) or (Any,)

        def structure_list(value: Any, _: Any = None) -> List[Any]:
            if value.__class__ is not list:
                raise expected("an array", value)
            if item_type is Any:
                return list(value)
            items = []
            errors: List[Tuple[int, BaseException]] = []
            for index, item in enumerate(value):
                try:
                    items.append(converter.structure(item, item_type))
                except Exception as exc:  # noqa: BLE001 - collected, reported by problems()
                    errors.append((index, exc))
            if errors:
                raise _ItemErrors(errors)
            return items

        return structure_list

    return factory


def _is_optional(typ: Any) -> bool:
    args = getattr(typ, "__args__", ())
    return getattr(typ, "__origin__", None) is Union and len(args) == 2 and type(None) in args


def _optional_hook(converter: "Converter") -> Callable[[Any], Callable[[Any, Any], Any]]:
    def factory(optional_type: Any) -> Callable[[Any, Any], Any]:
        inner = next(arg for arg in optional_type.__args__ if arg is not type(None))

        def structure_optional(value: Any, _: Any = None) -> Any:
            return None if value is None else converter.structure(value, inner)

        return structure_optional

    return factory


def _json_key(field: "attrs.Attribute[Any]") -> str:
    key = field.metadata.get("json", field.name)
    assert isinstance(key, str)
    return key


def _attrs_structure_hook(converter: "Converter") -> Callable[[type], Callable[[Any, type], Any]]:
    from cattrs.gen import make_dict_structure_fn, override

    def factory(cls: type) -> Callable[[Any, type], Any]:
        renames = {f.name: override(rename=_json_key(f)) for f in attrs.fields(cls)}
        build: Callable[[Any, type], Any] = make_dict_structure_fn(
            cls, converter, **renames  # type: ignore[arg-type]
        )

        def structure_object(value: Any, typ: type) -> Any:
            if not isinstance(value, dict):
                raise expected("an object", value)
            return build(value, typ)

        return structure_object

    return factory


def _attrs_unstructure_hook(converter: "Converter") -> Callable[[type], Callable[[Any], Any]]:
    from cattrs.gen import make_dict_unstructure_fn, override

    def factory(cls: type) -> Callable[[Any], Any]:
        renames = {}
        for f in attrs.fields(cls):
            omit = f.metadata.get("omit_if_none", False)
            renames[f.name] = override(rename=_json_key(f), omit_if_default=omit)
        return make_dict_unstructure_fn(cls, converter, **renames)  # type: ignore[arg-type]

    return factory


def configure_converter(converter: "Converter") -> None:
    """Teach ``converter`` the JSON of the generated models. It registers:

    * ``str``, ``int``, ``float``, ``bool``: strict; a value of another JSON type is an error,
      never coerced (cattrs would turn ``"false"`` into True and ``200.7`` into 200);
    * ``OpenEnum`` subclasses (the status enums): unknown strings are kept as members;
    * ``datetime``: ISO 8601 with ``Z`` or an offset and any fraction, written back as ``...Z``;
    * lists: only JSON arrays (cattrs would take any iterable, even a string);
    * ``Optional[X]``: None, or X;
    * ``Dict[str, Any]``: free-form JSON objects, kept as sent;
    * every attrs class: keys renamed by each field's ``metadata["json"]``, unknown keys
      ignored, a non-object rejected, and optional non-nullable fields omitted when None.
    """
    converter.register_structure_hook(str, string)
    converter.register_structure_hook(int, integer)
    converter.register_structure_hook(float, number)
    converter.register_structure_hook(bool, boolean)
    converter.register_structure_hook(OpenEnum, enum)
    converter.register_unstructure_hook(OpenEnum, _unstructure_enum)
    converter.register_structure_hook(datetime, parse_datetime)
    converter.register_unstructure_hook(datetime, format_datetime)
    converter.register_structure_hook_func(lambda t: t == Dict[str, Any], obj)
    converter.register_structure_hook_factory(
        lambda t: getattr(t, "__origin__", None) is list, _list_hook(converter)
    )
    converter.register_structure_hook_factory(_is_optional, _optional_hook(converter))
    converter.register_structure_hook_factory(attrs.has, _attrs_structure_hook(converter))
    converter.register_unstructure_hook_factory(attrs.has, _attrs_unstructure_hook(converter))


def make_converter(*, detailed_validation: bool = True) -> "Converter":
    """Return a new converter configured for the generated models."""
    from cattrs import Converter

    converter = Converter(detailed_validation=detailed_validation)
    configure_converter(converter)
    return converter


_detailed: "Optional[Converter]" = None
_fast: Dict[type, Callable[[Any], Any]] = {}


def structure(data: Any, cls: Type[T], *, provider: str) -> T:
    """Return decoded JSON as ``cls``; raises ResponseFormatError naming the bad JSON paths."""
    build = _fast.get(cls)
    if build is None:
        build = _fast[cls] = sys.modules[cls.__module__].STRUCTURE[cls]
    try:
        return build(data)  # type: ignore[no-any-return]
    except Exception:  # noqa: BLE001 - told apart below, by the detailed converter
        pass
    found = problems(data, cls)
    shown = "; ".join(found[:5]) + ("; ..." if len(found) > 5 else "")
    raise ResponseFormatError(
        f"{provider}: reply does not fit {cls.__name__}: {shown}", provider=provider
    ) from None


def _converter() -> "Converter":
    global _detailed
    if _detailed is None:
        _detailed = make_converter()
    return _detailed


def problems(data: Any, cls: Type[Any]) -> List[str]:
    """What is wrong with ``data`` as ``cls``: ``"$.json.path: problem"`` lines."""
    try:
        _converter().structure(data, cls)
    except Exception as exc:  # noqa: BLE001 - every failure is described
        return _describe(exc, "$")
    return ["$: the reply could not be read"]  # pragma: no cover - the two paths disagree


def unstructure(obj: Any) -> Any:
    """Return a model as JSON-ready data with the provider's keys."""
    return _converter().unstructure(obj)


def _describe(exc: BaseException, path: str) -> List[str]:
    """Flatten a cattrs validation error into ``"$.json.path: problem"`` lines."""
    from cattrs.errors import BaseValidationError, ClassValidationError

    if isinstance(exc, ClassValidationError):
        keys = {f.name: _json_key(f) for f in attrs.fields(exc.cl)} if attrs.has(exc.cl) else {}
        noted, bare = exc.group_exceptions()
        lines = []
        for sub, note in noted:
            lines += _describe(sub, f"{path}.{keys.get(note.name, note.name)}")
        for sub in bare:
            lines += _describe(sub, path)
        return lines
    if isinstance(exc, _ItemErrors):
        return [line for index, sub in exc.errors for line in _describe(sub, f"{path}[{index}]")]
    if isinstance(exc, BaseValidationError):
        return [line for sub in exc.exceptions for line in _describe(sub, path)]
    if isinstance(exc, KeyError):
        return [f"{path}: required field missing"]
    if isinstance(exc, Mismatch):
        return [f"{path}: {exc}"]
    if isinstance(exc, RecursionError):
        return [f"{path}: nested too deeply"]
    return [f"{path}: {type(exc).__name__}: {str(exc)[:80]}"]
