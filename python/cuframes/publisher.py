"""The producer side."""

from __future__ import annotations

import grp
import pwd
from collections.abc import Callable, Iterable
from typing import Any, Literal

from . import _core
from ._args import checked_dir, checked_int, checked_key, checked_text
from ._formats import Codec, Format
from ._stream_info import StreamInfo
from ._streams import StreamLike
from .errors import InvalidArgumentError
from .frame import WritableFrame
from .stream_facts import ColorInfo, RationalLike, StreamFacts

__all__ = ["Publisher", "Backend", "Format", "Codec", "DEFAULTS"]

Backend = Literal["auto", "cuda", "host"]

#: The publisher's defaults as the core defines them (C++ PublisherOptions, which
#: cuframes_publisher_options_init hands C callers too): Python keeps no copy.
DEFAULTS: dict[str, Any] = dict(_core.DEFAULTS)


class Publisher(StreamInfo[_core.Publisher]):
    """Publishes frames under ``key`` to any number of subscribers, zero-copy.

    Allocates ``slots`` frame buffers (VMM on the cuda backend, memfd on host)
    and listens on ``<dir>/<key>.sock``. The producer never blocks on
    subscribers. Use it as a context manager, or call :meth:`close`::

        with cuframes.Publisher("cam0", 1920, 1080, "nv12") as pub:
            with pub.frame(pts=0) as f:
                f.copy_from(image)      # published when the block ends

    Access control: the socket gets ``mode`` (default ``0o660``) and, if given,
    ``group`` (a gid or group name); the kernel checks both at connect. With
    ``allowed_uids`` or ``allowed_gids`` (ids or names), each subscriber's
    credentials (``SO_PEERCRED``) must also match the producer's own uid, a
    listed uid, or a listed group (primary or supplementary); a refused one
    gets :class:`~cuframes.PermissionDeniedError` and never a descriptor.

    ``stream_ordered=True`` (cuda only): ``publish()`` queues the frame's
    completion on its stream (a GPU write into the shared header) instead of
    waiting for the stream, and announces the frame at once; subscribers wait
    for that completion before they hand the frame out. The producer's thread
    never blocks on the GPU. Use one stream per publisher.

    ``packet_ring_bytes`` (e.g. ``8 << 20``) adds a packet ring beside the
    frames, under the same key: :meth:`publish_packet` appends encoded access
    units (Annex-B H.264/H.265) that :class:`~cuframes.PacketSubscriber`
    receives, e.g. a recorder that stores the camera's own stream without
    re-encoding. ``description`` is free text that ``cuframes stat`` and
    ``cuframes ls`` show, such as the source.

    Stream facts travel with the stream to every subscriber: ``time_base``
    (seconds per pts unit, e.g. ``Fraction(1, 90000)`` or ``(1, 90000)``),
    ``frame_rate`` (nominal, e.g. ``Fraction(30000, 1001)``), ``color`` (a
    :class:`~cuframes.ColorInfo`) and ``sample_aspect_ratio``; None or 0 means
    unknown. Give frames' and packets' pts and dts in ``time_base`` units.
    ``facts`` takes them all at once instead, e.g. another stream's
    ``sub.facts`` when relaying it.
    """

    _what = "publisher"

    def __init__(
        self,
        key: str,
        width: int,
        height: int,
        format: Format | str = DEFAULTS["format"],
        *,
        slots: int = DEFAULTS["slots"],
        backend: Backend | str = DEFAULTS["backend"],
        device: int = DEFAULTS["device"],
        dir: str | None = None,
        mode: int = DEFAULTS["mode"],
        max_subscribers: int = DEFAULTS["max_subscribers"],
        max_held: int = DEFAULTS["max_held"],
        group: int | str | None = None,
        allowed_uids: Iterable[int | str] = (),
        allowed_gids: Iterable[int | str] = (),
        stream_ordered: bool = DEFAULTS["stream_ordered"],
        packet_ring_bytes: int = DEFAULTS["packet_ring_bytes"],
        description: str = "",
        time_base: RationalLike = None,
        frame_rate: RationalLike = None,
        color: ColorInfo | None = None,
        sample_aspect_ratio: RationalLike = None,
        facts: StreamFacts | None = None,
    ) -> None:
        self._key = key
        checked_key(key)
        checked_dir(dir)
        width, height, slots, device, mode = (
            checked_int(name, value)
            for name, value in (
                ("width", width),
                ("height", height),
                ("slots", slots),
                ("device", device),
                ("mode", mode),
            )
        )
        max_subscribers, max_held, packet_ring_bytes = (
            checked_int(name, value)
            for name, value in (
                ("max_subscribers", max_subscribers),
                ("max_held", max_held),
                ("packet_ring_bytes", packet_ring_bytes),
            )
        )
        for name, text in (("format", format), ("backend", backend), ("description", description)):
            checked_text(name, text)
        if facts is None:
            facts = StreamFacts.of(
                time_base=time_base, frame_rate=frame_rate, color=color, sample_aspect_ratio=sample_aspect_ratio
            )
        elif not isinstance(facts, StreamFacts):
            raise InvalidArgumentError(f"facts must be a cuframes.StreamFacts, got {facts!r}")
        elif (time_base, frame_rate, color, sample_aspect_ratio) != (None, None, None, None):
            raise InvalidArgumentError("give either facts= or time_base/frame_rate/color/sample_aspect_ratio, not both")
        # By keyword: the one place where Python builds the core's options.
        self._core = _core.Publisher(
            key=key,
            width=width,
            height=height,
            format=format,
            slots=slots,
            backend=backend,
            device=device,
            dir=dir or "",
            mode=mode,
            max_subscribers=max_subscribers,
            max_held=max_held,
            group=DEFAULTS["group"] if group is None else _group_id(group),
            allowed_uids=[_user_id(u) for u in allowed_uids],
            allowed_gids=[_group_id(g) for g in allowed_gids],
            stream_ordered=bool(stream_ordered),
            packet_ring_bytes=packet_ring_bytes,
            description=description,
            facts=facts._to_core(),
        )

    # --- frames ---
    def acquire(self, *, pts: int = 0, metadata: bytes = b"", stream: StreamLike = None) -> WritableFrame:
        """A free slot to fill. Never blocks; StateError if one is already acquired."""
        core = self._core_live()
        return WritableFrame(core, core.acquire(), key=self._key, pts=pts, metadata=metadata, stream=stream)

    def frame(self, *, pts: int = 0, metadata: bytes = b"", stream: StreamLike = None) -> WritableFrame:
        """Like :meth:`acquire`, for ``with pub.frame(...) as f:``: published on a
        clean exit, aborted if the block raises."""
        return self.acquire(pts=pts, metadata=metadata, stream=stream)

    def send(self, src: Any, *, pts: int = 0, metadata: bytes = b"", stream: StreamLike = None) -> int:
        """Acquires, copies ``src`` (a packed frame) in, publishes; returns the sequence number."""
        frame = self.acquire(pts=pts, metadata=metadata, stream=stream)
        try:
            frame.copy_from(src)
        except BaseException:
            frame.abort()
            raise
        return frame.publish()

    # --- encoded packets ---
    def publish_packet(
        self, data: Any, *, pts: int, dts: int | None = None, keyframe: bool = False, codec: Codec | str = "h264"
    ) -> int:
        """Appends one encoded access unit (Annex-B: start codes included) to
        the packet ring and returns its sequence number. Give it the pts of the
        frame it decodes to, so that consumers can join packets and frames.
        Never blocks; a keyframe's in-band parameter sets (VPS/SPS/PPS) are
        kept for subscribers that join later. ``data`` is any contiguous
        bytes-like object. StateError without a packet ring."""
        return self._core_live().publish_packet(data, pts, pts if dts is None else dts, codec, bool(keyframe))

    def set_parameter_sets(self, data: Any, *, codec: Codec | str = "h264") -> None:
        """Parameter sets (Annex-B VPS/SPS/PPS, e.g. a container's extradata
        converted to Annex-B) to put in front of a joining subscriber's first
        keyframe when it does not carry them. In-band ones replace them."""
        self._core_live().set_parameter_sets(codec, data)

    @property
    def packet_ring_bytes(self) -> int:
        """Size of the packet ring; 0 when there is none."""
        return self._core_live().packet_ring_bytes

    @property
    def packet_subscriber_count(self) -> int:
        return self._core_live().packet_subscriber_count

    @property
    def last_packet_seq(self) -> int:
        """Sequence number of the newest packet; 0 before the first."""
        return self._core_live().last_packet_seq

    # --- lifetime ---
    def close(self) -> None:
        """Stops serving: subscribers get DisconnectedError; the socket and lock go. Idempotent."""
        super().close()

    def __repr__(self) -> str:
        core = self._core
        if core is None or core.closed:
            return f"<cuframes.Publisher {self._key!r} closed>"
        return (
            f"<cuframes.Publisher {self._key!r} {core.format} {core.width}x{core.height} on {core.backend} "
            f"slots={core.slot_count} subscribers={core.subscriber_count} last_seq={core.last_seq} open>"
        )

    # --- properties (the stream's own are in StreamInfo) ---
    @property
    def dir(self) -> str:
        return self._core_live().dir

    @property
    def max_subscribers(self) -> int:
        return self._core_live().max_subscribers

    @property
    def subscriber_count(self) -> int:
        return self._core_live().subscriber_count

    @property
    def last_seq(self) -> int:
        """Sequence number of the newest published frame; 0 before the first."""
        return self._core_live().last_seq

    @property
    def last_timing(self) -> _core.PublishTiming:
        """Where the last ``acquire()`` and ``publish()`` spent their time (ns):
        ``sync_ns`` is the stream sync; ``overhead_ns`` (acquire + ring + wake)
        is what cuframes adds on top of it."""
        return self._core_live().last_timing


def _resolve(value: int | str, lookup: Callable[[str], int], what: str) -> int:
    """A uid or gid given as a number or as a name known to this machine."""
    if isinstance(value, int):
        return value
    try:
        return lookup(value)
    except KeyError:
        raise InvalidArgumentError(f"no {what} named {value!r} on this machine") from None


def _user_id(user: int | str) -> int:
    return _resolve(user, lambda name: pwd.getpwnam(name).pw_uid, "user")


def _group_id(group: int | str) -> int:
    return _resolve(group, lambda name: grp.getgrnam(name).gr_gid, "group")
