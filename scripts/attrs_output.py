"""datamodel-code-generator custom formatter: the imports of the attrs models.

The dataclass output type always imports ``dataclass`` and ``Enum``; the templates in
``templates/`` write attrs classes and open enums instead, so this swaps those imports for
the aliased ones the templates use (aliased so that no field name can shadow them).
"""

from datamodel_code_generator.format import CustomCodeFormatter

_DROPPED = ("from dataclasses import", "from enum import")
_ATTRS_IMPORTS = (
    "from attrs import field as _attrs_field\n"
    "from attrs import frozen as _attrs_frozen\n"
)
_ENUM_IMPORT = "from .._open_enum import OpenEnum as _OpenEnum\n"


class CodeFormatter(CustomCodeFormatter):
    def apply(self, code: str) -> str:
        lines = [line for line in code.splitlines(keepends=True) if not line.startswith(_DROPPED)]
        first_class = next(i for i, line in enumerate(lines) if line.startswith(("class ", "@")))
        groups = ["".join(lines[:first_class]).strip("\n")]
        if "@_attrs_frozen" in code:
            groups.append(_ATTRS_IMPORTS)
        if "(_OpenEnum)" in code:
            groups.append(_ENUM_IMPORT)
        head = "\n\n".join(group.strip("\n") for group in groups)
        return head + "\n\n\n" + "".join(lines[first_class:]).strip("\n") + "\n"
