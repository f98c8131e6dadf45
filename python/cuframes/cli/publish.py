"""`cuframes publish SOURCE --key K`: publish a test pattern, a video file or an
RTSP camera under a key: decoded NV12 frames to the frame ring, H.264/H.265
access units to the packet ring.

The command is defined here and registered in cli.py (``main.add_command(publish)``).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from click.core import ParameterSource
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from ..errors import Error
from ..publisher import DEFAULTS, Publisher
from ..sources import (
    Backoff,
    PublishStats,
    SourceError,
    SourceSpec,
    VideoSource,
    open_source,
    parse_source,
    run_publish,
)
from ..sources.source_reader import readers_left_behind
from .console import console as make_console
from .console import print_error
from .live_status import LiveStatus

__all__ = ["publish"]

EXIT_OK, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 130
MIN_DEFAULT_PACKET_RING_BYTES = 8 << 20
MAX_DEFAULT_PACKET_RING_BYTES = 256 << 20


def default_packet_ring_bytes(width: int, height: int) -> int:
    """A packet ring for a source of this size: its largest packet is half the ring,
    so room for 2 keyframes as large as an uncompressed NV12 picture (4 ordinary
    ones), at least 8 MiB and at most 256 MiB. 4K: 47 MiB."""
    uncompressed = width * height * 3 // 2
    return min(MAX_DEFAULT_PACKET_RING_BYTES, max(MIN_DEFAULT_PACKET_RING_BYTES, 2 * 2 * uncompressed))


@click.command("publish", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("source")
@click.option("--key", "-k", required=True, help="The key to publish under (subscribers open cuframes://KEY).")
@click.option(
    "--dir",
    "dir_",
    type=click.Path(file_okay=False),
    default=None,
    help="Socket folder (default: $CUFRAMES_DIR, else /tmp/cuframes).",
)
@click.option(
    "--backend",
    type=click.Choice(["auto", "cuda", "host"]),
    default="auto",
    show_default=True,
    help="Frame memory. auto: cuda when a GPU is usable, else host.",
)
@click.option(
    "--decoder",
    type=click.Choice(["cpu", "nvdec"]),
    default="cpu",
    show_default=True,
    help="cpu: PyAV (files, RTSP). nvdec: PyNvVideoCodec on the GPU (files; needs the cuda backend).",
)
@click.option(
    "--device",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="CUDA device for the cuda backend and NVDEC.",
)
@click.option(
    "--packet-ring-bytes",
    type=click.IntRange(min=0),
    default=None,
    show_default="4 x an NV12 frame's size, 8 to 256 MiB",
    help="Size of the packet ring for H.264/H.265 access units; 0: frames only. A packet larger than "
    "half of it is dropped (with a warning).",
)
@click.option("--slots", type=click.IntRange(min=1), default=DEFAULTS["slots"], show_default=True, help="Frame slots.")
@click.option("--max-subscribers", type=click.IntRange(min=1), default=DEFAULTS["max_subscribers"], show_default=True)
@click.option("--width", type=click.IntRange(min=2), default=1280, show_default=True, help="testsrc width.")
@click.option("--height", type=click.IntRange(min=2), default=720, show_default=True, help="testsrc height.")
@click.option("--fps", type=click.FloatRange(min=0.01), default=30.0, show_default=True, help="testsrc frame rate.")
@click.option(
    "--gop",
    type=click.IntRange(min=1),
    default=None,
    show_default="2 seconds of frames",
    help="testsrc: a keyframe every N frames.",
)
@click.option("--loop", is_flag=True, help="Files: start again at the end, forever.")
@click.option(
    "--no-pace", is_flag=True, help="testsrc and files: publish as fast as they decode instead of at their own rate."
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0.01),
    default=1.0,
    show_default=True,
    help="testsrc and files: play at this multiple of their own rate.",
)
@click.option("--rtsp-transport", type=click.Choice(["tcp", "udp"]), default="tcp", show_default=True)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="RTSP: seconds to connect, and to wait for data before the stream counts as lost.",
)
@click.option(
    "--reconnect-initial",
    type=click.FloatRange(min=0.01),
    default=0.5,
    show_default=True,
    help="RTSP: first wait before reconnecting, in seconds; it doubles after each failed attempt...",
)
@click.option(
    "--reconnect-max",
    type=click.FloatRange(min=0.01),
    default=10.0,
    show_default=True,
    help="... up to this many seconds.",
)
@click.option("--duration", type=click.FloatRange(min=0), default=None, help="Stop after this many seconds.")
@click.option("--frames", "max_frames", type=click.IntRange(min=1), default=None, help="Stop after this many frames.")
@click.option("--verbose", "-v", is_flag=True, help="Also log each failed reconnect attempt.")
@click.pass_context
def publish(
    ctx: click.Context,
    source: str,
    key: str,
    dir_: str | None,
    backend: str,
    decoder: str,
    device: int,
    packet_ring_bytes: int | None,
    slots: int,
    max_subscribers: int,
    width: int,
    height: int,
    fps: float,
    gop: int | None,
    loop: bool,
    no_pace: bool,
    speed: float,
    rtsp_transport: str,
    timeout: float,
    reconnect_initial: float,
    reconnect_max: float,
    duration: float | None,
    max_frames: int | None,
    verbose: bool,
) -> None:
    """Publish SOURCE under --key: decoded NV12 frames for subscribers, and
    H.264/H.265 access units (Annex-B) for packet subscribers.

    \b
    SOURCE is one of:
      testsrc[:WIDTHxHEIGHT][@FPS]   a moving test pattern, encoded with libx264
      rtsp://[user:pass@]host/path   an RTSP camera; reconnects after a loss
      PATH or file:///PATH           a video file, at its own rate (--loop)

    \b
    Examples:
      cuframes publish testsrc:1280x720@30 --key test
      cuframes publish rtsp://10.0.0.5/stream1 --key cam1
      cuframes publish clip.mp4 --key clip --loop --decoder nvdec --backend cuda
    """
    err = make_console(stderr=True)
    try:
        spec = parse_source(source)
        if spec.kind == "testsrc":
            given = [
                name
                for name, value in (("width", spec.width), ("height", spec.height), ("fps", spec.fps))
                if value is not None and ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE
            ]
            if given:
                raise click.UsageError(
                    f"{source!r} sets the {' and '.join(given)} already; drop --{' and --'.join(given)}"
                )
        if decoder == "nvdec":
            if backend == "host":
                raise click.UsageError("--decoder nvdec puts frames in GPU memory: use --backend cuda (or auto)")
            backend = "cuda"  # so that a machine without a usable GPU says so clearly
        backoff = Backoff(reconnect_initial, max(reconnect_initial, reconnect_max))
    except SourceError as error:
        raise click.UsageError(str(error)) from None

    source_options = {
        "decoder": decoder,
        "width": width,
        "height": height,
        "fps": fps,
        "gop": gop,
        "loop": loop,
        "rtsp_transport": rtsp_transport,
        "timeout": timeout,
        "backoff": backoff,
        "device": device,
    }
    publisher_options = {
        "slots": slots,
        "backend": backend,
        "device": device,
        "dir": dir_,
        "max_subscribers": max_subscribers,
        "packet_ring_bytes": packet_ring_bytes,
    }
    run_options = {
        "pace": not no_pace,
        "speed": speed,
        "publish_packets": packet_ring_bytes != 0,
        "max_frames": max_frames,
        "duration": duration,
    }
    with _log_to(err, verbose):
        code = _publish(err, key, spec, source_options, publisher_options, run_options)
    if readers_left_behind():
        # The publisher is closed and its socket gone; only the reader stuck in a
        # stalled camera's read remains, and finalizing the interpreter under it
        # can crash (see readers_left_behind). Leave without finalizing.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _publish(
    err: Console,
    key: str,
    spec: SourceSpec,
    source_options: dict[str, Any],
    publisher_options: dict[str, Any],
    run_options: dict[str, Any],
) -> int:
    """Opens the source, then the publisher (sized by the source), runs the publish
    loop to its end, and returns the exit code."""
    terminated = threading.Event()
    try:
        with (
            _sigterm_stops(terminated),
            open_source(spec, **source_options) as source,
            Publisher(
                key,
                source.width,
                source.height,
                "nv12",
                description=source.description,
                facts=source.facts,
                **_sized_for(source, publisher_options),
            ) as pub,
            _Progress(err, key, source) as progress,
        ):
            stats = run_publish(source, pub, on_progress=progress.update, **run_options)
    except Error as error:  # the sources' errors are cuframes.Error too
        print_error(err, error)
        return EXIT_ERROR
    except KeyboardInterrupt:  # before the publish loop runs (it takes Ctrl-C as a stop)
        err.print("[yellow]interrupted[/]")
        return EXIT_OK if terminated.is_set() else EXIT_INTERRUPTED
    err.print(f"cuframes publish {key}: {stats.summary()}", highlight=False, soft_wrap=True)
    if stats.ended == "interrupted" and not terminated.is_set():
        return EXIT_INTERRUPTED
    return EXIT_OK


def _sized_for(source: VideoSource, publisher_options: dict[str, Any]) -> dict[str, Any]:
    """The publisher's options, the packet ring sized for the source when left at its default."""
    if publisher_options["packet_ring_bytes"] is not None:
        return publisher_options
    return {**publisher_options, "packet_ring_bytes": default_packet_ring_bytes(source.width, source.height)}


class _Progress(LiveStatus[PublishStats]):
    """Frames, fps, packets and reconnects of the running publish."""

    def __init__(self, console: Console, key: str, source: VideoSource) -> None:
        super().__init__(console, f"publishing {key}: {source.description}")
        self._key, self._source = key, source

    def render(self, stats: PublishStats) -> Text:
        health = stats.health
        line = Text()
        line.append(f"publishing {self._key}: {self._source.description}\n", style="bold")
        line.append(
            f"frames {stats.frames} ({stats.fps:.1f} fps)   packets {stats.packets} "
            f"({stats.packet_bytes / 1e6:.1f} MB)   reconnects {health.reconnects} "
            f"({health.seconds_lost:.1f} s lost)"
        )
        if health.reconnecting:
            line.append("   reconnecting...", style="yellow")
        return line


class _ConsoleLogHandler(logging.Handler):
    """The sources' log lines (RTSP losses and gaps, skipped packets) as warning: lines on the console."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self._console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            label = "[yellow]warning:[/]" if record.levelno >= logging.WARNING else "[dim]info:[/]"
            self._console.print(f"{label} {escape(record.getMessage())}", highlight=False, soft_wrap=True)
        except Exception:  # logging must never break the publish loop
            self.handleError(record)


@contextmanager
def _log_to(console: Console, verbose: bool, name: str = "cuframes.sources") -> Iterator[None]:
    logger = logging.getLogger(name)
    handler = _ConsoleLogHandler(console)
    saved = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    logger.propagate = False  # one line per event, not again through a root handler
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


@contextmanager
def _sigterm_stops(terminated: threading.Event) -> Iterator[None]:
    """SIGTERM (docker stop, systemd) stops like Ctrl-C, so the publisher closes
    cleanly, but counts as a requested stop (exit 0)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def stop(signum: int, frame: object) -> None:
        terminated.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
