"""What a Publisher and a Subscriber have in common: their lifetime (a Handle)
and the read-only facts of the stream they share (the stream facts
too: time base, frame rate, colour, sample aspect ratio)."""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

from . import _core
from ._handle import Handle
from .errors import StateError
from .stream_facts import HasStreamFacts


class _CoreObject(Protocol):
    @property
    def closed(self) -> bool: ...

    def close(self) -> None: ...


_C = TypeVar("_C", bound=_CoreObject)
# What StreamInfo reads works on both core objects.
_S = TypeVar("_S", _core.Publisher, _core.Subscriber)


class CoreHandle(Handle, Generic[_C]):
    """A Handle around one core object (``_core``, None until made and once
    closed): Publisher, Subscriber, PacketSubscriber. ``_core_live()`` returns
    it or raises StateError naming the closed object."""

    _key: str
    _core: _C | None = None
    #: how errors name the object, e.g. "subscriber"
    _what = "object"

    def _core_live(self) -> _C:
        core = self._core
        if core is None or core.closed:
            raise StateError(f"{self._what} {self._key!r} is closed")
        return core

    def _release(self) -> None:
        core, self._core = self._core, None
        if core is not None:
            core.close()

    @property
    def closed(self) -> bool:
        return self._core is None or self._core.closed

    @property
    def key(self) -> str:
        return self._key


class StreamInfo(CoreHandle[_S], HasStreamFacts):
    """Base of Publisher and Subscriber."""

    @property
    def socket_path(self) -> str:
        return self._core_live().socket_path

    @property
    def backend(self) -> str:
        """ "cuda" or "host" (never "auto")."""
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
