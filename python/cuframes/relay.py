"""A relay of a stream's packets to a streaming server: ``cuframes relay KEY URL`` and
:class:`Relay` in Python.

It pushes the camera's own access units, without re-encoding, with the producer's
pts and dts, through FFmpeg's muxers (PyAV): RTSP publish (``rtsp://``, e.g. to
MediaMTX), SRT (``srt://``, MPEG-TS inside), RTMP (``rtmp://``, FLV inside) and
MPEG-TS over UDP or TCP (``udp://``, ``tcp://``). The server then fans the stream
out to other hosts. When the server is away or drops the connection the relay
tries again with backoff (0.5 s doubling to 10 s by default), at a keyframe with
its parameter sets, and says how long the gap was and how many packets it skipped;
it follows producer restarts. Needs PyAV; not imported by ``import cuframes``::

    from cuframes.relay import Relay

    with Relay("cuframes://cam1", "rtsp://mediamtx:8554/cam1") as relay:
        relay.run()          # until relay.stop() (e.g. from a signal handler) or Ctrl-C
    print(relay.stats.summary())
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from ._mux import MuxedFile, RecordingError, parameter_sets
from ._packet_pump import PacketPump
from ._record_timeline import FALLBACK_TIME_BASE, RecordingTimeline
from .errors import InvalidArgumentError
from .packets import Packet, PacketSubscriber
from .record import _require_pyav
from .urls import parse_url

__all__ = ["Relay", "RelayStats", "RelayError", "muxer_for"]

log = logging.getLogger("cuframes.relay")

RelayError = RecordingError  # a server that cannot be reached or written to

#: FFmpeg's muxer for each URL scheme, and the options it gets by default.
_MUXERS: dict[str, tuple[str, dict[str, str]]] = {
    "rtsp": ("rtsp", {"rtsp_transport": "tcp"}),
    "srt": ("mpegts", {}),
    "rtmp": ("flv", {}),
    "rtmps": ("flv", {}),
    "udp": ("mpegts", {}),
    "tcp": ("mpegts", {}),
}


def muxer_for(url: str, format: str | None = None) -> tuple[str, dict[str, str]]:
    """FFmpeg's muxer and default options for a server URL; InvalidArgumentError for a bad one."""
    parts = urlsplit(url)
    if parts.scheme not in _MUXERS:
        raise InvalidArgumentError(
            f"cannot relay to {url!r}: give a server URL starting with one of "
            f"{', '.join(s + '://' for s in _MUXERS)} (e.g. rtsp://mediamtx:8554/cam1)"
        )
    try:
        port = parts.port
    except ValueError:
        raise InvalidArgumentError(f"cannot relay to {url!r}: its port is not a number in 1..65535") from None
    if not parts.hostname or (parts.scheme in ("udp", "tcp", "srt") and port is None):
        raise InvalidArgumentError(f"cannot relay to {url!r}: it names no host" + (" and port" if port is None else ""))
    muxer, options = _MUXERS[parts.scheme]
    return (format or muxer), dict(options)


@dataclass
class RelayStats:
    """What a relay has done so far."""

    packets: int = 0  #: packets sent to the server
    bytes: int = 0
    connects: int = 0  #: connections made to the server (1 + reconnections)
    outages: int = 0  #: times the server was lost or could not be reached
    skipped: int = 0  #: packets not sent while the server was away (or waiting for a keyframe)
    lost: int = 0  #: packets lost by falling more than the ring behind
    restarts: int = 0  #: producer restarts followed
    gaps: int = 0  #: outages of the producer kept as gaps in the timestamps
    ended: str = ""  #: "stopped", "producer closed", "count", "duration"

    def summary(self) -> str:
        parts = [f"{self.packets} packet(s) sent", f"{self.bytes / 1e6:.1f} MB", f"{self.connects} connection(s)"]
        if self.outages:
            parts.append(f"{self.outages} server outage(s), {self.skipped} packet(s) skipped")
        if self.restarts:
            parts.append(f"{self.restarts} producer restart(s)")
        if self.lost:
            parts.append(f"{self.lost} packet(s) lost (the relay fell behind)")
        if self.ended:
            parts.append(self.ended)
        return ", ".join(parts)


class Relay(PacketPump[RelayStats]):
    """Pushes the packets of ``url`` (``cuframes://KEY[?dir=DIR]`` or a bare key) to ``target``.

    - ``target``: the server's URL (``rtsp://``, ``srt://``, ``rtmp://``, ``udp://``, ``tcp://``).
    - ``format``: FFmpeg's muxer instead of the one the scheme implies; ``options``: its options
      (e.g. ``{"rtsp_transport": "udp"}``), over the defaults.
    - ``timeout``: seconds to wait for the producer and its first packet.
    - ``backoff``: (first, largest) seconds between attempts to reach the server; doubling.
    """

    _log = log

    _subscriber: PacketSubscriber | None = None
    _out: MuxedFile | None = None

    def __init__(
        self,
        url: str,
        target: str,
        *,
        format: str | None = None,
        options: dict[str, str] | None = None,
        timeout: float | None = 10.0,
        backoff: tuple[float, float] = (0.5, 10.0),
    ) -> None:
        self._address = parse_url(url)
        self._target = target
        self._format, defaults = muxer_for(target, format)
        self._options = {**defaults, **(options or {})}
        if not 0 < backoff[0] <= backoff[1]:
            raise InvalidArgumentError(f"backoff must be (first, largest) with 0 < first <= largest, got {backoff!r}")
        _require_pyav()
        self._backoff = backoff
        self._timeout = timeout
        super().__init__()
        self.stats = RelayStats()
        self._timeline: RecordingTimeline | None = None
        self._zero = 0  # the timeline pts at which the current connection starts
        self._parameter_sets = b""
        self._delay = backoff[0]
        self._next_try = 0.0
        self._lost_at: float | None = None  # when the server went away
        self._connected = False

    def _connect(self) -> PacketSubscriber:
        return PacketSubscriber(self._address.key, dir=self._address.dir, connect_timeout=self._timeout, reconnect=True)

    def _wait_limit(self) -> tuple[float | None, str]:
        # Only for the first packet: the relay then follows the producer through outages.
        if self._timeline is not None or self._timeout is None:
            return None, ""
        return self._timeout, f"no packet from {self._address.key!r} within {self._timeout:g} s (--timeout)"

    def _finish(self) -> None:
        self._disconnect()

    def _handle(self, packet: Packet) -> None:
        self._note(packet)
        if self._timeline is None:
            assert self._subscriber is not None
            self._timeline = RecordingTimeline(
                packet.time_base or FALLBACK_TIME_BASE, frame_rate=self._subscriber.frame_rate
            )
        stamp = self._timeline.place(packet)
        if stamp.gap:
            self.stats.gaps += 1
            log.warning("%.1f s without packets from the producer", stamp.gap)
        data = packet.data
        if packet.keyframe:
            in_band = parameter_sets(data, packet.codec)
            self._parameter_sets = in_band or self._parameter_sets
            if not in_band and self._parameter_sets:
                data = self._parameter_sets + data
            if self._out is None and self._parameter_sets and time.monotonic() >= self._next_try:
                self._connect_server(data, packet, stamp.pts)
        if self._out is None:
            if self._lost_at is not None:
                self.stats.skipped += 1
            return
        try:
            self._out.write(data, stamp.pts - self._zero, stamp.dts - self._zero, packet.keyframe)
        except (RelayError, OSError) as error:
            self._server_lost(f"lost the connection to {self._target}: {error}")
            self.stats.skipped += 1
            return
        self.stats.packets += 1
        self.stats.bytes += len(packet.data)
        if not self._connected:
            self._connected = True
            self._connection_made()

    def _connection_made(self) -> None:
        self.stats.connects += 1
        self._delay = self._backoff[0]
        if self._lost_at is None:
            log.info("relaying %s to %s", self._address.key, self._target)
            return
        log.warning(
            "back on %s after a %.1f s gap (%d packet(s) skipped so far)",
            self._target,
            time.monotonic() - self._lost_at,
            self.stats.skipped,
        )
        self._lost_at = None

    def _connect_server(self, keyframe: bytes, packet: Packet, pts: int) -> None:
        assert self._timeline is not None and self._subscriber is not None
        try:
            self._out = MuxedFile(
                self._target,
                self._format,
                keyframe=keyframe,
                codec=packet.codec,
                time_base=self._timeline.time_base,
                facts=self._subscriber.facts,
                options=self._options,
            )
        except RelayError as error:
            self._server_lost(f"cannot reach {self._target}: {error}")
            return
        self._zero = pts
        self._connected = False  # PyAV connects at the first packet (the header goes with it)

    def _server_lost(self, why: str) -> None:
        self._disconnect(abandon=True)
        if "Protocol not found" in why:  # no retry helps: PyAV's FFmpeg lacks it (its wheels have no SRT)
            scheme = urlsplit(self._target).scheme
            raise RelayError(
                f"PyAV's FFmpeg cannot speak {scheme}:// ({why}): install a PyAV built on an FFmpeg that has it "
                f"(SRT needs libsrt), or relay MPEG-TS over udp:// or tcp:// to a converter"
            )
        if self._lost_at is None:
            self._lost_at = time.monotonic()
            self.stats.outages += 1
        log.warning("%s; trying again in %.1f s", why, self._delay)
        self._next_try = time.monotonic() + self._delay
        self._delay = min(self._delay * 2, self._backoff[1])

    def _disconnect(self, abandon: bool = False) -> None:
        out, self._out = self._out, None
        if out is None:
            return
        if abandon:
            out._abandon()  # the connection is gone: no trailer can reach it
            return
        try:
            out.close()
        except (RelayError, OSError) as error:
            log.warning("closing the connection to %s: %s", self._target, error)

    def close(self) -> None:
        """Ends the connection to the server and drops the subscription. Idempotent."""
        super().close()

    def _release(self) -> None:
        try:
            self._disconnect()
        finally:
            subscriber, self._subscriber = self._subscriber, None
            if subscriber is not None:
                subscriber.close()
