"""Write docs/reference.md: every public name, its signature and its docstring, from the code.

    python scripts/reference.py            # rewrite docs/reference.md
    python scripts/reference.py --check    # exit 1 if it is stale (CI runs the test that does)

The public names are `genstatus_sync.__all__`, then those of genstatus_sync.testing,
genstatus_sync.webhooks and genstatus_sync.celery (when that module can be imported).
"""

import argparse
import importlib
import inspect
import re
import sys
from pathlib import Path

import attrs

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "reference.md"
MODULES = ["genstatus_sync", "genstatus_sync.errors", "genstatus_sync.testing",
           "genstatus_sync.webhooks", "genstatus_sync.cli", "genstatus_sync.celery"]
# public names outside a module's __all__ (which the package's star exports follow)
ALSO = {"genstatus_sync.errors": ["is_transient"]}
HEAD = """# Reference

Every public name, with its signature and docstring, generated from the code by
`python scripts/reference.py` (a test fails when this page is stale). The guides explain how
the pieces fit: start at [the index](index.md).
"""


def _type_name(annotation):
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _doc(obj):
    doc = inspect.getdoc(obj) or ""
    return doc.strip()


def _signature(name, obj):
    try:
        text = f"{name}{inspect.signature(obj)}"
    except (TypeError, ValueError):
        return name
    # module paths shortened in type names, not inside quoted defaults ('genstatus_sync.poll')
    return re.sub(r"'[^']*'|\"[^\"]*\"|genstatus_sync(?:\.\w+)*\.(\w+)",
                  lambda m: m.group(0) if m.group(1) is None else m.group(1), text)


def _members(cls):
    """Public methods and properties, the class's own and those it inherits from the package."""
    seen = set()
    for klass in cls.__mro__:
        if klass.__module__.split(".")[0] != "genstatus_sync":
            continue
        for name, member in vars(klass).items():
            if name in seen or name.startswith("_") or not (
                    inspect.isfunction(member)
                    or isinstance(member, (property, classmethod, staticmethod))):
                continue
            seen.add(name)
            yield name, member


def _render(name, obj):
    lines = []
    if inspect.isclass(obj):
        kind = "exception" if issubclass(obj, BaseException) else "class"
        bases = [b.__name__ for b in obj.__bases__ if b is not object]
        shown = f"{name}({', '.join(bases)})" if kind == "exception" else _signature(name, obj)
        lines += [f"### `{name}` ({kind})", "", "```text", shown, "```", "", _doc(obj), ""]
        if attrs.has(obj):
            lines += [f"- `{field.name}`: `{_type_name(field.type)}`"
                      for field in attrs.fields(obj)]
        for member_name, member in _members(obj):
            if isinstance(member, property):
                lines += [f"- `{name}.{member_name}` (property): {_doc(member) or '-'}"]
            else:
                function = member.__func__ if isinstance(member, (classmethod,
                                                                   staticmethod)) else member
                text = _doc(function).replace("\n", " ")
                lines += [f"- `{_signature(f'{name}.{member_name}', function)}`: {text or '-'}"]
        lines.append("")
    elif callable(obj):
        lines += [f"### `{name}`", "", "```text", _signature(name, obj), "```", "", _doc(obj), ""]
    else:
        lines += [f"### `{name}`", "", f"`{obj!r}`", ""]
    return lines


def render():
    lines = [HEAD]
    shown = set()  # (a name a module re-exports is shown once, where it is first listed)
    for module_name in MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        lines += [f"## `{module_name}`", "", _doc(module), ""]
        for name in [*module.__all__, *ALSO.get(module_name, ())]:
            obj = getattr(module, name)
            if callable(obj):  # (a constant's value may be another's: not told apart)
                if id(obj) in shown:
                    continue
                shown.add(id(obj))
            lines += _render(name, obj)
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.rstrip() + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/reference.md is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not OUT.exists() or OUT.read_text(encoding="utf-8") != text:
            print("docs/reference.md is stale: run python scripts/reference.py", file=sys.stderr)
            return 1
        print("docs/reference.md is current")
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
