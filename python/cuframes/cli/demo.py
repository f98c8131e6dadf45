"""`cuframes demo`: one producer, N checking subscriber processes, a live table.

The producer publishes a moving test pattern whose pixels carry each frame's
sequence number (see :mod:`cuframes._pattern`). Every subscriber process
(``python -m cuframes.cli._demo_worker``) checks every frame it gets and reports
fps, latency (publish to receipt, CLOCK_MONOTONIC), missed frames and
integrity errors. The exit code is 0 only when every subscriber got frames and
none was torn or wrong.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import IO

import numpy as np
from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from .._pattern import TestPattern
from ..publisher import DEFAULTS, Publisher

__all__ = ["run_demo", "EXIT_OK", "EXIT_INTEGRITY", "EXIT_FAILED"]

EXIT_OK, EXIT_INTEGRITY, EXIT_FAILED = 0, 1, 2

_READY_TIMEOUT_S = 30.0
# What a worker's final "reason" shows as in the table.
_FINAL_STATES = {
    "disconnected": "done",
    "seconds": "done",
    "max_frames": "done",
    "stopped": "stopped",
    "failed": "failed",
}
_DRAIN_TIMEOUT_S = 10.0


@dataclass
class _SubscriberStats:
    index: int
    state: str = "starting"
    frames: int = 0
    fps: float = 0.0
    missed: int = 0
    errors: int = 0
    latencies_us: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    error: str | None = None
    done: bool = False
    exit_code: int | None = None
    stderr_tail: list[str] = field(default_factory=list)

    def percentile(self, q: float) -> float | None:
        return float(np.percentile(self.latencies_us, q)) if self.latencies_us else None

    @property
    def failed(self) -> bool:
        return self.error is not None or self.exit_code not in (0, 1, None) or (self.done and self.frames == 0)

    def failure(self) -> str | None:
        """Why this subscriber failed, judged at the end of the run."""
        if self.error is not None:
            return self.error
        if self.exit_code not in (0, 1, None):
            return f"exited with code {self.exit_code}"
        if not self.done:
            return "sent no final report"
        if self.frames == 0:
            return "received no frame"
        return None


@dataclass
class _ProducerStats:
    published: int = 0
    publish_us: list[float] = field(default_factory=list)
    started: float = 0.0
    ended: float | None = None

    def fps(self) -> float:
        elapsed = (self.ended or time.monotonic()) - self.started
        return self.published / elapsed if self.started and elapsed > 0 else 0.0


def _read_lines(index: int, stream: IO[str], events: queue.Queue, kind: str) -> None:
    for line in stream:
        events.put((index, kind, line.rstrip("\n")))
    events.put((index, kind + "-eof", ""))


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


class _Demo:
    def __init__(
        self,
        *,
        backend: str,
        subscribers: int,
        seconds: float,
        fps: float,
        width: int,
        height: int,
        format: str,
        dir: str | None,
        console: Console,
        tear_every: int = 0,
    ) -> None:
        self.tear_every = tear_every
        self.backend, self.count, self.seconds, self.fps = backend, subscribers, seconds, fps
        self.width, self.height, self.format, self.dir, self.console = width, height, format, dir, console
        self.key = f"demo-{os.getpid()}-{secrets.token_hex(3)}"
        self.stats = [_SubscriberStats(i) for i in range(subscribers)]
        self.producer = _ProducerStats()
        self.events: queue.Queue = queue.Queue()
        self.children: list[subprocess.Popen] = []
        self.readers: list[threading.Thread] = []
        self.chosen_backend = backend

    # --- children ---
    def _spawn(self, pub: Publisher) -> None:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        for i in range(self.count):
            cmd = [
                sys.executable,
                "-m",
                "cuframes.cli._demo_worker",
                "--key",
                self.key,
                "--dir",
                pub.dir,
                "--index",
                str(i),
                "--connect-timeout",
                str(_READY_TIMEOUT_S),
            ]
            child = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env
            )
            self.children.append(child)
            for stream, kind in ((child.stdout, "out"), (child.stderr, "err")):
                reader = threading.Thread(target=_read_lines, args=(i, stream, self.events, kind), daemon=True)
                reader.start()
                self.readers.append(reader)

    def _drain(self, wait: float = 0.0) -> None:
        deadline = time.monotonic() + wait
        while True:
            try:
                timeout = max(0.0, deadline - time.monotonic())
                index, kind, line = self.events.get(timeout=timeout) if timeout > 0 else self.events.get_nowait()
            except queue.Empty:
                return
            self._handle(self.stats[index], kind, line)

    def _handle(self, s: _SubscriberStats, kind: str, line: str) -> None:
        if kind == "err":
            s.stderr_tail = (s.stderr_tail + [line])[-20:]
            return
        if kind == "out-eof":
            if not s.done:
                s.state = "failed"
                s.error = s.error or "exited without a final report"
            return
        if kind != "out":
            return
        try:
            event = json.loads(line)
        except ValueError:
            return
        name = event.get("event")
        if name == "ready":
            s.state = "running"
        elif name in ("stats", "done"):
            s.frames, s.missed, s.errors = event["frames"], event["missed"], event["errors"]
            s.latencies_us.extend(event.get("lat_us", []))
            if name == "stats":
                s.fps = event["fps"]
            else:
                s.done = True
                s.state = _FINAL_STATES.get(event["reason"], event["reason"])
                if event["reason"] == "failed":
                    s.error = event.get("error", "failed")
        elif name == "problem":
            s.problems.extend(f"seq {event['seq']}: {p}" for p in event["problems"])

    def _poll_children(self) -> None:
        for s, child in zip(self.stats, self.children):
            code = child.poll()
            if code is not None and s.exit_code is None:
                s.exit_code = code
                if code not in (0, 1):
                    s.state = "failed"
                    s.error = s.error or f"exited with code {code}"

    def _cleanup(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + 3.0
        for child in self.children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        for reader in self.readers:  # the pipes reach EOF once the children are gone
            reader.join(timeout=2.0)
        for child in self.children:
            for stream in (child.stdout, child.stderr):
                if stream is not None:
                    try:
                        stream.close()
                    except OSError:
                        pass

    # --- the table ---
    def render(self) -> Group:
        title = (
            f"cuframes demo: {self.format} {self.width}x{self.height} on {self.chosen_backend}, "
            f"{self.count} subscriber(s), target {self.fps:g} fps"
        )
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
        for column in ("sub", "state", "frames", "fps", "p50 µs", "p99 µs", "missed", "integrity errors"):
            table.add_column(column, justify="left" if column in ("sub", "state") else "right", no_wrap=True)
        for s in self.stats:
            errors = Text(str(s.errors), style="bold red" if s.errors else "green")
            state = Text(s.state, style="red" if s.failed else "")
            table.add_row(
                f"#{s.index}",
                state,
                f"{s.frames:,}",
                _fmt(s.fps, 1),
                _fmt(s.percentile(50)),
                _fmt(s.percentile(99)),
                f"{s.missed:,}",
                errors,
            )
        p = self.producer
        pub_p50 = float(np.percentile(p.publish_us, 50)) if p.publish_us else None
        pub_p99 = float(np.percentile(p.publish_us, 99)) if p.publish_us else None
        producer = Text(
            f"producer: {p.published:,} frames published at {p.fps():.1f} fps; "
            f"copy+publish p50 {_fmt(pub_p50)} µs, p99 {_fmt(pub_p99)} µs"
        )
        return Group(table, producer)

    # --- the run ---
    def run(self) -> int:
        pattern = TestPattern(self.format, self.width, self.height)
        staging = np.empty(pattern.packed_size, dtype=np.uint8)
        slots = max(DEFAULTS["slots"], self.count * 2 + 4)
        with Publisher(
            self.key,
            self.width,
            self.height,
            self.format,
            backend=self.backend,
            dir=self.dir,
            slots=slots,
            max_subscribers=self.count,
        ) as pub:
            self.chosen_backend = pub.backend
            try:
                self._spawn(pub)
                with Live(self.render(), console=self.console, refresh_per_second=4, transient=True) as live:
                    self._wait_ready(pub, live)
                    self._produce(pub, pattern, staging, live)
                    pub.close()  # subscribers see DisconnectedError and report
                    self._wait_done(live)
            finally:
                self._cleanup()
                self._drain()
                self._poll_children()
        return self.summary()

    def _wait_ready(self, pub: Publisher, live: Live) -> None:
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while time.monotonic() < deadline:
            self._drain(wait=0.05)
            self._poll_children()
            ready = sum(s.state == "running" for s in self.stats)
            alive = sum(s.exit_code is None for s in self.stats)
            live.update(self.render())
            if ready == alive and pub.subscriber_count >= ready:
                return

    def _produce(self, pub: Publisher, pattern: TestPattern, staging: np.ndarray, live: Live) -> None:
        period = 1.0 / self.fps
        p = self.producer
        p.started = time.monotonic()
        next_frame = p.started
        last_refresh = 0.0
        while True:
            now = time.monotonic()
            if now - p.started >= self.seconds:
                break
            seq = pub.last_seq + 1
            pattern.render(seq, staging)
            if self.tear_every and seq % self.tear_every == 0:
                # Self-test: the bottom half of this frame comes from the next one, as a torn frame would.
                half = pattern.packed_size // 2
                staging[half:] = pattern.render(seq + 1, np.empty_like(staging))[half:]
            t0 = time.perf_counter()
            got = pub.send(staging, pts=pattern.pts(seq), metadata=pattern.metadata(seq))
            p.publish_us.append((time.perf_counter() - t0) * 1e6)
            if got != seq:
                raise RuntimeError(f"publish returned seq {got}, expected {seq}")
            p.published += 1
            if now - last_refresh >= 0.25:
                self._drain()
                self._poll_children()
                live.update(self.render())
                last_refresh = now
            next_frame += period
            delay = next_frame - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -period:
                next_frame = time.monotonic()  # fell behind: do not burst to catch up
        p.ended = time.monotonic()

    def _wait_done(self, live: Live) -> None:
        deadline = time.monotonic() + _DRAIN_TIMEOUT_S
        # Wait for the final reports AND the exits, so that cleanup terminates no healthy worker.
        while time.monotonic() < deadline and not all(s.exit_code is not None for s in self.stats):
            self._drain(wait=0.1)
            self._poll_children()
            live.update(self.render())
        for s in self.stats:
            if not s.done and s.exit_code is None:
                s.error = s.error or "did not finish after the producer closed"

    def summary(self) -> int:
        console = self.console
        console.print(self.render())
        failed = [s for s in self.stats if s.failure() is not None]
        torn = [s for s in self.stats if s.errors]
        for s in self.stats:
            for problem in s.problems[:5]:
                console.print(f"[red]subscriber #{s.index}: {problem}[/]", highlight=False)
            if s.failure() is not None:
                console.print(f"[red]subscriber #{s.index} failed: {s.failure()}[/]", highlight=False)
                for line in s.stderr_tail[-8:]:
                    console.print("  " + line, markup=False, highlight=False)
        frames = sum(s.frames for s in self.stats)
        missed = sum(s.missed for s in self.stats)
        errors = sum(s.errors for s in self.stats)
        lat = [x for s in self.stats for x in s.latencies_us]
        p50 = _fmt(float(np.percentile(lat, 50)) if lat else None)
        p99 = _fmt(float(np.percentile(lat, 99)) if lat else None)
        verdict = "FAIL" if failed or torn else "PASS"
        style = "bold red" if verdict == "FAIL" else "bold green"
        console.print(
            f"[{style}]{verdict}[/]: {self.producer.published:,} frames published, {frames:,} checked by "
            f"{self.count} subscriber(s), {missed:,} missed, {errors} integrity error(s), "
            f"{len(failed)} failed subscriber(s); latency p50 {p50} µs, p99 {p99} µs "
            f"({self.chosen_backend} backend)"
        )
        if torn:
            return EXIT_INTEGRITY
        return EXIT_FAILED if failed else EXIT_OK


def run_demo(
    *,
    backend: str = "auto",
    subscribers: int = 3,
    seconds: float = 5.0,
    fps: float = 60.0,
    width: int = 1920,
    height: int = 1080,
    format: str = "nv12",
    dir: str | None = None,
    console: Console | None = None,
    tear_every: int = 0,
) -> int:
    """Runs the demo and returns the exit code (0 pass, 1 integrity errors, 2 a subscriber failed).

    ``tear_every=N`` (a self-test) publishes every Nth frame torn, half of it
    from the next frame, to show that the subscribers catch it.
    """
    demo = _Demo(
        backend=backend,
        subscribers=subscribers,
        seconds=seconds,
        fps=fps,
        width=width,
        height=height,
        format=format,
        dir=dir,
        console=console or Console(),
        tear_every=tear_every,
    )
    return demo.run()
