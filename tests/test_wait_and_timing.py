"""Spin-then-sleep waiting, the producer's timing report, and the waker thread
that wakes many sleeping subscribers off the publish path."""

from __future__ import annotations

import threading
import time

import pytest

import cuframes


def publish(pub: cuframes.Publisher, pts: int) -> int:
    frame = pub.acquire(pts=pts)
    frame.copy_from(bytes([pts % 256]) * pub.packed_size)
    return frame.publish()


@pytest.mark.parametrize("spin", [0.0, 0.0005, None])
def test_every_spin_setting_delivers_frames(key, backend, spin):
    with cuframes.Publisher(key, 64, 48, "gray8", backend=backend) as pub, cuframes.Subscriber(key, spin=spin) as sub:
        for pts in range(1, 6):
            publish(pub, pts)
            with sub.next(timeout=5) as frame:
                assert frame.pts == pts
                assert frame.to_numpy().reshape(-1)[0] == pts


@pytest.mark.parametrize("spin", [0.05, None])
def test_a_spinning_wait_still_ends_at_its_timeout(key, backend, spin):
    with cuframes.Publisher(key, 64, 48, "gray8", backend=backend), cuframes.Subscriber(key, spin=spin) as sub:
        start = time.monotonic()
        with pytest.raises(cuframes.TimeoutError):
            sub.next(timeout=0.2)
        assert 0.19 <= time.monotonic() - start < 2.0


def cpu_of_spinning(seconds: float) -> float:
    """The CPU time this thread gets by spinning for ``seconds`` of wall time, here
    and now: all of it on an idle core, a share of it on a core something else
    wants too."""
    cpu, end = time.thread_time(), time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return time.thread_time() - cpu


def test_a_spinning_wait_spins_only_its_budget(key, backend):
    """spin=0.05 inside a 0.5 s wait: the CPU of a 50 ms spin, then asleep."""
    with cuframes.Publisher(key, 64, 48, "gray8", backend=backend), cuframes.Subscriber(key, spin=0.05) as sub:
        spinning = cpu_of_spinning(0.05)
        cpu = time.thread_time()
        with pytest.raises(cuframes.TimeoutError):
            sub.next(timeout=0.5)
        used = time.thread_time() - cpu
        spinning = min(spinning, cpu_of_spinning(0.05))
        # The budget is wall time: on a loaded core the spin gets the share that a
        # plain 50 ms spin gets (measured before and after), not 50 ms of CPU.
        assert 0.6 * spinning <= used < 0.3, f"the wait used {used:.3f} s of CPU; a 50 ms spin {spinning:.3f} s"


def test_a_spinning_wait_sees_the_producer_close(key, backend):
    pub = cuframes.Publisher(key, 64, 48, "gray8", backend=backend)
    with cuframes.Subscriber(key, spin=None) as sub:
        threading.Timer(0.1, pub.close).start()
        start = time.monotonic()
        with pytest.raises(cuframes.DisconnectedError):
            sub.next(timeout=10)
        assert time.monotonic() - start < 5


@pytest.mark.parametrize("spin", [-1, float("nan"), "fast"])
def test_a_bad_spin_is_refused(key, backend, spin):
    with cuframes.Publisher(key, 64, 48, "gray8", backend=backend):
        with pytest.raises((cuframes.InvalidArgumentError, TypeError)):
            cuframes.Subscriber(key, spin=spin)


def test_last_timing_reports_the_last_frame(key, backend):
    with cuframes.Publisher(key, 64, 48, "gray8", backend=backend) as pub:
        before = pub.last_timing
        assert (before.acquire_ns, before.sync_ns, before.ring_ns, before.wake_ns) == (0, 0, 0, 0)
        start = time.monotonic_ns()
        publish(pub, 1)
        elapsed = time.monotonic_ns() - start
        timing = pub.last_timing
        assert isinstance(timing, cuframes.PublishTiming)
        assert timing.acquire_ns > 0 and timing.ring_ns > 0
        assert timing.overhead_ns == timing.acquire_ns + timing.ring_ns + timing.wake_ns
        assert timing.overhead_ns + timing.sync_ns <= elapsed
        pub.close()
        with pytest.raises(cuframes.StateError):
            pub.last_timing


def wait_for_one_frame(key: str, got: list, errors: list) -> None:
    try:
        with cuframes.Subscriber(key) as sub:
            got.append(("ready", None))
            frame = sub.next(timeout=10)
            got.append(("frame", time.monotonic()))
            frame.release()
    except Exception as error:  # reported to the test thread
        errors.append(error)


@pytest.mark.parametrize("subscribers", [1, 2, 6])
def test_every_sleeping_subscriber_is_woken_promptly(key, backend, subscribers):
    """One subscriber is woken by publish() itself, more by the waker thread:
    either way each sleeper gets the frame at once, not at its backstop (250 ms)."""
    with cuframes.Publisher(
        key, 64, 48, "gray8", backend=backend, max_subscribers=subscribers, slots=2 * subscribers + 3
    ) as pub:
        got: list = []
        errors: list = []
        threads = [threading.Thread(target=wait_for_one_frame, args=(key, got, errors)) for _ in range(subscribers)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while sum(1 for kind, _ in got if kind == "ready") < subscribers and time.monotonic() < deadline and not errors:
            time.sleep(0.01)
        time.sleep(0.3)  # every subscriber is asleep in next() by now
        published_at = time.monotonic()
        publish(pub, 1)
        for thread in threads:
            thread.join(timeout=15)
        assert not errors, errors
        delays = [at - published_at for kind, at in got if kind == "frame"]
        assert len(delays) == subscribers
        assert max(delays) < 0.2, f"woken after {max(delays) * 1e3:.0f} ms"


def test_a_tight_pool_never_runs_out_with_claims_ahead(key, backend):
    """Two subscribers each holding max_held frames, and the smallest pool the
    producer accepts: claiming ahead must never take the slot acquire() needs."""
    with (
        cuframes.Publisher(key, 64, 48, "gray8", backend=backend, slots=6, max_subscribers=2, max_held=2) as pub,
        cuframes.Subscriber(key) as first,
        cuframes.Subscriber(key) as second,
    ):
        held: dict = {first: [], second: []}
        for pts in range(1, 400):
            publish(pub, pts)  # while each subscriber holds two frames
            for sub, frames in held.items():
                if len(frames) == 2:
                    frames.pop(0).release()
                frames.append(sub.next(timeout=5))
                assert frames[-1].pts == pts
            if pts % 50 == 0:
                pub.acquire(pts=pts).abort()
        for frames in held.values():
            for frame in frames:
                frame.release()


def test_stream_ordered_publishing_needs_the_cuda_backend(key):
    with pytest.raises(cuframes.InvalidArgumentError, match="cuda backend"):
        cuframes.Publisher(key, 64, 48, "gray8", backend="host", stream_ordered=True)
    # Nothing was left behind: the key is free again.
    cuframes.Publisher(key, 64, 48, "gray8", backend="host").close()
