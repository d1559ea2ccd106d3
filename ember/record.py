"""Light value classes for the start-up path.

``ember run`` must start as fast as a native VMM, and ``dataclasses`` costs more
than the rest of the boot: importing it pulls in ``inspect``, ``ast`` and
``dis``, and every decorated class generates and compiles its methods at import
time. Modules that ``ember run`` imports define their value types as ``Record``
subclasses instead: typed ``__init__``, ``__slots__``, and repr, equality and
``as_dict`` derived from the slots. Everything off that path uses dataclasses.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar


class Record:
    __slots__: tuple[str, ...] = ()

    def _fields(self) -> tuple[str, ...]:
        names: list[str] = []
        for cls in reversed(type(self).__mro__):
            names.extend(getattr(cls, "__slots__", ()))
        return tuple(names)

    def as_dict(self) -> dict[str, Any]:
        return {n: getattr(self, n) for n in self._fields()}

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._fields())
        return f"{type(self).__name__}({inner})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self._fields())

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, n) for n in self._fields()))


class Constants:
    """A namespace of named integer constants (``KVM_EXIT_*``, ``KVM_CAP_*``) with reverse lookup.

    ``IntEnum`` would be the usual choice, but creating an enum class costs about
    0.3 M instructions per member, and the KVM tables have ~80 members: a quarter
    of ``ember run``'s imports. Members here are plain ints; ``name_of`` maps back.
    """

    _names: ClassVar[dict[int, str]] = {}

    def __init_subclass__(cls) -> None:
        cls._names = {v: k for k, v in vars(cls).items() if k.isupper() and isinstance(v, int)}

    @classmethod
    def name_of(cls, value: int) -> str:
        """The constant's name in lower case, or the number when it has none."""
        name = cls._names.get(value)
        return name.lower() if name is not None else f"{cls.__name__.lower()}_{value}"

    @classmethod
    def values(cls) -> dict[str, int]:
        return {name: value for value, name in cls._names.items()}
