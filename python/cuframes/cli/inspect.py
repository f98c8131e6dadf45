"""The inspection commands of the `cuframes` command line: `ls`, `stat`, `snapshot`, `bench`.

cli.py registers them on its group (``main.add_command(ls)``, ...). Each reports an
expected failure as a red ``error:`` line on stderr and exits 1, never with a traceback.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Group
from rich.live import Live
from rich.markup import escape
from rich.text import Text

import cuframes  # stat/list_streams are looked up at call time: they come from the observer module

from ..errors import Error, InvalidArgumentError, NotFoundError, StateError
from ..urls import StreamAddress, parse_url
from .console import console, print_error
from .render import entries_to_json, render_ls_table, render_stat_table, to_json, to_prometheus

if TYPE_CHECKING:
    from ..snapshot import Colorspace

__all__ = ["ls", "stat", "snapshot", "bench", "COMMANDS", "find_bench_harness"]

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130

# Packages these commands need that cuframes itself does not depend on: import name -> pip name.
OPTIONAL_PACKAGES = {"av": "av", "prometheus_client": "prometheus-client"}

BENCH_HARNESS = Path("bench") / "run.py"
# A bench/run.py counts only beside the pyproject.toml of cuframes, not of any other project.
_CUFRAMES_PROJECT = re.compile(r'^name\s*=\s*"cuframes"\s*$', re.MULTILINE)
# After Ctrl-C the harness, which got the SIGINT too, gets this long to stop its own children.
_HARNESS_STOP_S = 10.0

# time.sleep, through a name the tests can replace to end a --watch loop.
_sleep = time.sleep

_DIR_OPTION = click.option(
    "--dir",
    "dir_",
    type=click.Path(file_okay=False),
    default=None,
    help="Socket folder (default: $CUFRAMES_DIR, else /tmp/cuframes).",
)


# --- shared plumbing ---
@contextmanager
def _reported_errors() -> Iterator[None]:
    """Turns the failures a user can cause or meet into one red line and an exit status."""
    err = console(stderr=True)
    try:
        yield
    except Error as error:
        print_error(err, error)
        sys.exit(EXIT_ERROR)
    except ModuleNotFoundError as error:
        if error.name not in OPTIONAL_PACKAGES:
            raise  # a missing part of cuframes itself is a bug, not a setup step
        print_error(
            err, f"this command needs the Python package {error.name!r}: pip install {OPTIONAL_PACKAGES[error.name]}"
        )
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)


def _address(key_or_url: str, dir_option: str | None) -> StreamAddress:
    """The stream named by a key or a cuframes:// URL, in the folder --dir names (if any)."""
    address = parse_url(key_or_url)
    if dir_option is None:
        return address
    if address.dir is not None and os.path.abspath(address.dir) != os.path.abspath(dir_option):
        raise InvalidArgumentError(
            f"{key_or_url!r} names the folder {address.dir!r} but --dir says {dir_option!r}: give the folder once"
        )
    return StreamAddress(address.key, dir_option)


def _observer(name: str) -> Callable[..., Any]:
    function = getattr(cuframes, name, None)
    if function is None:
        raise StateError(
            f"this build of cuframes cannot observe streams (it has no cuframes.{name}); install a newer one"
        )
    return function


def _check_one_output(as_json: bool, prometheus: bool) -> None:
    if as_json and prometheus:
        raise click.UsageError("give --json or --prometheus, not both")


# --- ls ---
@click.command("ls")
@_DIR_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list: key, socket_path, error, status.")
@click.option(
    "--prometheus",
    is_flag=True,
    help="Print every stream in the Prometheus text format (cuframes_up 0 for keys nobody answers on).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Seconds to wait for a producer to appear behind each socket (0: one try; a live producer answers at once).",
)
def ls(dir_: str | None, as_json: bool, prometheus: bool, timeout: float) -> None:
    """List the streams in the socket folder, one row per key: producer, description,
    format, backend, subscribers, frame rate and state. Keys nobody answers on
    (a stale socket, a refused connection) are listed with the reason."""
    _check_one_output(as_json, prometheus)
    with _reported_errors():
        entries = sorted(_observer("list_streams")(dir=dir_, timeout=timeout), key=lambda entry: entry.key)
        if as_json:
            click.echo(entries_to_json(entries))
        elif prometheus:
            click.echo(
                to_prometheus(
                    [e.status for e in entries if e.status is not None],
                    down=[e.key for e in entries if e.status is None],
                ),
                nl=False,
            )
        elif not entries:
            folder = dir_ or cuframes.default_dir()
            missing = "" if os.path.isdir(folder) else " (the folder does not exist yet)"
            console().print(f"no streams in {folder}{missing}", highlight=False)
        else:
            console().print(render_ls_table(entries))


# --- stat ---
@click.command("stat")
@click.argument("stream", metavar="KEY_OR_URL")
@_DIR_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON (with --watch: one line each time).")
@click.option("--prometheus", is_flag=True, help="Print the status in the Prometheus text format.")
@click.option("--watch", is_flag=True, help="Refresh the table until Ctrl-C.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05),
    default=1.0,
    show_default=True,
    help="Seconds between refreshes with --watch.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="Seconds to wait for the producer's answer.",
)
@click.pass_context
def stat(
    ctx: click.Context,
    stream: str,
    dir_: str | None,
    as_json: bool,
    prometheus: bool,
    watch: bool,
    interval: float,
    timeout: float,
) -> None:
    """Show one stream (KEY_OR_URL: a key, or cuframes://KEY[?dir=DIR]): its producer,
    format, newest frame, frame rate, subscribers and packet ring. Reads the
    producer's live state without disturbing it.

    \b
    Examples:
      cuframes stat cam1
      cuframes stat cuframes://cam1?dir=/run/shared --json
      cuframes stat cam1 --watch --interval 0.5
    """
    _check_one_output(as_json, prometheus)
    if watch and prometheus:
        raise click.UsageError("--prometheus prints once; scrape it again instead of --watch")
    if not watch and ctx.get_parameter_source("interval") is not click.core.ParameterSource.DEFAULT:
        raise click.UsageError("--interval goes with --watch")
    with _reported_errors():
        address = _address(stream, dir_)
        observe = _observer("stat")

        def fetch() -> Any:
            return observe(address.key, dir=address.dir, timeout=timeout)

        status = fetch()  # outside the loop: a wrong key fails at once, with the exit status to show it
        if watch and as_json:
            _watch_json_lines(fetch, status, interval)
        elif watch:
            _watch_table(fetch, status, interval)
        elif as_json:
            click.echo(to_json(status))
        elif prometheus:
            click.echo(to_prometheus([status]), nl=False)
        else:
            console().print(render_stat_table(status))


def _watch_table(fetch: Callable[[], Any], first: Any, interval: float) -> None:
    def frame_of(view: Any) -> Group:
        footer = Text(f"{time.strftime('%H:%M:%S')}, every {interval:g} s; Ctrl-C to stop", style="dim")
        return Group(view, footer)

    out = console()
    if not out.is_terminal:
        _watch_printed(out, fetch, first, interval, frame_of)
        return
    try:
        with Live(frame_of(render_stat_table(first)), console=out, auto_refresh=False) as live:
            while True:
                _sleep(interval)
                try:
                    view = render_stat_table(fetch())
                except Error as error:  # the producer may restart: say so and keep watching
                    view = Text(f"error: {error}", style="bold red")
                live.update(frame_of(view), refresh=True)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a watch ends: not a failure


def _watch_printed(
    out: Any, fetch: Callable[[], Any], first: Any, interval: float, frame_of: Callable[[Any], Group]
) -> None:
    """--watch into a pipe or a file: each refresh printed in turn (a Live display
    would show nothing there until it ends)."""
    err = console(stderr=True)
    view: Any = render_stat_table(first)
    try:
        while True:
            if view is not None:
                out.print(frame_of(view))
                out.print()
                out.file.flush()
            _sleep(interval)
            try:
                view = render_stat_table(fetch())
            except Error as error:  # the producer may restart: report it and keep watching
                print_error(err, error)
                view = None
    except KeyboardInterrupt:
        pass


def _watch_json_lines(fetch: Callable[[], Any], first: Any, interval: float) -> None:
    err = console(stderr=True)
    status = first
    try:
        while True:
            if status is not None:
                click.echo(json.dumps(status.to_dict()))
            _sleep(interval)
            try:
                status = fetch()
            except Error as error:  # the producer may restart: report it and keep watching
                print_error(err, error)
                status = None
    except KeyboardInterrupt:
        pass


# --- snapshot ---
@click.command("snapshot")
@click.argument("stream", metavar="KEY_OR_URL")
@click.argument("output", metavar="OUT_FILE", type=click.Path(dir_okay=False))
@_DIR_OPTION
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="Seconds to wait for the producer, and then for a frame.",
)
@click.option(
    "--colorspace",
    type=click.Choice(["auto", "bt601", "bt709"]),
    default="auto",
    show_default=True,
    help="YUV matrix of nv12/p010/i420 frames (auto: the stream's colour facts; unspecified: "
    "bt601, as ffmpeg reads it).",
)
def snapshot(stream: str, output: str, dir_: str | None, timeout: float, colorspace: Colorspace) -> None:
    """Save the newest frame of KEY_OR_URL as an RGB image, OUT_FILE: .png, .jpg,
    .bmp, .tif, .ppm or .webp (the extension picks the format).

    \b
    Example:
      cuframes snapshot cuframes://cam1 cam1.png
    """
    with _reported_errors():
        from ..snapshot import PackedFrame, image_encoder_for, save_snapshot

        address = _address(stream, dir_)
        image_encoder_for(Path(output))  # a wrong extension fails before the producer is bothered
        with cuframes.Subscriber(address.key, dir=address.dir, connect_timeout=timeout) as sub:
            with sub.next(timeout) as frame:
                # Copy and let go at once: the producer wants its slot back, and encoding takes a while.
                packed = PackedFrame(frame.to_numpy(), frame.format, frame.width, frame.height, frame.color)
                seq = frame.seq
        written = save_snapshot(packed, output, colorspace=colorspace)
        console().print(
            f"wrote {escape(str(written))} ({written.stat().st_size} bytes): {escape(address.key)} "
            f"frame {seq}, {packed.format} {packed.width}x{packed.height} as RGB",
            highlight=False,
        )


# --- bench ---
def find_bench_harness(starts: Iterable[Path]) -> Path | None:
    """bench/run.py of the first cuframes source checkout found in or above each start folder."""
    for start in starts:
        for folder in (start, *start.parents):
            candidate = folder / BENCH_HARNESS
            if candidate.is_file() and _is_cuframes_checkout(folder):
                return candidate
    return None


def _is_cuframes_checkout(folder: Path) -> bool:
    try:
        return _CUFRAMES_PROJECT.search((folder / "pyproject.toml").read_text(encoding="utf-8")) is not None
    except (OSError, UnicodeDecodeError):
        return False


def _default_harness_starts() -> list[Path]:
    # The current folder first; then the package's own folder, which is inside the checkout
    # when cuframes was installed in editable mode.
    return [Path.cwd(), Path(cuframes.__file__).resolve().parent]


def _harness(source: str | None) -> Path:
    if source is not None:
        harness = find_bench_harness([Path(source).resolve()])
        if harness is None:
            raise NotFoundError(f"no cuframes source checkout with {BENCH_HARNESS} in or above {source!r}")
        return harness
    harness = find_bench_harness(_default_harness_starts())
    if harness is None:
        raise NotFoundError(
            f"the benchmark harness ({BENCH_HARNESS}) ships with the cuframes source checkout, "
            "not with the installed package: run `cuframes bench` inside a clone of the cuframes "
            "repository, or point --source at one"
        )
    return harness


def _run_harness(command: Sequence[str]) -> int:
    process = subprocess.Popen(list(command))
    try:
        return process.wait()
    except KeyboardInterrupt:
        # The harness got the same SIGINT: give it time to stop its own children before killing it.
        try:
            process.wait(timeout=_HARNESS_STOP_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        raise


@click.command("bench", context_settings={"ignore_unknown_options": True})
@click.option("--quick", is_flag=True, help="Fewer frames, 1080p only, smaller fan-out (about 2 min).")
@click.option(
    "--only",
    metavar="SECTION,...",
    default=None,
    help="Comma-separated sections to run (floor, latency, fanout, ...; see bench/run.py).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Results folder (default: ~/.cache/cuframes/bench, or under $XDG_CACHE_HOME).",
)
@click.option(
    "--source",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="The cuframes source checkout (default: found from the current folder).",
)
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
def bench(quick: bool, only: str | None, out: str | None, source: str | None, extra: tuple[str, ...]) -> None:
    """Run the benchmark suite (bench/run.py of a cuframes source checkout) with this
    Python. EXTRA arguments go to bench/run.py as they are. Most sections need a CUDA
    GPU and torch: without a GPU each is skipped with one line, and the rest run.
    Results go outside the checkout (printed at the end) unless --out says where.

    \b
    Examples:
      cuframes bench --quick
      cuframes bench --only floor,latency --out /tmp/results
    """
    with _reported_errors():
        harness = _harness(source)
        arguments = ["--quick"] if quick else []
        arguments += ["--only", only] if only is not None else []
        arguments += ["--out", out] if out is not None else []
        console(stderr=True).print(f"cuframes bench: {escape(str(harness))}", highlight=False)
        code = _run_harness([sys.executable, str(harness), *arguments, *extra])
    sys.exit(128 - code if code < 0 else code)  # killed by signal N: the shell's 128+N


#: What cli.py adds to its group.
COMMANDS = (ls, stat, snapshot, bench)
