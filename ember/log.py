"""Per-module loggers that import :mod:`logging` only when something is logged.

``log = get_logger(__name__)`` behaves as ``logging.getLogger(__name__)``; the
difference is that a run that logs nothing never imports ``logging`` (about a
third of ``ember run``'s import time before it was made lazy).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging


class _LazyLogger:
    __slots__ = ("_name", "_real")

    def __init__(self, name: str) -> None:
        self._name = name
        self._real: logging.Logger | None = None

    def __getattr__(self, attr: str) -> object:
        real = self._real
        if real is None:
            import logging

            real = self._real = logging.getLogger(self._name)
        return getattr(real, attr)


def get_logger(name: str) -> logging.Logger:
    return _LazyLogger(name)  # type: ignore[return-value]
