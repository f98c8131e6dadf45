"""An RTSP camera read with PyAV, that comes back by itself after a loss.

On a read error, the end of the stream, or a read timeout, the source logs the
loss (logger ``cuframes.sources``, WARNING, so it reaches stderr even with no
logging set up), retries with exponential backoff, and logs the gap once
pictures flow again; :attr:`health` counts reconnects and seconds lost. The
iteration simply pauses meanwhile: the publisher fed from it stays up, and its
subscribers keep their connection.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from .errors import SourceError, SourceUnreachableError, UnsupportedSourceError
from .items import SourceItem, VideoFrame, VideoSource, warn_frames_only
from .pyav_session import PyAVSession, adopt_stream_facts, import_av
from .timeline import PtsTimeline

__all__ = ["RtspSource", "Backoff", "DEFAULT_BACKOFF"]

log = logging.getLogger("cuframes.sources")


@dataclass(frozen=True)
class Backoff:
    """Waits between reconnection attempts: ``initial`` seconds, doubling up to ``maximum``."""

    initial: float = 0.5
    maximum: float = 10.0

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum:
            raise UnsupportedSourceError(
                f"reconnect backoff needs 0 < initial <= maximum, got initial={self.initial} maximum={self.maximum}"
            )

    def delays(self) -> Iterator[float]:
        delay = self.initial
        while True:
            yield delay
            delay = min(delay * 2, self.maximum)


#: 0.5 s, doubling up to 10 s.
DEFAULT_BACKOFF = Backoff()


_SECRET_QUERY = re.compile(r"(?i)(^|[&;])(password|passwd|pass|pwd|token)=[^&;]*")


def redact(url: str) -> str:
    """The URL without its password (user info and ``password=``/``token=``-like
    query parameters), for logs and errors."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        # Everything after the user info is kept as written: an IPv6 host keeps its brackets.
        host = netloc.rpartition("@")[2]
        netloc = f"{parts.username}:***@{host}"
    query = _SECRET_QUERY.sub(r"\1\2=***", parts.query)
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _reason(error: BaseException, waited: float, timeout: float) -> str:
    """What went wrong, without the URL (FFmpeg's errors end with the file name).
    A timeout interrupts FFmpeg, which then reports an unrelated error: say timeout."""
    if waited >= 0.9 * timeout:
        return f"nothing received for {timeout:g} s"
    return getattr(error, "strerror", None) or type(error).__name__


class RtspSource(VideoSource):
    """Frames and packets of the first video stream at ``url``.

    ``transport`` is "tcp" (default: no loss to UDP drops or NAT) or "udp".
    ``open_timeout`` bounds connecting, ``read_timeout`` the wait for data once
    connected. The first connection must succeed (a wrong URL is an error, at
    once); after that, losses are retried forever with ``backoff``. Live: frames
    are published as they arrive, never paced. The pts continue across a gap,
    advanced by the time lost, so they keep growing and keep matching the packets.
    """

    live = True
    _timeline: PtsTimeline  # set by adopt_stream_facts

    def __init__(
        self,
        url: str,
        *,
        transport: str = "tcp",
        open_timeout: float = 10.0,
        read_timeout: float = 5.0,
        backoff: Backoff = DEFAULT_BACKOFF,
    ) -> None:
        super().__init__()
        if transport not in ("tcp", "udp"):
            raise UnsupportedSourceError(f"RTSP transport must be tcp or udp, got {transport!r}")
        self.url = url
        self.transport = transport
        self.open_timeout, self.read_timeout = open_timeout, read_timeout
        self.backoff = backoff
        self._stop = threading.Event()  # close() from another thread ends a backoff wait at once
        self._iterating = False
        self._out_size: tuple[int, int] | None = None
        self._session: PyAVSession | None = None
        self._session = self._connect()  # a bad URL fails here, not in the loop
        first = self._session
        adopt_stream_facts(self, first)
        self.description = (
            f"rtsp {redact(url)} ({first.codec_name} {self.width}x{self.height} {self.fps:g} fps, {transport})"
        )
        if self.codec is None:
            warn_frames_only(redact(url), first.codec_name)

    def _connect(self) -> PyAVSession:
        av = import_av()
        options = {"rtsp_transport": self.transport}
        started = time.monotonic()
        try:
            return PyAVSession(
                self.url,
                options=options,
                timeout=(self.open_timeout, self.read_timeout),
                out_size=self._out_size,
                count_missing_timestamps=False,
                name=redact(self.url),
            )
        except (av.error.FFmpegError, OSError) as error:
            # Not chained: FFmpeg's message and the cause's repr name the URL, password included.
            reason = _reason(error, time.monotonic() - started, self.open_timeout)
            raise SourceUnreachableError(
                f"cannot open {redact(self.url)}: {reason}", errno=getattr(error, "errno", None)
            ) from None

    def __iter__(self) -> Iterator[SourceItem]:
        av = import_av()
        last_picture: float | None = None  # time.monotonic() of the newest frame
        last_item = time.monotonic()  # of the newest packet or frame, to tell a read timeout
        lost_at: float | None = None  # set while a gap is open
        # The waits of the open gap: kept until a picture comes, so that a camera that
        # accepts and drops again at once is retried ever more slowly, not every `initial` s.
        delays: Iterator[float] | None = None
        self._iterating = True
        try:
            while not self.closed:
                if self._session is None:
                    delays = delays or self.backoff.delays()
                    session = self._reconnect(delays)
                    if session is None:
                        return  # closed while waiting
                    # The new session's pts go after the old ones, plus the time lost.
                    lost = time.monotonic() - lost_at if lost_at is not None else 0.0
                    self._timeline.new_segment(round(lost / self.time_base))
                    self._session = session
                    last_item = time.monotonic()
                session = self._session
                try:
                    for item in session.items(self._timeline):
                        last_item = time.monotonic()
                        if isinstance(item, VideoFrame):
                            last_picture = time.monotonic()
                            if lost_at is not None:
                                self._gap_closed(last_picture - lost_at)
                                lost_at, delays = None, None
                        yield item
                        if self.closed:
                            return  # close() from another thread, on a stream that keeps sending
                    reason = "the stream ended"
                except (av.error.FFmpegError, OSError) as error:
                    reason = _reason(error, time.monotonic() - last_item, self.read_timeout)
                finally:
                    session.close()
                    self._session = None
                if not self.closed and lost_at is None:
                    lost_at = last_picture if last_picture is not None else time.monotonic()
                    self.health.reconnecting = True
                    log.warning(
                        "%s: lost (%s); reconnecting (after %g s, doubling to %g s)",
                        redact(self.url),
                        reason,
                        self.backoff.initial,
                        self.backoff.maximum,
                    )
                elif not self.closed:
                    log.info("%s: lost again before a picture came (%s)", redact(self.url), reason)
        finally:
            self._iterating = False

    def _reconnect(self, delays: Iterator[float]) -> PyAVSession | None:
        """Retries after each of ``delays`` until a connection opens, or close().

        Any source error counts as a failed attempt: a camera still booting
        accepts connections before it has a video stream (no stream, size 0).
        A new size is no error: the frames are scaled to the first session's
        size (``_out_size``), which subscribers read.
        """
        for delay in delays:
            if self._stop.wait(delay):
                return None
            try:
                return self._connect()
            except SourceError as error:
                self.health.failed_attempts += 1
                log.info("%s: reconnect attempt failed: %s", redact(self.url), error)
        raise AssertionError("Backoff.delays() never ends")

    def _gap_closed(self, seconds: float) -> None:
        self.health.reconnects += 1  # counted once pictures flow again, not at each connection that opens
        self.health.seconds_lost += seconds
        self.health.reconnecting = False
        log.warning(
            "%s: back after a %.1f s gap (%d reconnect(s), %.1f s lost in all)",
            redact(self.url),
            seconds,
            self.health.reconnects,
            self.health.seconds_lost,
        )

    def _release(self) -> None:
        self._stop.set()
        # While a loop iterates, the session is its to close (a container must not be
        # closed under a read in progress on another thread); otherwise it is ours.
        if not self._iterating and self._session is not None:
            self._session.close()
            self._session = None
