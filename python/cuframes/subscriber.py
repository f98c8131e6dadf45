"""The consumer side."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, Literal, cast

from . import _core
from ._args import checked_dir, checked_key, checked_text
from ._arrays import buffer_of
from ._core import default_dir
from ._slices import call_in_slices, producer_absent_or_busy
from ._stream_info import StreamInfo
from ._streams import StreamLike, stream_handle
from .errors import (
    DisconnectedError,
    InvalidArgumentError,
    LimitError,
    NotFoundError,
    ProducerDiedError,
    TimeoutError,
)
from .frame import Frame
from .stream_facts import StreamFacts

__all__ = ["Subscriber", "FrameInfo"]

FrameInfo = _core.FrameInfo
Delivery = Literal["latest", "sequential"]

# Long waits are cut into slices so that Ctrl-C (and other signal handlers)
# run between them: the core waits with the GIL released.
_WAIT_SLICE_S = 1.0


class Subscriber(StreamInfo[_core.Subscriber]):
    """Receives the frames published under ``key``, zero-copy.

    Waits up to ``connect_timeout`` seconds (None: forever) for a producer that
    is not up yet, then raises :class:`~cuframes.NotFoundError`. The first frame
    is the newest one published; with ``"sequential"``, the newest when the
    producer accepted this subscriber, so that a subscriber still mapping the
    slots loses nothing published meanwhile. ``delivery`` says what a subscriber that fell
    behind gets next: ``"latest"`` (the default) skips to the newest frame, for
    detectors and compositors that want "now"; ``"sequential"`` gets the oldest
    unread frame still in the pool, in order, for recorders that want every
    frame they can get. Either way ``frame.missed`` counts the frames skipped,
    and no frame is ever torn or overwritten while held::

        with cuframes.Subscriber("cam0") as sub:
            for frame in sub:           # ends when the producer closes
                tensor = torch.from_dlpack(frame.y)

    The loop ends quietly only when the producer closes its stream; a producer
    that dies without closing it (killed, crashed) raises
    :class:`~cuframes.ProducerDiedError`, a :class:`~cuframes.DisconnectedError`.

    With ``reconnect=True`` the subscriber follows the key across producer
    restarts instead of raising :class:`~cuframes.DisconnectedError`: it waits
    (within each call's timeout) for the next producer, imports its slots and
    carries on. The first frame from it has ``frame.reconnected`` set and a new
    ``frame.epoch``, and its ``frame.missed`` counts the frames lost in between.
    Iteration then only ends when you stop it. The new producer must publish the
    same backend, format and size, or :class:`~cuframes.FormatError` is raised.

    ``spin`` (seconds) makes ``next()`` poll the shared sequence that long
    before it sleeps: a sleeping subscriber pays a wake-up (about 27 µs,
    most of it the kernel's; docs/performance.md), a spinning one a cache-line
    hand-off (about 1 µs), for a CPU core while it spins. ``spin=None`` spins until the frame or the timeout.
    A budget a little over the frame period keeps a busy stream's subscriber
    spinning and lets an idle one sleep. The default, 0, never spins.

    ``notify=True`` is for event loops that wait without a thread: the producer
    writes a byte on this subscriber's socket after each frame, :meth:`fileno`
    is a descriptor for ``select``, ``epoll`` or ``loop.add_reader``, and
    :meth:`try_next` takes what is ready (call it until it returns None each
    time the descriptor is readable). :mod:`cuframes.aio` is built on it.
    """

    _what = "subscriber"

    def __init__(
        self,
        key: str,
        *,
        dir: str | None = None,
        connect_timeout: float | None = 5.0,
        delivery: Delivery = "latest",
        reconnect: bool = False,
        spin: float | None = 0.0,
        notify: bool = False,
    ) -> None:
        self._key = checked_key(key)
        checked_dir(dir)
        checked_text("delivery", delivery)
        if spin is not None and (isinstance(spin, bool) or not isinstance(spin, (int, float))):
            raise InvalidArgumentError(f"spin must be None or a number of seconds, got {spin!r}")
        self._core = call_in_slices(
            lambda t: _core.Subscriber(key, dir or "", t, delivery, reconnect, spin, bool(notify)),
            connect_timeout,
            (NotFoundError, LimitError),
            lambda: f"no producer for key {key!r} in {dir or default_dir()} (waited {connect_timeout} s)",
            retry_if=producer_absent_or_busy,
        )

    def _wait(self, call: Any, timeout: float | None, *, waited: float | None = None) -> Any:
        # `waited`: the timeout the caller asked for, when `timeout` is what is left of it.
        asked = timeout if waited is None else waited
        return call_in_slices(
            call,
            timeout,
            TimeoutError,
            lambda: f"no frame from {self._key!r} within {asked} s",
            slice_s=_WAIT_SLICE_S,
        )

    # --- frames ---
    def next(self, timeout: float | None = None) -> Frame:
        """The next frame, held zero-copy until released. ``timeout`` in seconds
        (None: forever, 0: poll). Raises TimeoutError, DisconnectedError, or
        LimitError when already holding ``max_held`` frames."""
        return Frame(self._next_lease(timeout))

    def _next_lease(self, timeout: float | None) -> _core.FrameLease:
        # The hot path of every frame (bench/harness/facade.py measures it):
        # one core call, no closure, no clock read. A frame usually comes
        # within the first slice; only a longer wait goes through the slices.
        core = self._core if self._core is not None else self._core_live()  # the latter raises StateError
        if timeout is not None and timeout <= _WAIT_SLICE_S:
            return core.next(timeout)
        started = 0.0 if timeout is None else time.monotonic()
        try:
            return core.next(_WAIT_SLICE_S)
        except TimeoutError:
            pass
        left = None if timeout is None else max(0.0, timeout - (time.monotonic() - started))
        return self._wait(core.next, left, waited=timeout)

    def try_next(self) -> Frame | None:
        """The next frame if one is ready now, else None (``next(0)`` without the
        TimeoutError). With ``notify=True`` it also reads the notification bytes:
        call it until it returns None each time :meth:`fileno` is readable.
        Raises DisconnectedError when the producer has gone (with ``reconnect``,
        it takes a successor that is up already)."""
        lease = self._core_live().try_next()
        return None if lease is None else Frame(lease)

    def fileno(self) -> int:
        """With ``notify=True``: the descriptor to wait on (readable: call
        :meth:`try_next`), the same for the subscriber's life, reconnects included."""
        fd = self._core_live().notify_fd
        if fd < 0:
            raise InvalidArgumentError(f"subscriber {self._key!r} was opened without notify=True: it has no descriptor")
        return int(fd)

    def read_into(self, dst: Any, *, stream: StreamLike = None, timeout: float | None = None) -> _core.FrameInfo:
        """Waits for the next frame and copies it packed into ``dst`` (numpy,
        torch, cupy, DLPack...; C-contiguous, exactly ``packed_size`` bytes).
        Complete on return; the frame is not held afterwards."""
        core = self._core_live()
        handle = stream_handle(stream)
        buf = buffer_of(dst, nbytes=core.packed_size, writable=True, stream=handle, what="destination")
        copy_stream = handle if stream is not None else (buf.stream or 0)
        return self._wait(lambda t: core.read_into(buf.ptr, buf.nbytes, buf.is_device, copy_stream, t), timeout)

    def frames(self, timeout: float | None = None) -> Iterator[Frame]:
        """Yields frames until the producer closes its stream (never, with
        ``reconnect=True``); raises :class:`~cuframes.ProducerDiedError` (a
        DisconnectedError) when it dies without closing it. Each frame is
        released when the loop advances (or ends), so keep a copy, not the frame."""
        frame: Frame | None = None
        next_lease = self._next_lease
        try:
            while True:
                try:
                    frame = Frame(next_lease(timeout))
                except ProducerDiedError:
                    raise  # a crash is never a quiet end of the stream
                except DisconnectedError:
                    return
                yield frame
                frame.release()
                frame = None
        finally:
            if frame is not None:
                frame.release()

    def __iter__(self) -> Iterator[Frame]:
        return self.frames()

    # --- lifetime ---
    def close(self) -> None:
        """Drops the connection; frames still held stay readable. Idempotent."""
        super().close()

    def __repr__(self) -> str:
        core = self._core
        if core is None or core.closed:
            return f"<cuframes.Subscriber {self._key!r} closed>"
        facts = StreamFacts._from_core(core.facts)
        rate = "" if facts.frame_rate is None else f" {facts.frame_rate} fps"
        color = "" if not facts.color.specified else f" {facts.color.matrix_name}/{facts.color.range_name}"
        return (
            f"<cuframes.Subscriber {self._key!r} {core.format} {core.width}x{core.height}{rate}{color} on "
            f"{core.backend} last_seq={core.last_seq} held={core.held_count} missed={core.missed_total} open>"
        )

    # --- properties (the stream's own are in StreamInfo) ---
    @property
    def held_count(self) -> int:
        return self._core_live().held_count

    @property
    def last_seq(self) -> int:
        return self._core_live().last_seq

    @property
    def missed_total(self) -> int:
        return self._core_live().missed_total

    @property
    def epoch(self) -> int:
        """Random id of the producer instance."""
        return self._core_live().epoch

    @property
    def reconnect(self) -> bool:
        """Whether this subscriber follows the key across producer restarts."""
        return self._core_live().reconnect

    @property
    def reconnect_count(self) -> int:
        """Producer restarts followed so far."""
        return self._core_live().reconnect_count

    @property
    def delivery(self) -> Delivery:
        """``"latest"`` or ``"sequential"``: what this subscriber gets after falling behind."""
        return cast(Delivery, self._core_live().delivery)
