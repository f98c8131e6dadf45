"""Shared fixtures of the Python tests.

- every test gets its own socket folder (CUFRAMES_DIR) and unique keys;
- ``backend`` is "host" unless CUFRAMES_TEST_BACKEND says "cuda" (the GPU run);
- ``children`` starts Python child processes with a hard timeout and kills
  whatever survives the test, so no multi-process test can hang or leak.
"""

from __future__ import annotations

import itertools
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import cuframes

TEST_BACKEND = os.environ.get("CUFRAMES_TEST_BACKEND", "host")
# A child that outlives this is killed and fails the test that started it.
CHILD_TIMEOUT_S = 60.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "gpu: needs a usable CUDA GPU (skipped when cuframes.cuda_available() is False)")
    # pytest started in the background of a script (`... &`) inherits SIGINT ignored, and
    # so would every child it starts: a child Python then never raises KeyboardInterrupt
    # and the Ctrl-C tests hang. A handled signal is reset to the default in children.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if cuframes.cuda_available():
        return
    skip = pytest.mark.skip(reason=f"no usable GPU: {cuframes.cuda_unavailable_reason()}")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def cf_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh, short socket folder (Unix socket paths are limited to 108 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="cf-", dir="/tmp"))
    monkeypatch.setenv("CUFRAMES_DIR", str(path))
    yield path
    shutil.rmtree(path, ignore_errors=True)


_key_counter = itertools.count()


@pytest.fixture
def make_key(cf_dir: Path):
    """Returns a function that makes a new unique key each call."""

    def make(prefix: str = "t") -> str:
        return f"{prefix}{os.getpid()}-{next(_key_counter)}-{uuid.uuid4().hex[:6]}"

    return make


@pytest.fixture
def key(make_key) -> str:
    return make_key()


@pytest.fixture(params=[TEST_BACKEND])
def backend(request: pytest.FixtureRequest) -> str:
    """The backend under test: "host" by default, "cuda" with CUFRAMES_TEST_BACKEND=cuda."""
    if request.param == "cuda" and not cuframes.cuda_available():
        pytest.skip(f"CUFRAMES_TEST_BACKEND=cuda but no usable GPU: {cuframes.cuda_unavailable_reason()}")
    return request.param


@pytest.fixture
def host_only(backend: str) -> None:
    """For tests that pin host-backend behaviour (numpy views, CPU pointers)."""
    if backend != "host":
        pytest.skip("host-backend behaviour")


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


class Child:
    """One child process; reader threads collect its output so nothing blocks on a full pipe."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(proc.stdout, self.stdout, True), daemon=True),
            threading.Thread(target=self._read, args=(proc.stderr, self.stderr, False), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream, sink: list[str], to_queue: bool) -> None:
        for line in stream:
            sink.append(line)
            if to_queue:
                self.lines.put(line.rstrip("\n"))
        if to_queue:
            self.lines.put(None)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, line: str) -> None:
        """Writes one line to the child's stdin (spawned with ``stdin=True``)."""
        assert self.proc.stdin is not None, "spawn(..., stdin=True) to talk to the child"
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def poll(self) -> int | None:
        return self.proc.poll()

    def wait(self, timeout: float | None = None) -> int:
        return self.proc.wait(timeout=timeout)

    def join_readers(self) -> None:
        if self.proc.stdin is not None and self.proc.poll() is not None:
            self.proc.stdin.close()
        for reader in self._readers:
            reader.join(timeout=5)
        if self.proc.poll() is not None:
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None and not any(r.is_alive() for r in self._readers):
                    stream.close()


class Children:
    """Python child processes that cannot outlive the test."""

    def __init__(self) -> None:
        self.procs: list[Child] = []

    def spawn(
        self,
        code: str,
        *args: str,
        env: dict[str, str] | None = None,
        prefix: list[str] | None = None,
        stdin: bool = False,
    ) -> Child:
        """Starts ``python -c code args...`` (optionally behind a command prefix such as unshare).
        With ``stdin`` the child's standard input is a pipe: ``child.send(line)`` writes to it."""
        full_env = dict(os.environ)
        full_env["PYTHONUNBUFFERED"] = "1"
        if env:
            full_env.update(env)
        cmd = (prefix or []) + [sys.executable, "-c", textwrap.dedent(code), *args]
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            text=True,
            env=full_env,
            start_new_session=True,
        )
        child = Child(proc)
        self.procs.append(child)
        return child

    def spawn_module(self, module: str, *args: str) -> Child:
        """Starts ``python -m module args...``."""
        return self.spawn(
            f"import runpy, sys; sys.argv[0] = {module!r}; "
            f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)",
            *args,
        )

    def run(self, code: str, *args: str, timeout: float = CHILD_TIMEOUT_S, **kwargs) -> subprocess.CompletedProcess:
        """Runs a child to completion; kills it and fails after ``timeout``."""
        return self.wait(self.spawn(code, *args, **kwargs), timeout=timeout)

    def wait(self, child: Child, timeout: float = CHILD_TIMEOUT_S) -> subprocess.CompletedProcess:
        """Waits for the child to exit; kills it and fails after ``timeout``."""
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._kill(child)
            child.join_readers()
            pytest.fail(
                f"child did not finish within {timeout} s\nstdout:\n{''.join(child.stdout)}\n"
                f"stderr:\n{''.join(child.stderr)}"
            )
        child.join_readers()
        return subprocess.CompletedProcess(
            child.proc.args, child.returncode, "".join(child.stdout), "".join(child.stderr)
        )

    def read_line(self, child: Child, expected: str, timeout: float = 30.0, required: bool = True) -> str | None:
        """Waits for a stdout line starting with ``expected``; fails on EOF or timeout
        (on timeout returns None instead when not ``required``)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = child.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                child.wait(timeout=5)
                child.join_readers()
                pytest.fail(
                    f"child exited ({child.poll()}) before printing {expected!r}\n"
                    f"stdout:\n{''.join(child.stdout)}\nstderr:\n{''.join(child.stderr)}"
                )
            if line.startswith(expected):
                return line
        if not required:
            return None
        self._kill(child)
        pytest.fail(f"child printed no {expected!r} line within {timeout} s\nstderr:\n{''.join(child.stderr)}")

    @staticmethod
    def _kill(child: Child) -> None:
        if child.poll() is None:
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        child.wait()

    def cleanup(self) -> list[Child]:
        survivors = [c for c in self.procs if c.poll() is None]
        for child in survivors:
            try:
                os.killpg(child.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 3.0
        for child in survivors:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._kill(child)
        for child in self.procs:
            child.join_readers()
        return survivors


@pytest.fixture
def children(cf_dir: Path) -> Iterator[Children]:
    """Starts child Python processes (they inherit CUFRAMES_DIR) and kills survivors."""
    kids = Children()
    yield kids
    kids.cleanup()


@pytest.fixture
def frame_bytes():
    """Returns fill(size, salt): deterministic bytes for a packed frame, different per salt."""
    import numpy as np

    def fill(size: int, salt: int) -> np.ndarray:
        return ((np.arange(size, dtype=np.uint64) * 2654435761 + salt * 977) >> np.uint64(7)).astype(np.uint8)

    return fill


# Figures that tests measure on the way (distributions, counts), printed at the
# end of the run and appended to $CUFRAMES_TEST_REPORT when set: the GPU check
# quotes them. They are reported, never asserted against speed targets.
_REPORTED: list[str] = []


@pytest.fixture
def report():
    """Returns report(line): keeps a line for the end-of-run summary."""

    def add(line: str) -> None:
        _REPORTED.append(line)
        path = os.environ.get("CUFRAMES_TEST_REPORT")
        if path:
            with open(path, "a", encoding="utf-8") as sink:
                sink.write(line + "\n")

    return add


def pytest_terminal_summary(terminalreporter) -> None:
    if _REPORTED:
        terminalreporter.section("cuframes figures measured by the tests")
        for line in _REPORTED:
            terminalreporter.write_line(line)


@pytest.fixture
def rtsp_server():
    """A live RTSP server on loopback (GStreamer's gst-rtsp-server: 320x240, 25 fps, H.264, a keyframe
    every 25 frames), killed after the test; skips when GStreamer's packages are missing."""
    from rtsp_server import RtspServerProcess, RtspServerUnavailable

    server = RtspServerProcess()
    try:
        server.start()
    except RtspServerUnavailable as missing:
        pytest.skip(str(missing))
    yield server
    server.kill()
