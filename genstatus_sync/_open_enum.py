"""The base of the generated status enums: a string enum that keeps values it does not list."""

import enum
from typing import Optional, TypeVar

_E = TypeVar("_E", bound="OpenEnum")


class OpenEnum(str, enum.Enum):
    """A ``str`` enum whose unknown values become members carrying the raw string.

    Providers add states without notice; an unknown value must reach the caller (as
    ``State.UNKNOWN``) instead of failing the whole response. Such members are not cached on
    the class, so hostile input cannot grow it. ``is_known`` tells them apart.
    """

    @classmethod
    def _missing_(cls: "type[_E]", value: object) -> Optional[_E]:
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = value
        member._value_ = value
        return member

    @property
    def is_known(self) -> bool:
        """Whether the spec lists this value."""
        # by value: a listed value's member is the class's own (an unknown value's name may
        # still equal a listed member's name, as Clipia's "in_progress" does in_progress's)
        return type(self)._value2member_map_.get(self._value_) is self
