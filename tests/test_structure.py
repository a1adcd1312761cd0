"""The package's layers run one way: no import cycle, the wait code knows no client, and only
the transport touches requests and urllib3 at run time."""

import ast
from pathlib import Path

import genstatus_sync

PACKAGE = Path(genstatus_sync.__file__).resolve().parent
NAME = PACKAGE.name


def _modules():
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(module, path, *, type_checking=True):
    """{imported module of the package or a top-level foreign name}: every import statement
    (in functions too; under TYPE_CHECKING unless ``type_checking=False``)."""
    tree = ast.parse(path.read_text())
    skipped = set()
    if not type_checking:
        for node in ast.walk(tree):
            test = node.test if isinstance(node, ast.If) else None
            if isinstance(test, ast.Attribute):
                test = ast.Name(id=test.attr)
            if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING":
                skipped.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    found.add(sub if sub in MODULES else target)
            else:
                found.add(node.module)
    return found


def _edges():
    edges = {}
    for module, path in MODULES.items():
        targets = set()
        for name in _imports(module, path):
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name and name not in (module, NAME):
                targets.add(name)
        edges[module] = targets
    return edges


def _cycles(edges):
    cycles = []

    def visit(node, trail):
        for nxt in edges[node]:
            if nxt in trail:
                cycles.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in done:
                visit(nxt, trail + [nxt])
        done.add(node)

    done = set()
    for module in sorted(edges):
        if module not in done:
            visit(module, [module])
    return cycles


def test_no_import_cycle_anywhere_in_the_package():
    edges = _edges()
    assert _cycles(edges) == []
    # and the walk would see one: plant it
    edges[f"{NAME}.errors"] = edges[f"{NAME}.errors"] | {f"{NAME}._wait"}
    assert _cycles(edges)


def test_the_wait_code_imports_no_client_provider_or_transport():
    reached, todo = set(), [f"{NAME}._wait"]
    edges = _edges()
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo.extend(edges[module])
    forbidden = {m for m in reached if m.startswith((f"{NAME}.providers", f"{NAME}._http",
                                                     f"{NAME}._job", f"{NAME}._transport",
                                                     f"{NAME}._registry"))}
    assert forbidden == set()


def test_only_the_transport_imports_requests_or_urllib3_at_run_time():
    users = {module for module, path in MODULES.items()
             if any(name.split(".")[0] in ("requests", "urllib3")
                    for name in _imports(module, path, type_checking=False))}
    assert users == {f"{NAME}._transport"}


def test_generated_models_import_only_attrs_typing_and_the_strict_checks():
    for module, path in MODULES.items():
        if module.startswith(f"{NAME}.models."):
            assert _imports(module, path) <= {"__future__", "datetime", "typing", "attrs",
                                              f"{NAME}._strict", f"{NAME}._open_enum"}, module
