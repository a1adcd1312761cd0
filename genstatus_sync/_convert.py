"""The one cattrs converter: JSON replies in, generated attrs models out, and back.

``structure`` runs a converter without detailed validation (fast); only when that fails does
it run a detailed one again, to say where and why in JSON terms.
"""

import re
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, List, Optional, Tuple, Type, TypeVar

import attrs
from cattrs import Converter
from cattrs.errors import BaseValidationError, ClassValidationError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._open_enum import OpenEnum
from .errors import ResponseFormatError

__all__ = ["configure_converter", "make_converter", "structure", "unstructure"]

T = TypeVar("T")

_DATETIME = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:[.,](\d+))?"
    r"(?:([Zz])|([+-])(\d\d):?(\d\d))?",
    re.ASCII,
)


class _Mismatch(ValueError):
    """A JSON value of the wrong kind; its message says what was expected."""


def _kind(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
             int: "an integer", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _expected(what: str, value: object) -> _Mismatch:
    return _Mismatch(f"expected {what}, got {_kind(value)}")


def _structure_str(value: object, _: type) -> str:
    if isinstance(value, str):
        return value
    raise _expected("a string", value)


def _structure_int(value: object, _: type) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _expected("an integer", value)


def _structure_float(value: object, _: type) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            raise _Mismatch("number out of range") from None
    raise _expected("a number", value)


def _structure_bool(value: object, _: type) -> bool:
    if isinstance(value, bool):
        return value
    raise _expected("a boolean", value)


def _structure_enum(value: object, cls: Type[OpenEnum]) -> OpenEnum:
    if isinstance(value, str):
        return cls(value)
    raise _expected("a string", value)


def _unstructure_enum(value: OpenEnum) -> str:
    return str(value.value)


def _structure_dict(value: object, _: type) -> Dict[str, Any]:
    if isinstance(value, dict):
        return value
    raise _expected("an object", value)


class _ItemErrors(ValueError):
    """Errors of some items of a JSON array, by index (detailed validation only)."""

    def __init__(self, errors: List[Tuple[int, BaseException]]) -> None:
        super().__init__(f"{len(errors)} bad items")
        self.errors = errors


def _list_hook(converter: Converter) -> Callable[[Any], Callable[[Any, Any], List[Any]]]:
    # cattrs' own list hook would take any iterable, so that "abc" became ["a", "b", "c"].
    detailed = converter.detailed_validation

    def factory(list_type: Any) -> Callable[[Any, Any], List[Any]]:
        (item_type,) = getattr(list_type, "__args__", None) or (Any,)

        def structure_list(value: Any, _: Any) -> List[Any]:
            if not isinstance(value, list):
                raise _expected("an array", value)
            if item_type is Any:
                return list(value)
            if not detailed:
                return [converter.structure(item, item_type) for item in value]
            items = []
            errors: List[Tuple[int, BaseException]] = []
            for index, item in enumerate(value):
                try:
                    items.append(converter.structure(item, item_type))
                except Exception as exc:  # noqa: BLE001 - collected, reported by _describe
                    errors.append((index, exc))
            if errors:
                raise _ItemErrors(errors)
            return items

        return structure_list

    return factory


def parse_datetime(value: object, _: type = datetime) -> datetime:
    """Parse an RFC 3339 / ISO 8601 date-time (``Z``, offsets, any fraction) on every Python."""
    if not isinstance(value, str):
        raise _expected("a date-time string", value)
    match = _DATETIME.fullmatch(value)
    if match is None:
        raise _Mismatch(f"expected an ISO 8601 date-time, got {value[:40]!r}")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    tz: Optional[timezone] = None
    if zulu:
        tz = timezone.utc
    elif sign:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        tz = timezone(-offset if sign == "-" else offset)
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                        micro, tzinfo=tz)
    except ValueError as exc:
        raise _Mismatch(f"invalid date-time {value[:40]!r}: {exc}") from None


def format_datetime(value: datetime) -> str:
    """Write a date-time as the providers do: ``2026-05-10T00:00:00.000Z`` when in UTC."""
    timespec = "milliseconds" if value.microsecond % 1000 == 0 else "microseconds"
    if value.utcoffset() == timedelta(0):
        return value.replace(tzinfo=None).isoformat(timespec=timespec) + "Z"
    return value.isoformat(timespec=timespec)


def _json_key(field: "attrs.Attribute[Any]") -> str:
    key = field.metadata.get("json", field.name)
    assert isinstance(key, str)
    return key


def _attrs_structure_hook(converter: Converter) -> Callable[[type], Callable[[Any, type], Any]]:
    def factory(cls: type) -> Callable[[Any, type], Any]:
        renames = {f.name: override(rename=_json_key(f)) for f in attrs.fields(cls)}
        build: Callable[[Any, type], Any] = make_dict_structure_fn(
            cls, converter, **renames  # type: ignore[arg-type]
        )

        def structure_object(value: Any, typ: type) -> Any:
            if not isinstance(value, dict):
                raise _expected("an object", value)
            return build(value, typ)

        return structure_object

    return factory


def _attrs_unstructure_hook(converter: Converter) -> Callable[[type], Callable[[Any], Any]]:
    def factory(cls: type) -> Callable[[Any], Any]:
        renames = {}
        for f in attrs.fields(cls):
            omit = f.metadata.get("omit_if_none", False)
            renames[f.name] = override(rename=_json_key(f), omit_if_default=omit)
        return make_dict_unstructure_fn(cls, converter, **renames)  # type: ignore[arg-type]

    return factory


def configure_converter(converter: Converter) -> None:
    """Teach ``converter`` the JSON of the generated models. It registers:

    * ``str``, ``int``, ``float``, ``bool``: strict; a value of another JSON type is an error,
      never coerced (cattrs would turn ``"false"`` into True and ``200.7`` into 200);
    * ``OpenEnum`` subclasses (the status enums): unknown strings are kept as members;
    * ``datetime``: ISO 8601 with ``Z`` or an offset and any fraction, written back as ``...Z``;
    * lists: only JSON arrays (cattrs would take any iterable, even a string);
    * ``Dict[str, Any]``: free-form JSON objects, kept as sent;
    * every attrs class: keys renamed by each field's ``metadata["json"]``, unknown keys
      ignored, a non-object rejected, and optional non-nullable fields omitted when None.
    """
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook(bool, _structure_bool)
    converter.register_structure_hook(OpenEnum, _structure_enum)
    converter.register_unstructure_hook(OpenEnum, _unstructure_enum)
    converter.register_structure_hook(datetime, parse_datetime)
    converter.register_unstructure_hook(datetime, format_datetime)
    converter.register_structure_hook_func(lambda t: t == Dict[str, Any], _structure_dict)
    converter.register_structure_hook_factory(
        lambda t: getattr(t, "__origin__", None) is list, _list_hook(converter)
    )
    converter.register_structure_hook_factory(attrs.has, _attrs_structure_hook(converter))
    converter.register_unstructure_hook_factory(attrs.has, _attrs_unstructure_hook(converter))


def make_converter(*, detailed_validation: bool = False) -> Converter:
    """Return a new converter configured for the generated models."""
    converter = Converter(detailed_validation=detailed_validation)
    configure_converter(converter)
    return converter


_fast = make_converter()
_detailed: Optional[Converter] = None


def structure(data: Any, cls: Type[T], *, provider: str) -> T:
    """Return decoded JSON as ``cls``; raises ResponseFormatError naming the bad JSON paths."""
    try:
        return _fast.structure(data, cls)
    except Exception:  # noqa: BLE001 - re-run below for a message; anything escaping is a bug
        pass
    global _detailed
    if _detailed is None:
        _detailed = make_converter(detailed_validation=True)
    try:
        _detailed.structure(data, cls)
    except Exception as exc:  # noqa: BLE001
        problems = _describe(exc, "$")
    else:  # pragma: no cover - the two converters disagree
        problems = ["$: the reply could not be read"]
    shown = "; ".join(problems[:5]) + ("; ..." if len(problems) > 5 else "")
    raise ResponseFormatError(
        f"{provider}: reply does not fit {cls.__name__}: {shown}", provider=provider
    ) from None


def unstructure(obj: Any) -> Any:
    """Return a model as JSON-ready data with the provider's keys."""
    return _fast.unstructure(obj)


def _describe(exc: BaseException, path: str) -> List[str]:
    """Flatten a cattrs validation error into ``"$.json.path: problem"`` lines."""
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
    if isinstance(exc, _Mismatch):
        return [f"{path}: {exc}"]
    if isinstance(exc, RecursionError):
        return [f"{path}: nested too deeply"]
    return [f"{path}: {type(exc).__name__}: {str(exc)[:80]}"]
