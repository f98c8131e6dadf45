"""`cuframes serve` and `cuframes relay`: the packet rings to other hosts.

``serve`` runs cuframes-rtsp-serve (gst/cuframes-rtsp-serve.c, GStreamer's RTSP
server, built with the GStreamer plugin by scripts/build-gst.sh) in place of this
process; ``relay`` is the command over cuframes.relay.Relay. docs/deployment.md.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading

import click

from ..errors import Error
from .console import console as make_console
from .console import print_error
from .publish import _log_to
from .record import _muxer_option, _signals_stop

__all__ = ["serve", "relay", "find_server_program"]

PROGRAM = "cuframes-rtsp-serve"
PASSWORD_ENV = "CUFRAMES_SERVE_PASSWORD"
EXIT_OK, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 130


def find_server_program() -> str | None:
    """$CUFRAMES_RTSP_SERVE, else cuframes-rtsp-serve on PATH, else beside the GStreamer
    plugin ($CUFRAMES_GST_PLUGIN_PATH, GST_PLUGIN_PATH's folders)."""
    explicit = os.environ.get("CUFRAMES_RTSP_SERVE")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    found = shutil.which(PROGRAM)
    if found:
        return found
    folders = [os.environ.get("CUFRAMES_GST_PLUGIN_PATH", ""), *os.environ.get("GST_PLUGIN_PATH", "").split(":")]
    for folder in filter(None, folders):
        candidate = os.path.join(folder, PROGRAM)
        if os.access(candidate, os.X_OK):
            return candidate
    return None


@click.command("serve", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("keys", nargs=-1)
@click.option("--all", "all_keys", is_flag=True, help="Serve every key of the socket folder, as producers come and go.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8554, show_default=True, help="TCP port (0: a free one)."
)
@click.option("--bind", default="0.0.0.0", show_default=True, help="Address to listen on (127.0.0.1: this host only).")
@click.option(
    "--dir",
    "dir_",
    type=click.Path(file_okay=False),
    default=None,
    help="Socket folder (default: $CUFRAMES_DIR, else /tmp/cuframes).",
)
@click.option("--user", default=None, help=f"Require this user; the password comes from ${PASSWORD_ENV}.")
@click.option("--digest", is_flag=True, help="Digest authentication instead of basic (with --user).")
def serve(
    keys: tuple[str, ...], all_keys: bool, port: int, bind: str, dir_: str | None, user: str | None, digest: bool
) -> None:
    """Serve each key's encoded packets over RTSP as rtsp://HOST:PORT/KEY, with the producer's
    timestamps, for consumers on other hosts (GStreamer's RTSP server).

    \b
    Examples:
      cuframes serve cam1 cam2                  # rtsp://THIS-HOST:8554/cam1 ...
      cuframes serve --all --bind 10.0.0.5
      CUFRAMES_SERVE_PASSWORD=secret cuframes serve --all --user viewer --digest
    \b
    On another host, decode once there:
      cuframes publish rtsp://decode-host:8554/cam1 --key cam1
    \b
    Every client starts at a keyframe with its parameter sets; producer restarts are
    followed; a stalled client slows neither the producer nor the other clients.
    """
    from .. import default_dir

    err = make_console(stderr=True)
    if all_keys == bool(keys):
        raise click.UsageError("give the keys to serve, or --all (not both)")
    if digest and user is None:
        raise click.UsageError("--digest needs --user")
    if user is not None and not os.environ.get(PASSWORD_ENV):
        raise click.UsageError(f"--user needs the password in ${PASSWORD_ENV} (never on the command line)")
    program = find_server_program()
    if program is None:
        print_error(
            err,
            f"{PROGRAM} is not built: it comes with the GStreamer plugin (bash scripts/build-gst.sh, with "
            f"libgstrtspserver-1.0-dev installed); put its folder on PATH or name it in $CUFRAMES_RTSP_SERVE",
        )
        sys.exit(EXIT_ERROR)
    argv = [program, "--port", str(port), "--bind", bind, "--dir", dir_ or default_dir()]
    if user is not None:
        argv += ["--user", user] + (["--digest"] if digest else [])
    argv += ["--all"] if all_keys else ["--", *keys]
    sys.stdout.flush()
    # In place of this process: signals (docker stop, Ctrl-C) and the exit status are the server's.
    os.execv(program, argv)


@click.command("relay", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("url")
@click.argument("target")
@click.option("--format", "format_", default=None, help="FFmpeg's muxer, instead of the one TARGET's scheme implies.")
@click.option(
    "--option",
    "-o",
    "options",
    multiple=True,
    callback=_muxer_option,
    metavar="NAME=VALUE",
    help="An FFmpeg muxer or protocol option, e.g. -o rtsp_transport=udp. Repeatable.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds to wait for the producer and its first packet.",
)
@click.option("--backoff-initial", type=click.FloatRange(min=0.01), default=0.5, show_default=True)
@click.option("--backoff-max", type=click.FloatRange(min=0.01), default=10.0, show_default=True)
@click.option("--duration", type=click.FloatRange(min=0), default=None, help="Stop after this many seconds.")
@click.option("--count", type=click.IntRange(min=1), default=None, help="Stop after this many packets sent.")
@click.option("--verbose", "-v", is_flag=True, help="Also log each connection.")
def relay(
    url: str,
    target: str,
    format_: str | None,
    options: dict[str, str],
    timeout: float,
    backoff_initial: float,
    backoff_max: float,
    duration: float | None,
    count: int | None,
    verbose: bool,
) -> None:
    """Push the encoded packets of URL (cuframes://KEY[?dir=DIR], or a bare KEY) to the
    streaming server TARGET, without re-encoding, with the producer's timestamps.

    \b
    Examples:
      cuframes relay cam1 rtsp://mediamtx:8554/cam1        # RTSP publish (ANNOUNCE/RECORD)
      cuframes relay cam1 'srt://mediamtx:8890?streamid=publish:cam1'
      cuframes relay cam1 rtmp://mediamtx/cam1
      cuframes relay cam1 udp://239.0.0.1:5000              # MPEG-TS
    \b
    The server lost or away: tries again with backoff (0.5 s doubling to 10 s) at a
    keyframe, and says how long the gap was. Producer restarts are followed.
    """
    from ..relay import Relay

    err = make_console(stderr=True)
    if backoff_initial > backoff_max:
        raise click.UsageError("--backoff-initial must not exceed --backoff-max")
    interrupted = threading.Event()
    with _log_to(err, verbose, "cuframes.relay"):
        try:
            with (
                Relay(
                    url,
                    target,
                    format=format_,
                    options=options,
                    timeout=timeout,
                    backoff=(backoff_initial, backoff_max),
                ) as relayed,
                _signals_stop(relayed.stop, interrupted),
            ):
                stats = relayed.run(count=count, duration=duration)
        except Error as error:
            print_error(err, error)
            sys.exit(EXIT_ERROR)
    err.print(f"cuframes relay {url} -> {target}: {stats.summary()}", highlight=False, soft_wrap=True)
    sys.exit(EXIT_INTERRUPTED if interrupted.is_set() else EXIT_OK)
