"""asyncio: frames and packets in an event loop, without a thread per subscriber.

::

    async with cuframes.aio.Subscriber("cam1") as sub:
        async for frame in sub:          # ends when the producer closes
            detect(frame.to_tensor())

Each subscriber asks its producer for a byte on its socket after every frame or packet
(``notify=True``) and waits on that socket with ``loop.add_reader``: a waiting subscriber
costs the loop nothing until something arrives, and a hundred of them share one thread.
Only connecting runs in the loop's default executor, once, since it may wait for a
producer that is not up yet. docs/asyncio.md shows more (one service reading 8 cameras).

A task cancelled while it waits holds nothing: no frame is taken until one is there.
A producer that dies raises :class:`~cuframes.ProducerDiedError` in the awaiting task.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from typing import Any, Generic, TypeVar

from . import packets as _packets
from . import subscriber as _subscriber
from .errors import DisconnectedError, ProducerDiedError, StateError, TimeoutError
from .frame import Frame
from .packets import Packet

__all__ = ["Subscriber", "PacketSubscriber"]

_Sync = TypeVar("_Sync", _subscriber.Subscriber, _packets.PacketSubscriber)
_Item = TypeVar("_Item", Frame, Packet)

# With reconnect, while the producer is away the descriptor waits on the socket
# folder (inotify); where that cannot be watched it stays quiet, and this is how
# often the loop looks for a successor anyway. Without reconnect: never.
_RECONNECT_LOOK_S = 1.0


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _readable(loop: asyncio.AbstractEventLoop, fd: int, timeout: float | None) -> None:
    """Returns when `fd` is readable or `timeout` seconds have passed."""
    future: asyncio.Future[None] = loop.create_future()
    loop.add_reader(fd, _wake, future)
    timer = None if timeout is None else loop.call_later(timeout, _wake, future)
    try:
        await future
    finally:  # also when the task is cancelled: nothing is left registered
        loop.remove_reader(fd)
        if timer is not None:
            timer.cancel()


class _Async(Generic[_Sync, _Item]):
    """What both async subscribers share: connecting, waiting, iterating, closing."""

    _what = "subscriber"

    def __init__(self, key: str, **options: Any) -> None:
        self._key = key
        self._options = options
        self._sync: _Sync | None = None
        self._waiting: asyncio.Lock | None = None

    def _open(self, **options: Any) -> _Sync:  # pragma: no cover - provided by the subclass
        raise NotImplementedError

    def _try(self, sync: _Sync) -> _Item | None:  # pragma: no cover - provided by the subclass
        raise NotImplementedError

    async def connect(self) -> _Async[_Sync, _Item]:
        """Connects (``async with`` does it): waits up to ``connect_timeout`` for the
        producer in the loop's default executor. Idempotent."""
        if self._sync is None:
            loop = asyncio.get_running_loop()
            opened: _Sync = await loop.run_in_executor(None, functools.partial(self._open, **self._options))
            if self._sync is not None:  # connected meanwhile by another task
                opened.close()
            else:
                self._sync = opened
        return self

    async def __aenter__(self: Any) -> Any:
        return await self.connect()

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Drops the connection; frames still held stay readable. Idempotent."""
        sync, self._sync = self._sync, None
        if sync is not None:
            sync.close()

    @property
    def closed(self) -> bool:
        return self._sync is None

    @property
    def sync(self) -> _Sync:
        """The underlying blocking subscriber: the stream's properties and counters."""
        if self._sync is None:
            raise StateError(f"async {self._what} {self._key!r} is not connected (use `async with` or connect())")
        return self._sync

    def __getattr__(self, name: str) -> Any:
        # The stream's properties (format, width, facts, last_seq, ...) of the blocking subscriber.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.sync, name)

    async def _next(self, timeout: float | None) -> _Item:
        sync = self.sync
        item = self._try(sync)  # the common case of a busy stream: no wait at all
        if item is not None:
            return item
        if self._waiting is None:
            self._waiting = asyncio.Lock()
        async with self._waiting:  # one waiter on the descriptor at a time
            loop = asyncio.get_running_loop()
            deadline = None if timeout is None else loop.time() + timeout
            reconnect = bool(sync.reconnect)
            while True:
                item = self._try(sync)
                if item is not None:
                    return item
                left = None if deadline is None else deadline - loop.time()
                if left is not None and left <= 0:
                    raise TimeoutError(f"nothing from {self._key!r} within {timeout} s")
                if reconnect:
                    left = _RECONNECT_LOOK_S if left is None else min(left, _RECONNECT_LOOK_S)
                await _readable(loop, sync.fileno(), left)

    def _iterate(self, timeout: float | None, release: Callable[[_Item], None]) -> AsyncIterator[_Item]:
        async def items() -> AsyncIterator[_Item]:
            while True:
                try:
                    item = await self._next(timeout)
                except ProducerDiedError:
                    raise  # a crash is never a quiet end of the stream
                except DisconnectedError:
                    return
                try:
                    yield item
                finally:
                    release(item)

        return items()


class Subscriber(_Async[_subscriber.Subscriber, Frame]):
    """asyncio flavour of :class:`cuframes.Subscriber`: the same arguments (without
    ``spin``), with ``await sub.next()`` and ``async for frame in sub``.

    The stream's properties (``format``, ``width``, ``facts``, ``missed_total``, ...)
    read through to the blocking subscriber, also available as :attr:`sync`."""

    def __init__(
        self,
        key: str,
        *,
        dir: str | None = None,
        connect_timeout: float | None = 5.0,
        delivery: _subscriber.Delivery = "latest",
        reconnect: bool = False,
    ) -> None:
        super().__init__(key, dir=dir, connect_timeout=connect_timeout, delivery=delivery, reconnect=reconnect)

    def _open(self, **options: Any) -> _subscriber.Subscriber:
        return _subscriber.Subscriber(self._key, notify=True, **options)

    def _try(self, sync: _subscriber.Subscriber) -> Frame | None:
        return sync.try_next()

    async def next(self, timeout: float | None = None) -> Frame:
        """The next frame, held zero-copy until released. ``timeout`` in seconds
        (None: forever). Raises TimeoutError, DisconnectedError (ProducerDiedError
        after a crash), or LimitError when already holding ``max_held`` frames."""
        return await self._next(timeout)

    def frames(self, timeout: float | None = None) -> AsyncIterator[Frame]:
        """Yields frames until the producer closes its stream (never, with
        ``reconnect=True``); each is released when the loop advances."""
        return self._iterate(timeout, Frame.release)

    def __aiter__(self) -> AsyncIterator[Frame]:
        return self.frames()

    def __repr__(self) -> str:
        return f"<cuframes.aio.Subscriber {self._key!r} {'closed' if self._sync is None else 'open'}>"


class PacketSubscriber(_Async[_packets.PacketSubscriber, Packet]):
    """asyncio flavour of :class:`cuframes.PacketSubscriber`: ``await sub.next()``
    and ``async for packet in sub``, the same arguments."""

    _what = "packet subscriber"

    def __init__(
        self,
        key: str,
        *,
        dir: str | None = None,
        connect_timeout: float | None = 5.0,
        reconnect: bool = False,
    ) -> None:
        super().__init__(key, dir=dir, connect_timeout=connect_timeout, reconnect=reconnect)

    def _open(self, **options: Any) -> _packets.PacketSubscriber:
        return _packets.PacketSubscriber(self._key, notify=True, **options)

    def _try(self, sync: _packets.PacketSubscriber) -> Packet | None:
        return sync.try_next()

    async def next(self, timeout: float | None = None) -> Packet:
        """The next packet (a copy). ``timeout`` in seconds (None: forever)."""
        return await self._next(timeout)

    def packets(self, timeout: float | None = None) -> AsyncIterator[Packet]:
        """Yields packets until the producer closes its stream (never, with ``reconnect=True``)."""
        return self._iterate(timeout, lambda packet: None)

    def __aiter__(self) -> AsyncIterator[Packet]:
        return self.packets()

    def __repr__(self) -> str:
        return f"<cuframes.aio.PacketSubscriber {self._key!r} {'closed' if self._sync is None else 'open'}>"
