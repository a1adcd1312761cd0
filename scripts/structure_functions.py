"""Write the structure functions of a generated model module: decoded JSON -> attrs models.

One plain function per class: one key lookup and one check per field, JSON's primitive
types checked in place, then the class called with keywords. A missing required key raises
KeyError and any wrong value a ValueError, which sends ``_convert.structure`` to the detailed
cattrs path for its message. The functions use only ``genstatus_sync._strict``.
"""

import importlib.util
import json
import re
import sys
from datetime import datetime
from typing import Any, Dict, List, Union

import attrs

_PRIMITIVES = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def function_name(cls: type) -> str:
    return f"structure_{_snake(cls.__name__)}"


def _optional_inner(typ: Any) -> Any:
    args = getattr(typ, "__args__", ())
    if getattr(typ, "__origin__", None) is Union and len(args) == 2 and type(None) in args:
        return next(a for a in args if a is not type(None))
    return None


def _value(typ: Any, expr: str) -> str:
    """Code that checks (and builds) the value of ``expr`` as ``typ``."""
    inner = _optional_inner(typ)
    if inner is not None:
        if inner in _PRIMITIVES:
            return (f"v if (v := {expr}) is None or v.__class__ is {inner.__name__} "
                    f"else _s.{_PRIMITIVES[inner]}(v)")
        return f"None if (v := {expr}) is None else {_value(inner, 'v')}"
    if typ in _PRIMITIVES:
        if expr == "v":
            return f"v if v.__class__ is {typ.__name__} else _s.{_PRIMITIVES[typ]}(v)"
        return f"v if (v := {expr}).__class__ is {typ.__name__} else _s.{_PRIMITIVES[typ]}(v)"
    if typ is datetime:
        return f"_s.parse_datetime({expr})"
    if typ is Any:
        return expr
    if typ == Dict[str, Any]:
        return f"_s.obj({expr})"
    if getattr(typ, "__origin__", None) is list:
        (item,) = typ.__args__
        if item is Any:
            return f"_s.array({expr})"
        if item is str:
            return f"_s.strings({expr})"
        if attrs.has(item):
            return f"[{function_name(item)}(item) for item in _s.array({expr})]"
    if isinstance(typ, type) and issubclass(typ, str) and hasattr(typ, "__members__"):
        return f"_s.enum({expr}, {typ.__name__})"
    if attrs.has(typ):
        return f"{function_name(typ)}({expr})"
    raise TypeError(f"no structure code for {typ!r}")


def _function(cls: type) -> List[str]:
    lines = [
        "",
        "",
        f"def {function_name(cls)}(o: Any) -> {cls.__name__}:",
        "    if o.__class__ is not dict:",
        "        raise _s.expected(\"an object\", o)",
        f"    return {cls.__name__}(",
    ]
    for field in attrs.fields(cls):
        key = json.dumps(field.metadata["json"])
        lookup = f"o[{key}]" if field.default is attrs.NOTHING else f"o.get({key})"
        lines.append(f"        {field.name}={_value(field.type, lookup)},")
    lines.append("    )")
    return lines


def _with_imports(source: str) -> str:
    """The typing names and ``_strict`` the functions use, merged into the module's imports."""
    lines = source.split("\n")
    typing_at = next((i for i, line in enumerate(lines) if line.startswith("from typing import ")),
                     None)
    needed = {"Any", "Callable", "Dict"}
    if typing_at is None:
        future = next(i for i, line in enumerate(lines) if line.startswith("from __future__"))
        lines[future + 1:future + 1] = ["", "from typing import " + ", ".join(sorted(needed))]
    else:
        names = set(lines[typing_at][len("from typing import "):].split(", ")) | needed
        lines[typing_at] = "from typing import " + ", ".join(sorted(names))
    relative = [i for i, line in enumerate(lines) if line.startswith("from ..")]
    if relative:
        lines.insert(relative[0], "from .. import _strict as _s")
    else:
        last_attrs = max(i for i, line in enumerate(lines) if line.startswith("from attrs "))
        lines[last_attrs + 1:last_attrs + 1] = ["", "from .. import _strict as _s"]
    return "\n".join(lines)


def render(module_source: str, stem: str, package_root: str) -> str:
    """``module_source`` with its structure functions and STRUCTURE table appended."""
    if package_root not in sys.path:
        sys.path.insert(0, package_root)
    name = f"genstatus_sync.models._generating_{stem}"
    spec = importlib.util.spec_from_loader(name, loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "genstatus_sync.models"
    sys.modules[name] = module
    try:
        exec(compile(module_source, f"<{stem}>", "exec"), module.__dict__)
        classes = [v for v in vars(module).values()
                   if isinstance(v, type) and attrs.has(v) and v.__module__ == name]
        for cls in classes:
            attrs.resolve_types(cls, globalns=module.__dict__)
    finally:
        del sys.modules[name]
    if not classes:
        return module_source
    out = [_with_imports(module_source).rstrip("\n"), "", "",
           "# -- structure functions: decoded JSON -> the classes above, strictly (see "
           "genstatus_sync._strict)"]
    for cls in classes:
        out += _function(cls)
    out += ["", "", "STRUCTURE: Dict[type, Callable[[Any], Any]] = {"]
    out += [f"    {cls.__name__}: {function_name(cls)}," for cls in classes]
    out += ["}", ""]
    return "\n".join(out)
