"""A video file read with PyAV: packets to the packet ring, frames decoded on the CPU."""

from __future__ import annotations

import os
from collections.abc import Iterator

from .errors import SourceError, SourceNotFoundError, UnsupportedSourceError, ffmpeg_reason, nothing_to_loop
from .items import SourceItem, VideoSource, warn_frames_only
from .pyav_session import PyAVSession, adopt_stream_facts, import_av
from .timeline import PtsTimeline

__all__ = ["FileSource"]


class FileSource(VideoSource):
    """Plays ``path`` once, or forever with ``loop``. Not live: the publish loop
    paces it at the file's own rate. On each new pass the pts continue where the
    previous pass ended, so they keep growing."""

    live = False
    _timeline: PtsTimeline  # set by adopt_stream_facts

    def __init__(self, path: str, *, loop: bool = False) -> None:
        super().__init__()
        self.path = path
        self.loop = loop
        self._session: PyAVSession | None = None
        self._iterating = False
        if not os.path.exists(path):
            raise SourceNotFoundError(f"no video file at {path!r}")
        if os.path.isdir(path):
            raise UnsupportedSourceError(f"{path!r} is a folder, not a video file")
        self._out_size: tuple[int, int] | None = None
        self._session = self._open()  # errors surface here, and the size is known
        first = self._session
        adopt_stream_facts(self, first)
        loop_note = ", looped" if loop else ""
        self.description = (
            f"file {os.path.basename(path)} ({first.codec_name} {self.width}x{self.height} {self.fps:g} fps{loop_note})"
        )
        if self.codec is None:
            warn_frames_only(path, first.codec_name)

    def _open(self) -> PyAVSession:
        av = import_av()
        try:
            return PyAVSession(self.path, options={}, timeout=None, out_size=self._out_size, frame_threads=True)
        except av.error.FileNotFoundError as error:
            raise SourceNotFoundError(f"no video file at {self.path!r}") from error
        except av.error.FFmpegError as error:
            raise UnsupportedSourceError(
                f"{self.path!r} is not a video file PyAV can read: {ffmpeg_reason(error)}"
            ) from error

    def __iter__(self) -> Iterator[SourceItem]:
        av = import_av()
        self._iterating = True
        try:
            while not self.closed:
                if self._session is None:
                    self._session = self._open()
                session = self._session
                try:
                    for item in session.items(self._timeline):
                        yield item
                        if self.closed:
                            return  # close() from another thread
                except av.error.FFmpegError as error:
                    raise SourceError(f"reading {self.path!r} failed: {ffmpeg_reason(error)}") from error
                finally:
                    session.close()
                    self._session = None
                if not self.loop or self.closed:
                    return
                if session.frames == 0:
                    raise nothing_to_loop(self.path)  # looping would spin
                self._timeline.new_segment()
        finally:
            self._iterating = False

    def _release(self) -> None:
        # While a loop iterates, the session is its to close (a container must not be
        # closed under a read in progress on another thread); otherwise it is ours.
        if self._iterating:
            return
        session, self._session = self._session, None
        if session is not None:
            session.close()
