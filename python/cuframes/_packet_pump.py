"""The loop that the recorder and the relay share: the packets of one key, each handed on,
until stop(), the producer's end, a packet count or a duration. It wakes every quarter
second, so stop() (from a signal handler or another thread) ends it promptly."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from ._handle import Handle
from .errors import DisconnectedError, TimeoutError
from .packets import Packet, PacketSubscriber

__all__ = ["PacketPump"]

_STOP_POLL_S = 0.25


class _Stats(Protocol):
    packets: int
    lost: int  #: packets lost by falling more than the ring behind
    restarts: int  #: producer restarts followed
    ended: str


_S = TypeVar("_S", bound=_Stats)


class PacketPump(Handle, Generic[_S]):
    """Subclasses set ``stats`` and implement :meth:`_connect`, :meth:`_handle`,
    :meth:`_finish` and :meth:`_wait_limit`."""

    stats: _S
    _subscriber: PacketSubscriber | None = None
    _log: logging.Logger  # the subclass's logger

    def __init__(self) -> None:
        self._stop = threading.Event()

    def _connect(self) -> PacketSubscriber:  # pragma: no cover - provided by the subclass
        raise NotImplementedError

    def _handle(self, packet: Packet) -> None:  # pragma: no cover - provided by the subclass
        raise NotImplementedError

    def _finish(self) -> None:  # pragma: no cover - provided by the subclass
        """Runs when run() returns or raises (finishes a file, closes a connection)."""
        raise NotImplementedError

    def _wait_limit(self) -> tuple[float | None, str]:  # pragma: no cover - provided by the subclass
        """How long to wait for the next packet (None: forever), and the TimeoutError's message."""
        raise NotImplementedError

    def run(
        self,
        *,
        count: int | None = None,
        duration: float | None = None,
        on_progress: Callable[[_S], None] = lambda stats: None,
    ) -> _S:
        """Runs until stop(), the producer's end, ``count`` packets or ``duration`` seconds of
        wall-clock time; then finishes and returns the stats. ``on_progress`` follows each packet."""
        started = time.monotonic()
        try:
            if self._subscriber is None:
                self._subscriber = self._connect()
            while True:
                if count is not None and self.stats.packets >= count:
                    self.stats.ended = "count"
                    break
                remaining = None if duration is None else duration - (time.monotonic() - started)
                if remaining is not None and remaining <= 0:
                    self.stats.ended = "duration"
                    break
                packet = self._next(remaining)
                if packet is None:
                    break
                self._handle(packet)
                on_progress(self.stats)
        finally:
            self._finish()
        return self.stats

    def _note(self, packet: Packet) -> None:
        """Counts and logs what the ring says about a packet: a fall behind, a producer restart."""
        if packet.overruns:
            self.stats.lost += packet.overruns
            self._log.warning(
                "fell behind: %d packet(s) lost; resumed at a keyframe (seq %d)", packet.overruns, packet.seq
            )
        if packet.reconnected:
            self.stats.restarts += 1
            self._log.warning("the producer restarted; going on at its first keyframe")

    def stop(self) -> None:
        """Ends run() within a quarter of a second. Safe from a signal handler or another thread."""
        self._stop.set()

    def _next(self, remaining: float | None) -> Packet | None:
        """The next packet; None when stopped, at the producer's end, or when ``remaining`` runs out."""
        assert self._subscriber is not None
        limit, message = self._wait_limit()
        waited_since = time.monotonic()
        while not self._stop.is_set():
            waited = time.monotonic() - waited_since
            if remaining is not None and waited >= remaining:
                self.stats.ended = "duration"
                return None
            if limit is not None and waited >= limit:
                raise TimeoutError(message)
            try:
                return self._subscriber.next(_STOP_POLL_S)
            except TimeoutError:
                continue
            except DisconnectedError:
                self.stats.ended = "producer closed"
                return None
        self.stats.ended = "stopped"
        return None
