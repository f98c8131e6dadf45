"""Iterates a source in a daemon thread, so that the publish loop never blocks in it.

A source can block for seconds: an RTSP camera that stalls (PyAV's interrupt
fires only at its read timeout) or that is away (the backoff between attempts).
Meanwhile the publish loop must still see its time limit, Ctrl-C, SIGTERM and
``stop``, and report progress. So the loop waits on a small queue with short
timeouts, and a stop leaves the reader where it is: it is a daemon, its items
are dropped, and it never touches the publisher (only the loop publishes).

A frame's data is valid only until the source is asked for its next item (the
test pattern reuses one buffer, NVDEC its surfaces). Rather than copy each
frame, the reader hands a frame over and waits until the loop says it is done
with it before asking for the next item. Packets own their bytes: up to
``depth`` of them may wait in the queue.
"""

from __future__ import annotations

import queue
import threading

from .items import SourceItem, VideoFrame, VideoSource

__all__ = ["SourceReader", "END", "readers_left_behind"]

# How often a reader blocked on a full queue looks at the stop flag.
_STOP_CHECK_S = 0.1
_THREAD_NAME = "cuframes-source-reader"


def readers_left_behind() -> bool:
    """True while a stopped reader is still inside its source (a blocking read of a
    stalled camera). A process must then not finalize its interpreter: the reader's
    native read calls back into Python (PyAV's interrupt callback), and a daemon
    thread that takes the GIL during finalization can crash the process (SIGSEGV
    was seen). Such a process ends with os._exit once its own clean-up is done."""
    return any(thread.name == _THREAD_NAME and thread.is_alive() for thread in threading.enumerate())


class _End:
    """The source ended by itself."""

    def __repr__(self) -> str:
        return "END"


#: What :meth:`SourceReader.get` returns once the source has ended.
END = _End()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class SourceReader:
    """Reads ``source`` (``iter(source)``) in a daemon thread, started at once."""

    def __init__(self, source: VideoSource, *, depth: int = 4) -> None:
        self._queue: queue.Queue[SourceItem | _End | _Failed] = queue.Queue(maxsize=depth)
        self._frame_done = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(source,), name=_THREAD_NAME, daemon=True)
        self._thread.start()

    def get(self, timeout: float) -> SourceItem | _End | None:
        """The next item, :data:`END` once the source ended, or None when nothing came
        within ``timeout`` seconds. The source's own error is raised here. After a
        frame, call :meth:`frame_done` once its data is no longer needed."""
        try:
            got = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(got, _Failed):
            raise got.error
        return got

    def frame_done(self) -> None:
        """The loop is done with the last frame: the reader may ask for the next item."""
        self._frame_done.set()

    def stop(self) -> None:
        """Tells the reader to stop at its next chance and drop what it still reads.
        Does not wait: the reader may be inside a blocking read."""
        self._stopping.set()
        self._frame_done.set()

    def join(self, timeout: float) -> bool:
        """Waits up to ``timeout`` seconds for the reader to finish; True when it did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self, source: VideoSource) -> None:
        outcome: _End | _Failed = END
        items = None
        try:
            items = iter(source)
            for item in items:
                is_frame = isinstance(item, VideoFrame)
                if is_frame:
                    self._frame_done.clear()
                if not self._put(item) or (is_frame and not self._wait_frame_done()):
                    return  # stopped: the finally below ends the iteration here, in its own thread
        except BaseException as error:  # handed to the loop, which raises it
            outcome = _Failed(error)
        finally:
            # A generator's clean-up (its open input) must run in the thread that iterates it.
            close = getattr(items, "close", None)
            if close is not None:
                try:
                    close()
                except Exception as error:
                    if isinstance(outcome, _End):
                        outcome = _Failed(error)
        self._put(outcome)

    def _put(self, got: SourceItem | _End | _Failed) -> bool:
        while not self._stopping.is_set():
            try:
                self._queue.put(got, timeout=_STOP_CHECK_S)
                return True
            except queue.Full:
                continue
        return False

    def _wait_frame_done(self) -> bool:
        self._frame_done.wait()  # stop() sets it too
        return not self._stopping.is_set()
