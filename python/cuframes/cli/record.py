"""`cuframes record KEY OUT`: the command over cuframes.record.Recorder.

The command is defined here and registered in cli.py (``main.add_command(record)``).
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.text import Text

from .._record_timeline import DEFAULT_GAP_S
from ..errors import Error
from .console import console as make_console
from .console import print_error
from .live_status import LiveStatus
from .publish import _log_to

if TYPE_CHECKING:
    from ..record import RecordingStats

__all__ = ["record"]

EXIT_OK, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 130
_FILES_LISTED = 10


def _muxer_option(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    options = {}
    for value in values:
        name, sep, setting = value.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{value!r} is not NAME=VALUE (e.g. movflags=frag_keyframe+empty_moov)")
        options[name] = setting
    return options


@click.command("record", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("url")
@click.argument("out")
@click.option(
    "--format",
    "format_",
    type=click.Choice(["mp4", "mkv", "ts"]),
    default=None,
    help="Container (default: from OUT's extension: .mp4, .mkv, .ts).",
)
@click.option(
    "--segment",
    type=click.FloatRange(min=0.1),
    default=None,
    metavar="SECONDS",
    help="Start a new file at the first keyframe at or after every SECONDS of recording; OUT must be a "
    "strftime pattern (e.g. cam1-%Y%m%d-%H%M%S.mkv).",
)
@click.option(
    "--option",
    "-o",
    "options",
    multiple=True,
    callback=_muxer_option,
    metavar="NAME=VALUE",
    help="An FFmpeg muxer option, e.g. -o movflags=frag_keyframe+empty_moov (an mp4 that survives "
    "kill -9). Repeatable.",
)
@click.option(
    "--follow/--no-follow",
    default=True,
    show_default=True,
    help="Follow the key across producer restarts, or end with the producer.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds to wait for the producer and its first packet.",
)
@click.option(
    "--idle-timeout",
    type=click.FloatRange(min=0),
    default=None,
    help="Then, seconds to wait for each next packet (default: forever, through outages).",
)
@click.option(
    "--gap-threshold",
    type=click.FloatRange(min=0.01),
    default=DEFAULT_GAP_S,
    show_default=True,
    help="Seconds between two packets, beyond what their timestamps say, that count as an outage: "
    "kept as a gap in the timeline.",
)
@click.option("--duration", type=click.FloatRange(min=0), default=None, help="Stop after this many seconds.")
@click.option("--count", type=click.IntRange(min=1), default=None, help="Stop after this many packets.")
@click.option("--verbose", "-v", is_flag=True, help="Also log each file as it starts.")
def record(
    url: str,
    out: str,
    format_: str | None,
    segment: float | None,
    options: dict[str, str],
    follow: bool,
    timeout: float,
    idle_timeout: float | None,
    gap_threshold: float,
    duration: float | None,
    count: int | None,
    verbose: bool,
) -> None:
    """Record the encoded packets of URL (cuframes://KEY[?dir=DIR], or a bare KEY) into OUT,
    without re-encoding, with the producer's timestamps.

    \b
    Examples:
      cuframes record cam1 cam1.mkv
      cuframes record cam1 'rec/cam1-%Y%m%d-%H%M%S.mkv' --segment 60
      cuframes record cam1 cam1.mp4 -o movflags=frag_keyframe+empty_moov

    \b
    Outages stay gaps in the timeline; producer restarts are followed. SIGTERM
    and Ctrl-C finish the current file. After kill -9 an mkv or ts file plays up
    to its last packet; an mp4 only when fragmented (-o movflags=...).
    """
    from ..record import Recorder

    err = make_console(stderr=True)
    interrupted = threading.Event()
    with _log_to(err, verbose, "cuframes.record"):
        try:
            with (
                Recorder(
                    url,
                    out,
                    format=format_,
                    segment=segment,
                    options=options,
                    follow=follow,
                    timeout=timeout,
                    idle_timeout=idle_timeout,
                    gap_threshold=gap_threshold,
                ) as recorder,
                _signals_stop(recorder.stop, interrupted),
                _Status(err, url) as status,
            ):
                stats = recorder.run(count=count, duration=duration, on_progress=status.update)
        except Error as error:
            print_error(err, error)
            sys.exit(EXIT_ERROR)
    err.print(f"cuframes record {url}: {stats.summary()}", highlight=False, soft_wrap=True)
    # A long run with short segments writes thousands of files: name the first and last ones.
    shown = stats.files if len(stats.files) <= _FILES_LISTED else [stats.files[0], "...", stats.files[-1]]
    for path in shown:
        err.print(f"  {path}", highlight=False, soft_wrap=True)
    sys.exit(EXIT_INTERRUPTED if interrupted.is_set() else EXIT_OK)


@contextmanager
def _signals_stop(stop: Callable[[], None], interrupted: threading.Event) -> Iterator[None]:
    """SIGTERM (docker stop, systemd) and Ctrl-C stop the recorder, which finishes
    its file; Ctrl-C exits 130, SIGTERM 0."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: object) -> None:
        if signum == signal.SIGINT:
            interrupted.set()
        stop()

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class _Status(LiveStatus["RecordingStats"]):
    """Time, packets, files, gaps and restarts of the running recording."""

    def __init__(self, console: Console, url: str) -> None:
        super().__init__(console, f"recording {url}: waiting for the first keyframe")
        self._url = url

    def render(self, stats: RecordingStats) -> Text:
        line = Text()
        line.append(f"recording {self._url} -> {stats.files[-1] if stats.files else '...'}\n", style="bold")
        line.append(
            f"{stats.seconds:.1f} s   {stats.packets} packets ({stats.bytes / 1e6:.1f} MB)   "
            f"{len(stats.files)} file(s)   gaps {stats.gaps} ({stats.gap_seconds:.1f} s)   "
            f"restarts {stats.restarts}   lost {stats.lost}"
        )
        return line
