"""The encoded side of a stream: packets for recorders and remuxers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

from . import _core
from ._args import checked_dir, checked_key
from ._slices import call_in_slices, producer_absent_or_busy
from ._stream_info import CoreHandle
from .errors import (
    DisconnectedError,
    InvalidArgumentError,
    LimitError,
    NotFoundError,
    ProducerDiedError,
    TimeoutError,
)
from .stream_facts import HasStreamFacts, rational_or_none

__all__ = ["Packet", "PacketSubscriber"]

# Long waits are cut into slices so that Ctrl-C runs between them (the core
# waits with the GIL released).
_WAIT_SLICE_S = 1.0


@dataclass(frozen=True, repr=False)
class Packet:
    """One encoded access unit, copied out of the producer's packet ring."""

    data: bytes  #: Annex-B, start codes included
    seq: int  #: its number in the ring: 1, 2, ...
    pts: int  #: the pts of the frame it decodes to
    dts: int
    timestamp_ns: int  #: CLOCK_MONOTONIC when the producer wrote it
    codec: str  #: "h264" or "hevc"
    keyframe: bool
    #: packets lost just before this one: the subscriber fell more than the
    #: ring behind (the producer never waits) and rejoined at this keyframe
    overruns: int
    #: first packet after joining or rejoining: a keyframe a decoder can start at
    discontinuity: bool
    #: the kept VPS/SPS/PPS were put in front of it (the keyframe lacked them)
    parameter_sets_prepended: bool
    #: first packet from a restarted producer (``reconnect=True``)
    reconnected: bool = False
    #: random id of the producer instance that wrote it
    epoch: int = 0
    #: seconds per unit of ``pts`` and ``dts`` (the producer's stream facts); None: unknown
    time_base: Fraction | None = None

    @property
    def time(self) -> float | None:
        """``pts`` in seconds (``pts * time_base``); None when the time base is unknown."""
        return None if self.time_base is None else float(self.pts * self.time_base)

    def __len__(self) -> int:
        return len(self.data)

    def __bytes__(self) -> bytes:
        return self.data

    def __repr__(self) -> str:
        # The size, not the payload: a keyframe's bytes would make one repr hundreds of KB.
        flags = "".join(f" {name}" for name in ("keyframe", "discontinuity", "reconnected") if getattr(self, name))
        lost = f" overruns={self.overruns}" if self.overruns else ""
        return (
            f"<cuframes.Packet seq={self.seq} {self.codec} {len(self.data)} bytes pts={self.pts} dts={self.dts}"
            f"{flags}{lost} epoch={self.epoch:#x}>"
        )


def _packet(data: bytes, info: _core.PacketInfo) -> Packet:
    return Packet(
        data=data,
        seq=info.seq,
        pts=info.pts,
        dts=info.dts,
        timestamp_ns=info.timestamp_ns,
        codec=info.codec,
        keyframe=info.keyframe,
        overruns=info.overruns,
        discontinuity=info.discontinuity,
        parameter_sets_prepended=info.parameter_sets_prepended,
        reconnected=info.reconnected,
        epoch=info.epoch,
        time_base=rational_or_none(*info.time_base),
    )


class PacketSubscriber(CoreHandle[_core.PacketSubscriber], HasStreamFacts):
    """Receives the encoded packets published under ``key``.

    Joins at the latest keyframe, with the parameter sets in front of it (or
    waits for the first keyframe), then returns every packet in order. The
    producer never waits for it: a subscriber that falls more than the ring
    behind rejoins at the next keyframe, and that packet's ``overruns`` says
    how many were lost. Needs no GPU and no CUDA, even when the frames are on
    the cuda backend.

    With ``reconnect=True`` it follows the key across producer restarts: after
    the old producer's last packets it waits (within each call's timeout) for
    the next one and joins it at its oldest keyframe still in the ring, flagged ``reconnected``, so a
    recorder outlives camera restarts. Iteration then only ends when you stop
    it::

        with cuframes.PacketSubscriber("cam1") as packets, open("cam1.h264", "wb") as out:
            for packet in packets:      # ends when the producer closes
                out.write(packet.data)

    ``notify=True``: a descriptor to wait on (:meth:`fileno`) and :meth:`try_next`,
    as :class:`~cuframes.Subscriber` has; :mod:`cuframes.aio` is built on them.
    """

    _what = "packet subscriber"

    def __init__(
        self,
        key: str,
        *,
        dir: str | None = None,
        connect_timeout: float | None = 5.0,
        reconnect: bool = False,
        notify: bool = False,
    ) -> None:
        self._key = checked_key(key)
        checked_dir(dir)
        self._core = call_in_slices(
            lambda t: _core.PacketSubscriber(key, dir or "", t, bool(reconnect), bool(notify)),
            connect_timeout,
            (NotFoundError, LimitError),
            lambda: f"no producer for key {key!r} in {dir or _core.default_dir()} (waited {connect_timeout} s)",
            retry_if=producer_absent_or_busy,
        )

    def next(self, timeout: float | None = None) -> Packet:
        """The next packet. ``timeout`` in seconds (None: forever, 0: poll).
        Raises TimeoutError, or once the producer has gone and its last packets
        were read DisconnectedError (it closed its stream) or ProducerDiedError
        (it died without closing it)."""
        core = self._core_live()
        data, info = call_in_slices(
            core.next,
            timeout,
            TimeoutError,
            lambda: f"no packet from {self._key!r} within {timeout} s",
            slice_s=_WAIT_SLICE_S,
        )
        return _packet(data, info)

    def try_next(self) -> Packet | None:
        """The next packet if one is ready now, else None (``next(0)`` without the
        TimeoutError); with ``notify=True`` it also reads the notification bytes."""
        taken = self._core_live().try_next()
        return None if taken is None else _packet(*taken)

    def fileno(self) -> int:
        """With ``notify=True``: the descriptor to wait on (readable: call :meth:`try_next`)."""
        fd = self._core_live().notify_fd
        if fd < 0:
            raise InvalidArgumentError(
                f"packet subscriber {self._key!r} was opened without notify=True: it has no descriptor"
            )
        return int(fd)

    def packets(self, timeout: float | None = None) -> Iterator[Packet]:
        """Yields packets until the producer closes its stream (never, with
        ``reconnect=True``); raises :class:`~cuframes.ProducerDiedError` (a
        DisconnectedError) when it dies without closing it."""
        while True:
            try:
                yield self.next(timeout)
            except ProducerDiedError:
                raise  # a crash is never a quiet end of the stream
            except DisconnectedError:
                return

    def __iter__(self) -> Iterator[Packet]:
        return self.packets()

    def close(self) -> None:
        """Drops the connection. Idempotent."""
        super().close()

    def __repr__(self) -> str:
        core = self._core
        if core is None or core.closed:
            return f"<cuframes.PacketSubscriber {self._key!r} closed>"
        return (
            f"<cuframes.PacketSubscriber {self._key!r} ring={core.ring_bytes} last_seq={core.last_seq} "
            f"overruns={core.overruns_total} open>"
        )

    @property
    def last_seq(self) -> int:
        """Number of the last packet returned; 0 before the first."""
        return self._core_live().last_seq

    @property
    def overruns_total(self) -> int:
        """Packets lost so far by falling behind."""
        return self._core_live().overruns_total

    @property
    def reconnect(self) -> bool:
        """Whether this subscriber follows the key across producer restarts."""
        return bool(self._core_live().reconnect)

    @property
    def reconnect_count(self) -> int:
        """Producer restarts followed so far."""
        return self._core_live().reconnect_count

    @property
    def ring_bytes(self) -> int:
        return self._core_live().ring_bytes

    @property
    def epoch(self) -> int:
        """Random id of the producer instance."""
        return self._core_live().epoch
