"""What a Publisher and a Subscriber have in common: their lifetime as context
managers, and the read-only facts of the stream they share (the stream facts
too: time base, frame rate, colour, sample aspect ratio)."""

from __future__ import annotations

from typing import Any, TypeVar

from . import _core
from .stream_facts import HasStreamFacts

_Self = TypeVar("_Self", bound="StreamInfo")


class StreamInfo(HasStreamFacts):
    """Base of Publisher and Subscriber. Subclasses set ``_key`` and ``_core``
    (None once closed) and provide ``close()`` and ``_core_live()``, which
    raises StateError once the object is closed."""

    _key: str
    _core: Any

    def _core_live(self) -> Any:  # pragma: no cover - provided by the subclass
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - provided by the subclass
        raise NotImplementedError

    @property
    def closed(self) -> bool:
        return self._core is None or self._core.closed

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        # A safety net for objects never closed; it must never raise.
        try:
            self.close()
        except Exception:
            pass

    @property
    def key(self) -> str:
        return self._key

    @property
    def socket_path(self) -> str:
        return self._core_live().socket_path

    @property
    def backend(self) -> str:
        """"cuda" or "host" (never "auto")."""
        return self._core_live().backend

    @property
    def device(self) -> int:
        """CUDA ordinal of the stream's GPU in this process; -1 on the host backend."""
        return self._core_live().device

    @property
    def format(self) -> str:
        return self._core_live().format

    @property
    def width(self) -> int:
        return self._core_live().width

    @property
    def height(self) -> int:
        return self._core_live().height

    @property
    def slot_count(self) -> int:
        return self._core_live().slot_count

    @property
    def slot_size(self) -> int:
        return self._core_live().slot_size

    @property
    def packed_size(self) -> int:
        """Bytes of a packed frame, planes back to back without row padding
        (what copy_from takes and read_into writes)."""
        return self._core_live().packed_size

    @property
    def planes(self) -> list[_core.PlaneInfo]:
        return self._core_live().planes

    @property
    def max_held(self) -> int:
        """Frames one subscriber may hold at once."""
        return self._core_live().max_held
