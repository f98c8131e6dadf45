"""The `cuframes` command line: demo, publish, record, serve, relay, ls, stat, cat, snapshot, bench, info."""

from __future__ import annotations

import os
import stat
import sys

import click
from rich.markup import escape

from .. import FORMATS, __version__, cuda_available, cuda_unavailable_reason, default_dir
from ..errors import Error
from .console import console as make_console
from .console import print_error

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cuframes")
def main() -> None:
    """cuframes: share decoded video frames zero-copy between processes."""


@main.command()
@click.option(
    "--backend",
    type=click.Choice(["auto", "cuda", "host"]),
    default="auto",
    show_default=True,
    help="auto: cuda when a GPU is usable, else host.",
)
@click.option(
    "--subscribers",
    "-n",
    type=click.IntRange(1, 62),
    default=3,
    show_default=True,
    help="Subscriber processes to start.",
)
@click.option("--seconds", type=click.FloatRange(min=0.1), default=5.0, show_default=True, help="How long to publish.")
@click.option("--fps", type=click.FloatRange(min=1.0), default=60.0, show_default=True, help="Frames per second.")
@click.option("--width", type=click.IntRange(1), default=1920, show_default=True)
@click.option("--height", type=click.IntRange(1), default=1080, show_default=True)
@click.option(
    "--format", "format_", type=click.Choice(list(FORMATS)), default="nv12", show_default=True, help="Pixel format."
)
@click.option(
    "--dir",
    "dir_",
    type=click.Path(file_okay=False),
    default=None,
    help="Socket folder (default: $CUFRAMES_DIR, else /tmp/cuframes).",
)
def demo(
    backend: str, subscribers: int, seconds: float, fps: float, width: int, height: int, format_: str, dir_: str | None
) -> None:
    """Publish a moving test pattern that carries each frame's sequence number,
    check every frame in N subscriber processes, show fps, latency, missed
    frames and integrity errors. Exits non-zero on any integrity error or
    failed subscriber."""
    from .demo import EXIT_FAILED, run_demo

    console = make_console()
    try:
        code = run_demo(
            backend=backend,
            subscribers=subscribers,
            seconds=seconds,
            fps=fps,
            width=width,
            height=height,
            format=format_,
            dir=dir_,
            console=console,
        )
    except (Error, ValueError) as error:
        print_error(make_console(stderr=True), error)
        code = EXIT_FAILED
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        code = 130
    sys.exit(code)


@main.command()
@click.argument("url")
@click.option(
    "--frames",
    is_flag=True,
    help="Write the decoded frames, packed (planes back to back, no row padding): rawvideo. The default.",
)
@click.option(
    "--packets",
    is_flag=True,
    help="Write the encoded packets: an Annex-B H.264/H.265 stream that starts at a keyframe.",
)
@click.option("--count", type=click.IntRange(min=1), default=None, help="Stop after this many frames or packets.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds to wait for the producer and its first frame or packet.",
)
@click.option(
    "--idle-timeout",
    type=click.FloatRange(min=0),
    default=None,
    help="Then, seconds to wait for each next one (default: as long as the producer lives, "
    "e.g. through a camera's outage).",
)
@click.option(
    "--follow",
    is_flag=True,
    help="Follow the key across producer restarts instead of ending when the producer goes "
    "(frames: the new producer must publish the same format and size).",
)
@click.option(
    "--format",
    "packet_format",
    type=click.Choice(["annexb", "nut", "mpegts"]),
    default="annexb",
    show_default=True,
    help="--packets: a raw Annex-B stream (no timestamps: ffmpeg counts frames at one rate and an outage "
    "vanishes), or muxed into nut or mpegts with the producer's pts and dts.",
)
@click.option(
    "--fps",
    type=click.FloatRange(min=0.001),
    default=None,
    help="Frame rate to state in --ffmpeg-args (raw frames and Annex-B carry no rate of their own); "
    "default: the stream's nominal rate, else 25 (with a warning).",
)
@click.option("--ffmpeg-args", is_flag=True, help="Print the ffmpeg input options that read this output, and exit.")
@click.option(
    "--on-loss",
    type=click.Choice(["warn", "fail"]),
    default="warn",
    show_default=True,
    help="When the reader falls more than the producer's pool (or packet ring) behind and items are "
    "lost: warn on stderr with the counts and go on, or fail (exit 1) before writing past the gap.",
)
def cat(
    url: str,
    frames: bool,
    packets: bool,
    count: int | None,
    timeout: float,
    idle_timeout: float | None,
    follow: bool,
    packet_format: str,
    fps: float | None,
    ffmpeg_args: bool,
    on_loss: str,
) -> None:
    """Write the frames or packets of URL (cuframes://KEY[?dir=DIR], or a bare KEY) to stdout.

    \b
    Pipe the camera's own stream, with its timestamps, into ffmpeg (to record it,
    cuframes record is simpler):
      cuframes cat cuframes://cam1 --packets --format nut | ffmpeg -f nut -i - -c copy cam1.mkv
    \b
    Or encode the decoded frames; ffmpeg reads them with the options --ffmpeg-args prints:
      cuframes cat cuframes://cam1 --count 250 | \\
        ffmpeg $(cuframes cat cuframes://cam1 --ffmpeg-args) -c:v libx264 out.mp4
    \b
    Items come in order. The producer never waits for a reader: one that falls
    more than the pool (frames) or the ring (packets) behind loses the items
    overwritten meanwhile, and cat says so on stderr with the counts
    (--on-loss fail: exits 1 instead).
    """
    from ..cat import fail_on_loss, ffmpeg_input_args, ffmpeg_packet_input_args, write_frames, write_packets

    if frames and packets:
        raise click.UsageError("give --frames or --packets, not both")
    if packet_format != "annexb" and not packets:
        raise click.UsageError("--format applies to --packets (frames are rawvideo)")
    what = "packet" if packets else "frame"
    err = make_console(stderr=True)
    lost_total = 0

    def lost(count_lost: int, seq: int) -> None:
        nonlocal lost_total
        lost_total += count_lost
        resumed = "at a keyframe, " if packets else ""
        err.print(
            f"cuframes cat: fell behind, {count_lost} {what}(s) lost; resumed {resumed}at {what} {seq}",
            highlight=False,
            soft_wrap=True,
        )

    on_lost = fail_on_loss(what) if on_loss == "fail" else lost
    try:
        if ffmpeg_args:

            def warn(message: str) -> None:
                err.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)

            if packets:
                args = ffmpeg_packet_input_args(url, fps=fps, timeout=timeout, format=packet_format, warn=warn)
            else:
                args = ffmpeg_input_args(url, fps=fps, timeout=timeout, warn=warn)
            click.echo(" ".join(args))
            return
        if packets:

            def reconnected() -> None:
                err.print("cuframes cat: the producer restarted; going on at its first keyframe", highlight=False)

            written = write_packets(
                url,
                sys.stdout.buffer,
                count=count,
                timeout=timeout,
                follow=follow,
                idle_timeout=idle_timeout,
                on_loss=on_lost,
                on_reconnect=reconnected,
                format=packet_format,
            )
        else:
            written = write_frames(
                url,
                sys.stdout.buffer,
                count=count,
                timeout=timeout,
                follow=follow,
                idle_timeout=idle_timeout,
                on_loss=on_lost,
            )
        summary = f", {lost_total} lost (the reader fell behind)" if lost_total else ""
        err.print(f"cuframes cat: {written} {what}(s) written{summary}", highlight=False, soft_wrap=True)
    except BrokenPipeError:
        sys.stderr.close()  # the reader went away: a normal end for a pipe
    except Error as error:
        print_error(err, error)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


@main.command()
def info() -> None:
    """Show the version, whether the cuda backend is usable, and the socket folder
    that producers and subscribers use when given none (with its mode and owner)."""
    console = make_console()
    console.print(f"cuframes {__version__}")
    if cuda_available():
        console.print("cuda backend: [green]available[/]")
    else:
        console.print(f"cuda backend: [yellow]unavailable[/] ({cuda_unavailable_reason()})", highlight=False)
    console.print(f"socket folder: {_describe_folder(default_dir())}", highlight=False, soft_wrap=True)
    console.print(f"formats: {', '.join(FORMATS)}", highlight=False)


def _describe_folder(folder: str) -> str:
    """Where producers and subscribers look without dir=, why, and what is there."""
    source = "from CUFRAMES_DIR" if os.environ.get("CUFRAMES_DIR") else "the default, the same for every user"
    try:
        found = os.lstat(folder)
    except FileNotFoundError:
        return f"{folder} ({source}; not created yet: the first producer creates it)"
    except OSError as error:
        return f"{folder} ({source}; cannot look at it: {error.strerror})"
    sockets = sum(1 for name in _names_in(folder) if name.endswith(".sock"))
    return f"{folder} ({source}; mode {stat.S_IMODE(found.st_mode):04o}, owner uid {found.st_uid}, {sockets} socket(s))"


def _names_in(folder: str) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []


def _register_subcommands() -> None:
    # Each lives in its own module; importing them pulls in no optional
    # package (PyAV, prometheus_client): those load when a command runs.
    from .inspect import COMMANDS
    from .publish import publish
    from .record import record
    from .serve import relay, serve

    for command in (*COMMANDS, publish, record, serve, relay):
        main.add_command(command)


_register_subcommands()

if __name__ == "__main__":
    main()
