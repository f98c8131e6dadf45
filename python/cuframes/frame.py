"""Frames: the zero-copy views a subscriber receives and the slots a publisher fills."""

from __future__ import annotations

import warnings
from fractions import Fraction
from typing import Any

import numpy as np

from . import _core
from ._arrays import buffer_of
from ._formats import to_shaped_array
from ._streams import StreamLike, stream_handle
from .errors import InvalidArgumentError, StateError
from .stream_facts import ColorInfo, rational_or_none

__all__ = ["Frame", "WritableFrame", "PlaneArray", "to_shaped_array"]

#: What a plane attribute returns: a numpy view on the host backend, a
#: DLPack / __cuda_array_interface__ exporter on the cuda backend.
PlaneArray = np.ndarray | _core.PlaneView

_PLANE_NAMES = ("y", "uv", "u", "v", "rgb", "bgr", "rgba", "bgra", "gray")


class _FrameBase:
    """Plane access and the array protocols shared by both kinds of frame."""

    __slots__ = ("_views", "_arrays")
    _views: list[_core.PlaneView] | None
    _arrays: list[PlaneArray] | None

    def _raw_planes(self) -> list[_core.PlaneView]:
        raise NotImplementedError

    def _raw_view(self) -> _core.PlaneView:
        raise NotImplementedError

    @property
    def backend(self) -> str:
        raise NotImplementedError

    def _wrap(self, view: _core.PlaneView) -> PlaneArray:
        return np.asarray(view) if view.device == "cpu" else view

    @property
    def planes(self) -> list[PlaneArray]:
        """Every plane: numpy views on the host backend, PlaneViews (DLPack,
        __cuda_array_interface__) on cuda. They share the slot's memory."""
        if self._arrays is None:
            self._arrays = [self._wrap(v) for v in self._raw_planes()]
        return list(self._arrays)

    @property
    def plane_views(self) -> list[_core.PlaneView]:
        """Every plane as a PlaneView on either backend: a DLPack exporter
        (plus __cuda_array_interface__ on cuda, __array_interface__ on host)."""
        return list(self._raw_planes())

    @property
    def plane_names(self) -> list[str]:
        return [v.name for v in self._raw_planes()]

    def plane(self, name: str) -> PlaneArray:
        """The plane called ``name`` ("y", "uv", "u", "v", "rgb", ...)."""
        names = self.plane_names
        if name not in names:
            raise AttributeError(f"a {self.format} frame has no plane {name!r} (it has {', '.join(names)})")
        return self.planes[names.index(name)]

    y = property(lambda self: self.plane("y"), doc="The luma plane (nv12, p010, i420).")
    uv = property(lambda self: self.plane("uv"), doc="The interleaved chroma plane (nv12, p010).")
    u = property(lambda self: self.plane("u"), doc="The U plane (i420).")
    v = property(lambda self: self.plane("v"), doc="The V plane (i420).")
    rgb = property(lambda self: self.plane("rgb"), doc="The pixels of an rgb24 frame.")
    bgr = property(lambda self: self.plane("bgr"), doc="The pixels of a bgr24 frame.")
    rgba = property(lambda self: self.plane("rgba"), doc="The pixels of an rgba frame.")
    bgra = property(lambda self: self.plane("bgra"), doc="The pixels of a bgra frame.")
    gray = property(lambda self: self.plane("gray"), doc="The pixels of a gray8 frame.")

    @property
    def format(self) -> str:
        raise NotImplementedError

    # The whole frame as one array (one-plane formats; nv12/p010 as (h*3/2, w)).
    def __dlpack__(
        self, *, stream: Any = None, max_version: Any = None, dl_device: Any = None, copy: bool | None = None
    ) -> Any:
        return self._raw_view().__dlpack__(stream=stream, max_version=max_version, dl_device=dl_device, copy=copy)

    def __dlpack_device__(self) -> tuple[int, int]:
        return self._raw_view().__dlpack_device__()

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        return self._raw_view().__cuda_array_interface__

    @property
    def __array_interface__(self) -> dict[str, Any]:
        return self._raw_view().__array_interface__


class Frame(_FrameBase):
    """A frame held zero-copy from a :class:`~cuframes.Subscriber`.

    The producer does not write its slot while the frame is held. Release it
    (``release()``, ``with``, or by advancing a ``for frame in sub`` loop) so the
    slot can be reused; numpy views and DLPack exports taken from it keep the
    slot held until they are gone too. Accessors of a released frame raise
    :class:`~cuframes.StateError`.
    """

    # Slots: a frame is made and dropped per frame received, and this is the
    # hot path (bench/harness/facade.py). No __del__ either: the lease is
    # released when its last reference, this object's, goes.
    __slots__ = ("_lease", "__weakref__")

    def __init__(self, lease: _core.FrameLease) -> None:
        self._lease: _core.FrameLease | None = lease
        self._views = None
        self._arrays = None

    def _live(self) -> _core.FrameLease:
        if self._lease is None:
            raise StateError("frame was released")
        return self._lease

    def _raw_planes(self) -> list[_core.PlaneView]:
        if self._views is None:
            self._views = self._live().planes
        return self._views

    def _raw_view(self) -> _core.PlaneView:
        return self._live().view()

    @property
    def seq(self) -> int:
        """Sequence number: 1, 2, 3, ... per publisher."""
        return self._live().seq

    @property
    def pts(self) -> int:
        """Presentation timestamp, in ``time_base`` units."""
        return self._live().pts

    @property
    def time_base(self) -> Fraction | None:
        """Seconds per ``pts`` unit, from the stream facts of the producer that
        published this frame; None when it did not say."""
        num, den = self._live().facts[:2]
        return rational_or_none(num, den)

    @property
    def color(self) -> ColorInfo:
        """The stream's colour facts (matrix, range, primaries, transfer) from the producer
        that published this frame; to_ndarray, to_tensor and snapshots read YUV with them."""
        matrix, color_range, primaries, transfer = self._live().facts[6:10]
        return ColorInfo(matrix, color_range, primaries, transfer)

    @property
    def time(self) -> float | None:
        """``pts`` in seconds (``pts * time_base``); None when the time base is unknown."""
        time_base = self.time_base
        return None if time_base is None else float(self.pts * time_base)

    @property
    def timestamp_ns(self) -> int:
        """CLOCK_MONOTONIC when the frame was published."""
        return self._live().timestamp_ns

    @property
    def missed(self) -> int:
        """Frames this subscriber skipped just before this one (it fell behind,
        or, on a ``reconnected`` frame, the frames lost while the producer restarted)."""
        return self._live().missed

    @property
    def epoch(self) -> int:
        """Random id of the producer instance that published this frame."""
        return self._live().epoch

    @property
    def reconnected(self) -> bool:
        """True on the first frame from a restarted producer (``Subscriber(reconnect=True)``)."""
        return self._live().reconnected

    @property
    def metadata(self) -> bytes:
        return self._live().metadata

    @property
    def width(self) -> int:
        return self._live().width

    @property
    def height(self) -> int:
        return self._live().height

    @property
    def format(self) -> str:
        return self._live().format

    @property
    def backend(self) -> str:
        return self._live().backend

    @property
    def device(self) -> int:
        """CUDA ordinal of the frame's memory; -1 on the host backend."""
        return self._live().device

    @property
    def slot(self) -> int:
        return self._live().slot

    @property
    def packed_size(self) -> int:
        """Bytes of a packed copy (planes back to back, no row padding)."""
        return self._live().packed_size

    @property
    def released(self) -> bool:
        return self._lease is None

    def copy_to(self, dst: Any, *, stream: StreamLike = None) -> None:
        """Copies the frame packed into ``dst`` (numpy, torch, cupy, DLPack...),
        which must be C-contiguous and exactly ``packed_size`` bytes. Complete on return."""
        lease = self._live()
        handle = stream_handle(stream)
        buf = buffer_of(dst, nbytes=lease.packed_size, writable=True, stream=handle, what="destination")
        lease.copy_to(buf.ptr, buf.nbytes, buf.is_device, handle if stream is not None else (buf.stream or 0))

    def to_numpy(self) -> np.ndarray:
        """A packed host copy with the frame's natural shape: (h*3/2, w) for
        nv12/p010/i420, (h, w, c) for rgb24/bgr24/rgba/bgra, (h, w) for gray8."""
        lease = self._live()
        packed = np.empty(lease.packed_size, dtype=np.uint8)
        lease.copy_to(int(packed.ctypes.data), packed.nbytes, False, 0)
        return to_shaped_array(packed, lease.format, lease.width, lease.height)

    def to_ndarray(self, format: str | None = None) -> np.ndarray:
        """A host copy converted to ``format``, as PyAV's ``VideoFrame.to_ndarray(format=...)``:
        "rgb24", "bgr24", "rgba", "bgra" -> (h, w, c) uint8, "gray" -> (h, w) full-range luma;
        None -> the frame's own format (as :meth:`to_numpy`). YUV is read with the stream's
        colour facts (:attr:`color`; unspecified: BT.601, limited range, as FFmpeg does).
        Either backend (a cuda frame is copied to the host first). Needs PyAV."""
        packed = self.to_numpy()
        if format is None:
            return packed
        from .convert import convert_packed

        return convert_packed(packed, self.format, self.width, self.height, self.color, format)

    def to_tensor(self, format: str = "rgb24", *, out: Any = None) -> Any:
        """The frame converted to ``format`` ("rgb24", "bgr24", "rgba", "bgra", "gray") as a
        torch uint8 tensor on the frame's device (cuda backend: that GPU; host: the CPU),
        (h, w, c) or (h, w) for gray, with the same colour facts as :meth:`to_ndarray`.
        ``out``: a caller's contiguous tensor of that shape, dtype and device to fill (and
        return). Runs on torch's current stream and is complete on return (the slot may be
        released then). Needs torch (``pip install 'cuframes[convert]'``)."""
        from .convert_torch import convert_planes

        return convert_planes(self.plane_views, self.format, self.width, self.height, self.color, format, out=out)

    def release(self) -> None:
        """Gives the slot back (once no view of it is alive). Idempotent."""
        # Dropping the only reference to the lease releases it (views and
        # DLPack exports hold their own).
        self._lease = None
        self._views = None
        self._arrays = None

    close = release

    def __enter__(self) -> Frame:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def __repr__(self) -> str:
        lease = self._lease
        if lease is None:
            return "<cuframes.Frame released>"
        try:
            return (
                f"<cuframes.Frame seq={lease.seq} {lease.format} {lease.width}x{lease.height} "
                f"pts={lease.pts} missed={lease.missed} on {lease.backend} held>"
            )
        except Exception:
            return "<cuframes.Frame>"


class WritableFrame(_FrameBase):
    """A slot acquired from a :class:`~cuframes.Publisher`, to fill and publish.

    Used as a context manager it is published on a clean exit and aborted when
    the block raises. ``pts``, ``metadata`` and ``stream`` may be set until then.
    Views of it must not be written after publish (the subscribers own it then);
    exporting a view afterwards raises :class:`~cuframes.StateError`.
    """

    def __init__(
        self,
        owner: _core.Publisher,
        slot: _core.WritableSlot,
        *,
        key: str,
        pts: int = 0,
        metadata: bytes = b"",
        stream: StreamLike = None,
    ) -> None:
        # The core publisher that lent the slot, not the Python Publisher: the frame
        # needs only its copy, publish and abort (frame.py never imports publisher.py).
        self._owner = owner
        self._key = key
        self._slot: _core.WritableSlot | None = slot
        self._views = None
        self._arrays = None
        self.pts = pts
        self.metadata = metadata
        self.stream = stream
        self._state = "acquired"
        self._seq: int | None = None

    def _live(self) -> _core.WritableSlot:
        slot = self._slot
        if slot is None or not slot.valid:
            raise StateError(f"frame was already {self._state}")
        return slot

    def _owner_live(self) -> _core.Publisher:
        if self._owner.closed:
            raise StateError(f"publisher {self._key!r} is closed")
        return self._owner

    def _raw_planes(self) -> list[_core.PlaneView]:
        if self._views is None:
            self._views = self._live().planes
        return self._views

    def _raw_view(self) -> _core.PlaneView:
        return self._live().view()

    @property
    def planes(self) -> list[PlaneArray]:
        self._live()
        return super().planes

    @property
    def state(self) -> str:
        """ "acquired", "published" or "aborted"."""
        return self._state

    @property
    def seq(self) -> int | None:
        """The sequence number once published, else None."""
        return self._seq

    @property
    def index(self) -> int:
        return self._live().index

    @property
    def width(self) -> int:
        return self._owner_live().width

    @property
    def height(self) -> int:
        return self._owner_live().height

    @property
    def format(self) -> str:
        return self._owner_live().format

    @property
    def backend(self) -> str:
        return self._owner_live().backend

    @property
    def packed_size(self) -> int:
        return self._owner_live().packed_size

    def copy_from(self, src: Any, *, stream: StreamLike = None) -> None:
        """Copies a packed frame (planes back to back, no row padding) from a
        numpy, torch or cupy array or any DLPack object into the slot.

        The copy runs on ``stream`` (default: the frame's stream); publish
        synchronizes the frame's stream, so give both the same stream.
        """
        self._live()
        if stream is not None and self.stream is not None and stream_handle(stream) != stream_handle(self.stream):
            raise InvalidArgumentError(
                "copy_from got another stream than the frame publishes on; publish only "
                "synchronizes the frame's stream, so use one stream for both"
            )
        if stream is not None:
            self.stream = stream
        handle = stream_handle(self.stream)
        buf = buffer_of(src, nbytes=self.packed_size, writable=False, stream=handle, what="source")
        if self.stream is None and buf.stream is not None:
            handle = buf.stream  # the producer of the array said its data is ready on that stream
            self.stream = handle
        self._owner_live().copy_into_acquired(buf.ptr, buf.nbytes, buf.is_device, handle)

    def publish(self) -> int:
        """Synchronizes the frame's stream and publishes; returns the sequence number."""
        self._live()
        metadata = bytes(self.metadata)
        seq = self._owner_live().publish(stream_handle(self.stream), int(self.pts), metadata)
        self._state = "published"
        self._seq = seq
        self._drop()
        return seq

    def abort(self) -> None:
        """Hands the slot back unpublished. Idempotent; a no-op once published."""
        slot = self._slot
        if slot is not None and slot.valid:
            self._owner_live().abort()
            self._state = "aborted"
        self._drop()

    close = abort

    def _drop(self) -> None:
        self._slot = None
        self._views = None
        self._arrays = None

    def __enter__(self) -> WritableFrame:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if self._slot is None:
            return  # already published or aborted inside the block
        if exc_type is None:
            self.publish()
        else:
            self.abort()

    def __del__(self) -> None:
        try:
            slot = self._slot
            if slot is not None and slot.valid:
                self.abort()
                warnings.warn(
                    "a cuframes.WritableFrame was dropped unpublished; it was aborted", ResourceWarning, stacklevel=2
                )
        except Exception:
            pass

    def __repr__(self) -> str:
        try:
            seq = f" seq={self._seq}" if self._seq is not None else ""
            return (
                f"<cuframes.WritableFrame {self._key!r} {self.format} {self.width}x{self.height} "
                f"pts={self.pts}{seq} {self._state}>"
            )
        except Exception:
            return f"<cuframes.WritableFrame {self._state}>"
