"""A real RTSP server on loopback for the tests, made with GStreamer's gst-rtsp-server,
and :class:`RtspServerProcess`, which the tests use to run it.

The server runs under the system Python (``/usr/bin/python3``, which has
PyGObject), as a child process of the tests:

    /usr/bin/python3 tests/rtsp_server.py --port 8554 [--path /test] [--codec h264|h265]
        [--width 320 --height 240 --fps 25] [--gop 25]

It prints ``ready rtsp://127.0.0.1:PORT/PATH`` once it listens, then serves a
live test pattern (one shared pipeline for every client) until it is killed.
Exit codes: 0 on SIGTERM/SIGINT, 2 when a GStreamer package is missing (the
line on stderr names it), 3 when the port cannot be bound.

Debian/Ubuntu packages it needs: python3-gi gir1.2-gstreamer-1.0
gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
gstreamer1.0-plugins-ugly (x264enc), and gstreamer1.0-plugins-bad for --codec h265.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

EXIT_MISSING = 2
EXIT_PORT = 3
SYSTEM_PYTHON = "/usr/bin/python3"  # the Debian Python that has PyGObject (python3-gi)

# The element each codec needs, and the Debian package that has it.
ENCODERS = {
    # x264enc repeats SPS/PPS before each keyframe by itself; x265enc does not, so
    # the payloader sends them (config-interval=-1: with every keyframe).
    "h264": (
        "x264enc",
        "gstreamer1.0-plugins-ugly",
        (
            "x264enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} ! video/x-h264,profile=baseline"
            " ! rtph264pay name=pay0 pt=96"
        ),
    ),
    "h265": (
        "x265enc",
        "gstreamer1.0-plugins-bad",
        (
            "x265enc tune=zerolatency speed-preset=ultrafast key-int-max={gop}"
            " ! rtph265pay name=pay0 pt=96 config-interval=-1"
        ),
    ),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/test")
    parser.add_argument("--codec", choices=sorted(ENCODERS), default="h264")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--gop", type=int, default=25)
    args = parser.parse_args()

    try:
        import gi

        gi.require_version("Gst", "1.0")
        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import GLib, Gst, GstRtspServer
    except (ImportError, ValueError) as error:
        print(
            f"missing: PyGObject with Gst and GstRtspServer ({error}); apt-get install python3-gi "
            "gir1.2-gstreamer-1.0 gir1.2-gst-rtsp-server-1.0",
            file=sys.stderr,
        )
        return EXIT_MISSING

    Gst.init(None)
    element, package, encoder = ENCODERS[args.codec]
    for name, needed_package in (
        ("videotestsrc", "gstreamer1.0-plugins-base"),
        ("rtph264pay", "gstreamer1.0-plugins-good"),
        (element, package),
    ):
        if Gst.ElementFactory.find(name) is None:
            print(f"missing: GStreamer element {name}; apt-get install {needed_package}", file=sys.stderr)
            return EXIT_MISSING

    launch = (
        f"( videotestsrc is-live=true pattern=ball ! video/x-raw,width={args.width},height={args.height},"
        f"framerate={args.fps}/1 ! videoconvert ! {encoder.format(gop=args.gop)} )"
    )
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(True)  # one pipeline for every client, as a camera has
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    server.get_mount_points().add_factory(args.path, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return EXIT_PORT

    loop = GLib.MainLoop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, lambda *_: (loop.quit(), False)[1])
    print(f"ready rtsp://127.0.0.1:{args.port}{args.path}", flush=True)
    loop.run()
    return 0


# --------------------------------------------------------------------------------------
# The tests' side (any Python; standard library only)
# --------------------------------------------------------------------------------------


class RtspServerUnavailable(Exception):
    """The server cannot run here (no system Python, or a GStreamer package missing): skip."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RtspServerProcess:
    """This script in a child process (its own process group), restartable on the same port."""

    def __init__(self, port: int | None = None, *extra_args: str) -> None:
        self.port = port or free_port()
        self.url = f"rtsp://127.0.0.1:{self.port}/test"
        self._extra_args = extra_args
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 15.0) -> None:
        """Starts the server and returns once it listens; RtspServerUnavailable when it cannot run."""
        if not os.access(SYSTEM_PYTHON, os.X_OK):
            raise RtspServerUnavailable(f"no {SYSTEM_PYTHON} to run the GStreamer RTSP server (python3-gi)")
        proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(Path(__file__).resolve()), "--port", str(self.port), *self._extra_args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.proc = proc
        first_line: list[str] = []
        reader = threading.Thread(target=lambda: first_line.append(proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if first_line and first_line[0].startswith("ready"):
            return
        self.signal(signal.SIGKILL)
        stderr = proc.stderr.read().strip()
        self.kill()
        if proc.returncode == EXIT_MISSING:
            raise RtspServerUnavailable(f"the RTSP test server cannot run here: {stderr}")
        raise RuntimeError(f"the RTSP test server did not start within {timeout} s (exit {proc.returncode}): {stderr}")

    def signal(self, signum: int) -> None:
        """Sends ``signum`` to the server (SIGSTOP: the camera hangs; SIGCONT: it goes on)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signum)

    def kill(self) -> None:
        """Kills the server at once (a camera losing power) and reaps it. Idempotent."""
        proc = self.proc
        if proc is None:
            return
        self.signal(signal.SIGCONT)  # a stopped process dies of SIGKILL too, but let it not linger
        self.signal(signal.SIGKILL)
        proc.wait(timeout=10)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


if __name__ == "__main__":
    sys.exit(main())
