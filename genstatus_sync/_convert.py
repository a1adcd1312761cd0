"""The one cattrs converter: JSON replies in, generated attrs models out, and back.

``structure`` runs a converter without detailed validation (fast); only when that fails does
it run a detailed one again, to say where and why in JSON terms.
"""

import re
import sys
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, List, Optional, Tuple, Type, TypeVar, Union

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


# From 3.11 on, fromisoformat takes "Z" and any number of fraction digits.
_FROMISOFORMAT_READS_RFC3339 = sys.version_info >= (3, 11)


class _Mismatch(ValueError):
    """A JSON value of the wrong kind; its message says what was expected."""


def _kind(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
             int: "an integer", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _expected(what: str, value: object) -> _Mismatch:
    return _Mismatch(f"expected {what}, got {_kind(value)}")


# Exact type checks: json.loads makes no subclasses, and `type(v) is int` also turns bool away.

def _structure_str(value: object, _: Any = None) -> str:
    if value.__class__ is str:
        return value
    raise _expected("a string", value)


def _structure_int(value: object, _: Any = None) -> int:
    if value.__class__ is int:
        return value
    raise _expected("an integer", value)


def _structure_float(value: object, _: Any = None) -> float:
    if value.__class__ is float:
        return value
    if value.__class__ is int:
        try:
            return float(value)
        except OverflowError:
            raise _Mismatch("number out of range") from None
    raise _expected("a number", value)


def _structure_bool(value: object, _: Any = None) -> bool:
    if value is True or value is False:
        return value
    raise _expected("a boolean", value)


def _structure_enum(value: object, cls: Type[OpenEnum]) -> OpenEnum:
    if isinstance(value, str):
        member = cls._value2member_map_.get(value)  # what cls(value) finds, without its work
        return cls(value) if member is None else member  # type: ignore[return-value]
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
    find = _hook_finder(converter)

    def factory(list_type: Any) -> Callable[[Any, Any], List[Any]]:
        (item_type,) = getattr(list_type, "__args__", None) or (Any,)
        hook: Optional[Callable[[Any, Any], Any]] = None

        def structure_list(value: Any, _: Any = None) -> List[Any]:
            nonlocal hook
            if value.__class__ is not list:
                raise _expected("an array", value)
            if item_type is Any:
                return list(value)
            if not detailed:
                if hook is None:
                    hook = find(item_type)
                return [hook(item, item_type) for item in value]
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


def _is_optional(typ: Any) -> bool:
    args = getattr(typ, "__args__", ())
    return getattr(typ, "__origin__", None) is Union and len(args) == 2 and type(None) in args


def _optional_hook(converter: Converter) -> Callable[[Any], Callable[[Any, Any], Any]]:
    # cattrs' own Optional hook dispatches on the inner type at every call; this finds the
    # inner hook once (at first use, so that a class may refer to itself), and for JSON's
    # primitive types checks in place, without a second call.
    find = _hook_finder(converter)

    def factory(optional_type: Any) -> Callable[[Any, Any], Any]:
        inner = next(arg for arg in optional_type.__args__ if arg is not type(None))
        if inner in _PRIMITIVES:
            checked = _PRIMITIVES[inner]

            def structure_optional_primitive(value: Any, _: Any = None) -> Any:
                if value is None or value.__class__ is inner:
                    return value
                return checked(value, inner)  # an int for a float, or the error

            return structure_optional_primitive
        hook: Optional[Callable[[Any, Any], Any]] = None

        def structure_optional(value: Any, _: Any = None) -> Any:
            nonlocal hook
            if value is None:
                return None
            if hook is None:
                hook = find(inner)
            return hook(value, inner)

        return structure_optional

    return factory


def _hook_finder(converter: Converter) -> Callable[[Any], Callable[[Any, Any], Any]]:
    # get_structure_hook is public from cattrs 23.2; 23.1 has only the dispatcher
    found = getattr(converter, "get_structure_hook", None)
    return found if found is not None else converter._structure_func.dispatch  # type: ignore[return-value]


_PRIMITIVES: Dict[Any, Callable[[Any, Any], Any]] = {
    str: _structure_str, int: _structure_int, float: _structure_float, bool: _structure_bool,
}


def parse_datetime(value: object, _: type = datetime) -> datetime:
    """Parse an RFC 3339 / ISO 8601 date-time (``Z``, offsets, any fraction) on every Python."""
    if not isinstance(value, str):
        raise _expected("a date-time string", value)
    match = _DATETIME.fullmatch(value)
    if match is None:
        raise _Mismatch(f"expected an ISO 8601 date-time, got {value[:40]!r}")
    if _FROMISOFORMAT_READS_RFC3339:
        try:
            return datetime.fromisoformat(value)  # the same result, several times faster
        except ValueError:
            pass  # the reading below says why, or takes what 3.11 does not ("z", "+0530")
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
    find = _hook_finder(converter)

    def factory(cls: type) -> Callable[[Any, type], Any]:
        if not converter.detailed_validation and _flat(cls):
            return _flat_structure_fn(cls, find)
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


def _flat(cls: type) -> bool:
    """Whether every field is required, or Optional and None by default (every generated
    model's shape)."""
    attrs.resolve_types(cls)
    return all(f.default is attrs.NOTHING or (f.default is None and _is_optional(f.type))
               for f in attrs.fields(cls))


def _flat_structure_fn(cls: type, find: Callable[[Any], Any]) -> Callable[[Any, type], Any]:
    """The fast path's structure function of a generated model, written out for it: one
    lookup and one hook call per field, then the class called with keywords. (cattrs' own
    checks each key twice and gathers a dict of keyword arguments first.) A missing required
    key raises KeyError, which sends ``structure`` to the detailed converter."""
    namespace: Dict[str, Any] = {"cls": cls, "_expected": _expected}
    args = []
    for i, f in enumerate(attrs.fields(cls)):
        key = _json_key(f)
        namespace[f"h{i}"], namespace[f"t{i}"] = find(f.type), f.type
        value = f"o[{key!r}]" if f.default is attrs.NOTHING else f"o.get({key!r})"
        optional = f.default is None  # _flat: such a field is Optional
        inner = next(a for a in f.type.__args__ if a is not type(None)) if optional else f.type
        if inner in _PRIMITIVES:
            # the common case checked in place; anything else (an int for a float, None for
            # a required field, a mistake) goes to the hook, which converts or raises
            got = f"(v{i} := {value})"
            check = (f"{got} is None or v{i}.__class__ is {inner.__name__}" if optional
                     else f"{got}.__class__ is {inner.__name__}")
            args.append(f"{f.name}=(v{i} if {check} else h{i}(v{i}, t{i}))")
        else:
            args.append(f"{f.name}=h{i}({value}, t{i})")
    name = f"structure_{cls.__name__}"
    source = (f"def {name}(o, _=None):\n"
              "    if not isinstance(o, dict):\n"
              "        raise _expected('an object', o)\n"
              f"    return cls({', '.join(args)})\n")
    exec(compile(source, f"<genstatus_sync {cls.__module__}.{cls.__qualname__}>", "exec"),
         namespace)
    structure_fn: Callable[[Any, type], Any] = namespace[name]
    return structure_fn


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
    * ``Optional[X]``: None, or X's hook found once (cattrs looks it up at every call);
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
    converter.register_structure_hook_factory(_is_optional, _optional_hook(converter))
    converter.register_structure_hook_factory(attrs.has, _attrs_structure_hook(converter))
    converter.register_unstructure_hook_factory(attrs.has, _attrs_unstructure_hook(converter))


def make_converter(*, detailed_validation: bool = False) -> Converter:
    """Return a new converter configured for the generated models."""
    converter = Converter(detailed_validation=detailed_validation)
    configure_converter(converter)
    return converter


_fast = make_converter()
_fast_hooks: Dict[type, Callable[[Any, Any], Any]] = {}
_detailed: Optional[Converter] = None


def structure(data: Any, cls: Type[T], *, provider: str) -> T:
    """Return decoded JSON as ``cls``; raises ResponseFormatError naming the bad JSON paths."""
    try:
        hook = _fast_hooks.get(cls)
        if hook is None:
            hook = _fast_hooks[cls] = _hook_finder(_fast)(cls)
        return hook(data, cls)  # type: ignore[no-any-return]
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
