"""A recorder over a stream's packet ring: ``cuframes record KEY OUT`` and
:class:`Recorder` in Python.

It muxes the camera's own access units, without re-encoding, into mp4, mkv or
mpegts (PyAV's muxers) with the producer's pts and dts in the stream's time
base, so B-frame streams come out right. Optionally it cuts the recording into
segments that each start at a keyframe and play alone; it keeps outages as
gaps in the timeline and follows producer restarts. Needs PyAV (``pip install
cuframes[av]``); not imported by ``import cuframes``::

    from cuframes.record import Recorder

    with Recorder("cuframes://cam1", "cam1-%Y%m%d-%H%M%S.mkv", segment=60) as recorder:
        recorder.run()          # until recorder.stop() (e.g. from a signal handler) or Ctrl-C
    print(recorder.stats.summary())
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from fractions import Fraction

from ._mux import MuxedFile, RecordingError, container_format, parameter_sets
from ._packet_pump import PacketPump
from ._record_timeline import DEFAULT_GAP_S, FALLBACK_TIME_BASE, RecordingTimeline
from .errors import InvalidArgumentError
from .packets import Packet, PacketSubscriber
from .urls import parse_url

__all__ = ["Recorder", "RecordingStats", "RecordingError"]

log = logging.getLogger("cuframes.record")

# Each wait for a packet is cut into slices this long, so that stop() takes effect within one.


@dataclass
class RecordingStats:
    """What a recording has done so far."""

    packets: int = 0
    bytes: int = 0
    #: every file started, in order (the last one is being written while recording)
    files: list[str] = field(default_factory=list)
    #: length of the recording timeline in seconds (gaps included)
    seconds: float = 0.0
    #: outages kept as gaps in the timeline, and their total length
    gaps: int = 0
    gap_seconds: float = 0.0
    #: producer restarts followed
    restarts: int = 0
    #: packets lost by falling more than the ring behind (the file resumes at a keyframe)
    lost: int = 0
    #: why the recording ended: "stopped", "producer closed", "count", "duration"
    ended: str = ""

    def summary(self) -> str:
        parts = [
            f"{len(self.files)} file(s)",
            f"{self.packets} packet(s)",
            f"{self.bytes / 1e6:.1f} MB",
            f"{self.seconds:.1f} s recorded",
        ]
        if self.gaps:
            parts.append(f"{self.gaps} gap(s) kept ({self.gap_seconds:.1f} s)")
        if self.restarts:
            parts.append(f"{self.restarts} producer restart(s)")
        if self.lost:
            parts.append(f"{self.lost} packet(s) lost (the recorder fell behind)")
        if self.ended:
            parts.append(self.ended)
        return ", ".join(parts)


class Recorder(PacketPump[RecordingStats]):
    """Records the packets of ``url`` (``cuframes://KEY[?dir=DIR]`` or a bare key) into ``out``.

    - ``out``: the file name, a ``time.strftime`` pattern on local wall-clock
      time (``cam1-%Y%m%d-%H%M%S.mp4``), taken when each file starts; folders in
      it are created. An existing file is never overwritten: ``-1``, ``-2``...
      go before the extension.
    - ``format``: mp4, mkv or ts (default: from the extension of ``out``).
    - ``segment``: seconds per file. A file ends at the first keyframe at or
      after each multiple of ``segment`` from the start of the recording, so
      every file starts at a keyframe and plays alone, and the files together
      hold every packet once. ``out`` must then have a ``%`` pattern.
    - ``options``: the muxer's options (FFmpeg's), e.g. ``{"movflags":
      "frag_keyframe+empty_moov"}`` for an mp4 that survives kill -9. Every
      packet is handed to the OS as it is muxed (``flush_packets``).
    - ``follow``: follow the key across producer restarts (the default);
      without it the recording ends with the producer.
    - ``timeout``: seconds to wait for the producer and its first packet;
      ``idle_timeout``: then for each next one (None: forever, through outages).
    - ``gap_threshold``: seconds of the producer's clock between two packets,
      beyond what their timestamps say, that count as an outage (a gap).

    A new file also starts when the stream's parameter sets change (a new
    resolution or codec after a restart). :meth:`run` records until
    :meth:`stop`, the end of the producer (without ``follow``), ``count``
    packets or ``duration`` seconds; leaving the ``with`` block (or
    :meth:`close`) finishes the current file, also on Ctrl-C.
    """

    _log = log

    # Class defaults, so that close() (and __del__) work on a half-made Recorder.
    _subscriber: PacketSubscriber | None = None
    _file: MuxedFile | None = None

    def __init__(
        self,
        url: str,
        out: str,
        *,
        format: str | None = None,
        segment: float | None = None,
        options: dict[str, str] | None = None,
        follow: bool = True,
        timeout: float | None = 10.0,
        idle_timeout: float | None = None,
        gap_threshold: float = DEFAULT_GAP_S,
    ) -> None:
        self._address = parse_url(url)
        self._pattern = os.fspath(out)
        self._format = container_format(self._pattern, format)
        if segment is not None and not segment > 0:
            raise InvalidArgumentError(f"segment must be a positive number of seconds, got {segment!r}")
        if segment is not None and "%" not in self._pattern:
            raise InvalidArgumentError(
                f"--segment needs a strftime pattern in the file name, so that each "
                f"segment gets its own: e.g. {_example(self._pattern)}"
            )
        if not gap_threshold > 0:
            raise InvalidArgumentError(f"gap_threshold must be positive, got {gap_threshold!r}")
        _require_pyav()
        self._segment = Fraction(segment) if segment is not None else None
        self._options = dict(options or {})
        self._follow, self._timeout, self._idle_timeout = follow, timeout, idle_timeout
        self._gap_threshold = gap_threshold
        super().__init__()
        self.stats = RecordingStats()
        self._subscriber: PacketSubscriber | None = None
        self._file: MuxedFile | None = None
        self._timeline: RecordingTimeline | None = None
        self._file_zero = 0  # the timeline pts at which the current file starts
        self._next_cut = Fraction(0)  # seconds of timeline at which the next segment is due
        self._codec = ""
        self._parameter_sets = b""  # of the current stream: prepended to a file's first keyframe lacking them

    # -- the loop ------------------------------------------------------------------------

    def _connect(self) -> PacketSubscriber:
        return PacketSubscriber(
            self._address.key, dir=self._address.dir, connect_timeout=self._timeout, reconnect=self._follow
        )

    def _wait_limit(self) -> tuple[float | None, str]:
        limit = self._timeout if self.stats.packets == 0 else self._idle_timeout
        if limit is None:
            return None, ""
        what = "its first packet" if self.stats.packets == 0 else "a packet"
        return limit, (
            f"no packet from {self._address.key!r} for {limit:g} s while waiting for {what} "
            f"(--timeout / --idle-timeout)"
        )

    # -- one packet ----------------------------------------------------------------------

    def _handle(self, packet: Packet) -> None:
        self._note(packet)
        timeline = self._timeline or self._start_timeline(packet)
        stamp = timeline.place(packet)
        if stamp.gap:
            self.stats.gaps += 1
            self.stats.gap_seconds += stamp.gap
            log.warning("%.1f s without packets: kept as a gap in the recording", stamp.gap)
        data = packet.data
        if packet.keyframe:
            data = self._at_keyframe(packet, stamp.pts)
        if self._file is None:
            return  # no keyframe yet to start a file at
        self._file.write(data, stamp.pts - self._file_zero, stamp.dts - self._file_zero, packet.keyframe)
        self.stats.packets += 1
        self.stats.bytes += len(packet.data)
        self.stats.seconds = max(self.stats.seconds, timeline.seconds(stamp.pts))

    def _start_timeline(self, packet: Packet) -> RecordingTimeline:
        time_base = packet.time_base
        if time_base is None:
            log.warning("the producer states no time base; its timestamps are taken as %s s units", FALLBACK_TIME_BASE)
            time_base = FALLBACK_TIME_BASE
        assert self._subscriber is not None
        self._timeline = RecordingTimeline(
            time_base, frame_rate=self._subscriber.frame_rate, gap_threshold=self._gap_threshold
        )
        return self._timeline

    def _at_keyframe(self, packet: Packet, pts: int) -> bytes:
        """Starts a file here when one is due; returns the data to write (with the
        parameter sets in front when a file starts at a keyframe that lacks them)."""
        in_band = parameter_sets(packet.data, packet.codec)
        changed = packet.codec != self._codec or bool(in_band) and in_band != self._parameter_sets
        if in_band:
            self._parameter_sets = in_band
        self._codec = packet.codec
        if self._file is not None and not changed and not self._segment_due(pts):
            return packet.data
        if not self._parameter_sets:
            log.warning(
                "keyframe %d carries no parameter sets and none came before it; waiting for one that does", packet.seq
            )
            return packet.data
        data = packet.data if in_band else self._parameter_sets + packet.data
        self._new_file(data, packet, pts)
        return data

    def _segment_due(self, pts: int) -> bool:
        if self._segment is None or self._timeline is None:
            return False
        return Fraction(pts) * self._timeline.time_base >= self._next_cut

    def _new_file(self, keyframe: bytes, packet: Packet, pts: int) -> None:
        self._finish()
        assert self._timeline is not None and self._subscriber is not None
        path = _unique(time.strftime(self._pattern, time.localtime(_wall_clock(packet.timestamp_ns))))
        folder = os.path.dirname(path)
        if folder:
            try:
                os.makedirs(folder, exist_ok=True)
            except OSError as error:
                raise RecordingError(
                    f"cannot create the folder {folder}: {error.strerror}", errno=error.errno
                ) from None
        self._file = MuxedFile(
            path,
            self._format,
            keyframe=keyframe,
            codec=packet.codec,
            time_base=self._timeline.time_base,
            facts=self._subscriber.facts,
            options=self._options,
        )
        self._file_zero = pts
        if self._segment is not None:
            elapsed = Fraction(pts) * self._timeline.time_base
            self._next_cut = (math.floor(elapsed / self._segment) + 1) * self._segment
        self.stats.files.append(path)
        log.info("recording into %s", path)

    def _finish(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            file.close()

    # -- lifetime ------------------------------------------------------------------------

    def close(self) -> None:
        """Finishes the current file and drops the subscription. Idempotent."""
        super().close()

    def _release(self) -> None:
        try:
            self._finish()
        finally:
            subscriber, self._subscriber = self._subscriber, None
            if subscriber is not None:
                subscriber.close()

    @property
    def current_file(self) -> str | None:
        """The file being written, if any."""
        return self.stats.files[-1] if self._file is not None else None


def _wall_clock(timestamp_ns: int) -> float:
    """A packet's CLOCK_MONOTONIC write time as wall-clock seconds (same host)."""
    return time.time() - time.monotonic() + timestamp_ns / 1e9


def _unique(path: str) -> str:
    """``path``, or ``stem-N.ext`` with the smallest N that names no file yet."""
    if not os.path.lexists(path):
        return path
    stem, extension = os.path.splitext(path)
    number = 1
    while os.path.lexists(f"{stem}-{number}{extension}"):
        number += 1
    return f"{stem}-{number}{extension}"


def _example(pattern: str) -> str:
    stem, extension = os.path.splitext(pattern)
    return f"{stem}-%Y%m%d-%H%M%S{extension}"


#: The oldest PyAV the recorder is tested with. With PyAV 17 (the newest for Python
#: 3.10) recordings lost their last frame and mkv files their frame rate
#: (tests/test_record.py, run on both in CI), so the recorder refuses it rather
#: than write a file that is silently short.
MIN_PYAV = (18, 0)


def _require_pyav() -> None:
    import av  # optional: pip install av

    found = tuple(int(part) for part in av.__version__.split(".")[:2] if part.isdigit())
    if found < MIN_PYAV:
        raise RecordingError(
            f"cuframes record needs PyAV {MIN_PYAV[0]} or newer, found {av.__version__} (with it a "
            f"recording loses its last frame): pip install 'av>={MIN_PYAV[0]}' (on Python 3.11 or newer)"
        )
