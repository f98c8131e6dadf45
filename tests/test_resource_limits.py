"""Limits: a process out of file descriptors, and a producer at max_subscribers.

Whoever runs out (a subscriber, or the producer) must get a clear LimitError
instead of a timeout or a hang, leak nothing, and leave everyone else served.
Descriptor limits are set with RLIMIT_NOFILE inside child processes, just
above what they already have open, so the numbers are exact whatever the
interpreter happens to hold.
"""

from __future__ import annotations

import errno
import inspect
import json
import os
import signal
import threading
import time

import numpy as np
import pytest

import cuframes

# The sanitizer runtimes need free descriptors of their own (report files,
# symbolizer) and misbehave when a process has none: ASan aborts on a report
# file it cannot open, and UBSan's vptr check flagged std::make_shared's
# control block only in a process at EMFILE (the same path at NotFoundError is
# clean). These tests run in the plain suite; see docs/reliability.md.
pytestmark = pytest.mark.skipif(
    bool(os.environ.get("CUFRAMES_SANITIZER")), reason="descriptor exhaustion starves the sanitizer runtime itself"
)

W, H = 64, 48
SLOTS = 10  # a subscriber receives 2 + SLOTS descriptors
MAX_SUBSCRIBERS = 4  # SLOTS >= MAX_SUBSCRIBERS * max_held (2) + 2


# Functions that child processes need too travel as source (inspect.getsource),
# hence the imports inside them.


def frame_pattern(seq: int, size: int):
    """The bytes of frame `seq`: each depends on its position and on seq, so a
    wrong, stale or torn frame cannot pass for the right one."""
    import numpy as np

    return ((np.arange(size, dtype=np.uint64) * 31 + seq * 7) % 251).astype(np.uint8)


def limit_free_descriptors(free: int) -> int:
    """Sets RLIMIT_NOFILE so that exactly `free` more descriptors can be opened; returns the limit.

    The limit caps descriptor numbers, not their count, so holes below the
    highest open descriptor are filled first (the fillers stay open)."""
    import os
    import resource

    highest = max(int(name) for name in os.listdir("/proc/self/fd"))
    while True:
        fd = os.open("/dev/null", os.O_RDONLY)
        if fd >= highest:
            os.close(fd)  # every descriptor below fd is open, none above it
            break
    resource.setrlimit(resource.RLIMIT_NOFILE, (fd + free, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    return fd + free


def check_frame(frame) -> bool:
    return frame.pts == frame.seq and np.array_equal(
        frame.to_numpy().reshape(-1), frame_pattern(frame.seq, frame.packed_size)
    )


class Reader:
    """A subscriber on its own thread that checks every frame it gets."""

    def __init__(self, key: str) -> None:
        self.sub = cuframes.Subscriber(key, connect_timeout=10)
        self.frames = 0
        self.bad: list[int] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                with self.sub.next(timeout=5) as frame:
                    if not check_frame(frame):
                        self.bad.append(frame.seq)
                    self.frames += 1
        except BaseException as error:  # reported by check()
            self.error = error

    def check(self) -> None:
        assert self.error is None, f"the reader stopped: {self.error!r}"
        assert not self.bad, f"frames with wrong bytes: {self.bad[:10]}"

    def wait_for_more_frames(self, count: int = 5, timeout: float = 20) -> None:
        """Returns once `count` more frames arrived, all correct."""
        target = self.frames + count
        deadline = time.monotonic() + timeout
        while self.frames < target:
            self.check()
            assert time.monotonic() < deadline, f"only {self.frames} frames of {target} arrived"
            time.sleep(0.01)
        self.check()

    def close(self) -> None:
        """Stops reading and leaves. Idempotent."""
        self._stop.set()
        self._thread.join(timeout=10)
        assert not self._thread.is_alive(), "the reader did not stop"
        self.sub.close()
        self.check()


# ---------------------------------------------------------------------------
# A subscriber out of descriptors


SUBSCRIBER_OUT_OF_DESCRIPTORS = (
    inspect.getsource(frame_pattern)
    + inspect.getsource(limit_free_descriptors)
    + """
import gc, json, os, resource, sys
import numpy as np
import cuframes

key, free = sys.argv[1], int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
gc.collect()
limit = limit_free_descriptors(free)
resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
before = sorted(os.listdir("/proc/self/fd"))
resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
try:
    cuframes.Subscriber(key, connect_timeout=5)
    outcome = {"type": None}
except Exception as error:
    outcome = {"type": type(error).__name__, "message": str(error), "errno": getattr(error, "errno", None)}
gc.collect()
resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
after = sorted(os.listdir("/proc/self/fd"))
# With the limit raised again, the same process subscribes normally.
with cuframes.Subscriber(key, connect_timeout=5) as sub, sub.next(timeout=10) as frame:
    exact = bool(np.array_equal(frame.to_numpy().reshape(-1), frame_pattern(frame.seq, frame.packed_size)))
print(json.dumps({**outcome, "limit": limit, "before": before, "after": after, "retry_exact": exact}), flush=True)
"""
)


@pytest.mark.parametrize(
    "free", [0, 1, 6], ids=["no-room-for-its-socket", "no-room-for-any-descriptor", "room-for-some-descriptors"]
)
def test_subscriber_out_of_descriptors_gets_limit_error_leaks_nothing_and_others_are_served(
    key, backend, children, free
) -> None:
    with (
        cuframes.Publisher(key, W, H, "gray8", backend=backend, slots=SLOTS, max_subscribers=MAX_SUBSCRIBERS) as pub,
        cuframes.Subscriber(key) as before,
    ):
        pub.send(frame_pattern(1, pub.packed_size), pts=1)
        result = children.run(SUBSCRIBER_OUT_OF_DESCRIPTORS, key, str(free))
        assert result.returncode == 0, result.stdout + result.stderr
        report = json.loads(result.stdout.splitlines()[-1])

        assert report["type"] == "LimitError", report
        assert report["errno"] == errno.EMFILE, report
        assert "RLIMIT_NOFILE" in report["message"], report
        if free > 0:  # it got as far as receiving the producer's descriptors
            assert f"RLIMIT_NOFILE {report['limit']}" in report["message"]
            assert "out of file descriptors" in report["message"] and key in report["message"]
        assert report["after"] == report["before"], "the failed subscriber leaked descriptors"
        assert report["retry_exact"], "with the limit raised, the child subscribed and read an exact frame"

        # The producer keeps serving: the one connected before and one joining after.
        with cuframes.Subscriber(key) as after:
            wait_for_subscriber_count(pub, 2)
            for seq in range(2, 7):
                assert pub.send(frame_pattern(seq, pub.packed_size), pts=seq) == seq
                for sub in (before, after):
                    with sub.next(timeout=5) as frame:
                        assert frame.seq == seq and check_frame(frame)


def wait_for_subscriber_count(pub: cuframes.Publisher, count: int, timeout: float = 10) -> None:
    """The producer drops a departed subscriber asynchronously, when it sees the hang-up."""
    deadline = time.monotonic() + timeout
    while pub.subscriber_count != count:
        assert time.monotonic() < deadline, f"subscriber_count is {pub.subscriber_count}, expected {count}"
        time.sleep(0.01)


# ---------------------------------------------------------------------------
# A producer out of descriptors, or at max_subscribers


# Publishes frame_pattern(seq) at about 200 frames a second. argv: key, backend,
# max_subscribers, free descriptors (-1: no limit). Signals: SIGUSR1 prints a
# report, SIGUSR2 takes every free descriptor (as if the application had used
# them up), or gives them back.
PRODUCER = (
    inspect.getsource(frame_pattern)
    + inspect.getsource(limit_free_descriptors)
    + f"""
import json, os, signal, sys, time
import cuframes

key, backend, max_subscribers, free = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
requests = []
signal.signal(signal.SIGUSR1, lambda *_: requests.append("report"))
signal.signal(signal.SIGUSR2, lambda *_: requests.append("hog"))
pub = cuframes.Publisher(key, {W}, {H}, "gray8", backend=backend, slots={SLOTS}, max_subscribers=max_subscribers)
for _ in range(3):  # anything the first frames open lazily (the CUDA driver) is open before the limit
    seq = pub.last_seq + 1
    pub.send(frame_pattern(seq, pub.packed_size), pts=seq)
limit = limit_free_descriptors(free) if free >= 0 else None
print(json.dumps({{"event": "ready", "limit": limit}}), flush=True)
hog = None
while True:
    seq = pub.last_seq + 1
    pub.send(frame_pattern(seq, pub.packed_size), pts=seq)
    while requests:
        request = requests.pop(0)
        if request == "report":
            print(json.dumps({{"event": "report", "subscribers": pub.subscriber_count}}), flush=True)
        elif hog is None:
            hog = []
            try:
                while True:
                    hog.append(os.open("/dev/null", os.O_RDONLY))
            except OSError:
                pass
            print(json.dumps({{"event": "hogged", "count": len(hog)}}), flush=True)
        else:
            for fd in hog:
                os.close(fd)
            hog = None
            print(json.dumps({{"event": "released"}}), flush=True)
    time.sleep(0.005)
"""
)


class ProducerChild:
    def __init__(self, children, key: str, backend: str, max_subscribers: int, free_descriptors: int) -> None:
        self.children = children
        self.child = children.spawn(PRODUCER, key, backend, str(max_subscribers), str(free_descriptors))
        self.ready = json.loads(children.read_line(self.child, '{"event": "ready"'))
        self.idle_descriptors = self.descriptor_count()  # serving no one

    def request(self, sig: int, event: str) -> dict:
        assert self.child.poll() is None, "".join(self.child.stderr)
        os.kill(self.child.pid, sig)
        return json.loads(self.children.read_line(self.child, f'{{"event": "{event}"', timeout=10))

    def subscriber_count(self) -> int:
        return self.request(signal.SIGUSR1, "report")["subscribers"]

    def wait_for_subscriber_count(self, count: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while (current := self.subscriber_count()) != count:
            assert time.monotonic() < deadline, f"the producer reports {current} subscribers, expected {count}"
            time.sleep(0.02)

    def descriptor_count(self) -> int:
        return len(os.listdir(f"/proc/{self.child.pid}/fd"))

    def wait_for_descriptor_count(self, count: int, timeout: float = 10) -> None:
        """A refused subscriber's socket is closed just after its reject is sent."""
        deadline = time.monotonic() + timeout
        while (current := self.descriptor_count()) != count:
            assert time.monotonic() < deadline, f"the producer holds {current} descriptors, expected {count}"
            time.sleep(0.01)


def refused(key: str) -> cuframes.LimitError:
    """A subscriber that must be refused with LimitError (not a timeout, not NotFound). The
    producer's refusals are transient, so it tries again for its (short) connect timeout."""
    with pytest.raises(cuframes.LimitError) as info:
        cuframes.Subscriber(key, connect_timeout=0.5)
    return info.value


def test_producer_out_of_descriptors_refuses_extras_and_keeps_serving(key, backend, children) -> None:
    # Three free descriptors: two subscribers' sockets, and the lease page a
    # handshake creates and closes again.
    producer = ProducerChild(children, key, backend, MAX_SUBSCRIBERS, free_descriptors=3)
    first, second = Reader(key), Reader(key)
    try:
        assert producer.subscriber_count() == 2
        first.wait_for_more_frames()
        served_descriptors = producer.idle_descriptors + 2  # a socket each
        producer.wait_for_descriptor_count(served_descriptors)

        # One descriptor left: an extra subscriber is accepted but no lease page fits.
        for _ in range(3):
            error = refused(key)
            assert "RLIMIT_NOFILE" in str(error), error  # who is out is pinned by the test below
        # None left at all (the application used them up): refused through the producer's reserve.
        producer.wait_for_descriptor_count(served_descriptors)
        assert producer.request(signal.SIGUSR2, "hogged")["count"] == 1
        for _ in range(3):
            error = refused(key)
            assert f"the producer of '{key}' is out of file descriptors" in str(error), error
            assert "RLIMIT_NOFILE" in str(error), error
        producer.request(signal.SIGUSR2, "released")

        # The two served subscribers never noticed.
        for reader in (first, second):
            reader.wait_for_more_frames()
        assert producer.subscriber_count() == 2
        producer.wait_for_descriptor_count(served_descriptors)  # refused subscribers left nothing behind

        # One leaves: its descriptor comes back, and exactly one newcomer fits.
        first.close()
        producer.wait_for_subscriber_count(1)
        third = Reader(key)
        try:
            third.wait_for_more_frames()
            assert "RLIMIT_NOFILE" in str(refused(key))
            second.wait_for_more_frames()
            assert producer.subscriber_count() == 2
        finally:
            third.close()
    finally:
        first.close()
        second.close()
    producer.wait_for_subscriber_count(0)
    producer.wait_for_descriptor_count(producer.idle_descriptors)


def test_refusal_for_lack_of_a_lease_page_says_the_producer_is_out_of_descriptors(key, backend, children) -> None:
    # One free descriptor: the producer accepts the subscriber, then cannot create its lease page.
    ProducerChild(children, key, backend, MAX_SUBSCRIBERS, free_descriptors=1)
    error = refused(key)
    assert "RLIMIT_NOFILE" in str(error)
    assert "producer" in str(error) and key in str(error), error


def test_max_subscribers_refuses_extras_and_keeps_serving_the_others(key, backend, children) -> None:
    producer = ProducerChild(children, key, backend, max_subscribers=2, free_descriptors=-1)
    first, second = Reader(key), Reader(key)
    try:
        first.wait_for_more_frames()
        for _ in range(5):
            error = refused(key)
            assert "max_subscribers" in str(error) and key in str(error), error
        for reader in (first, second):
            reader.wait_for_more_frames()
        assert producer.subscriber_count() == 2

        first.close()
        producer.wait_for_subscriber_count(1)
        third = Reader(key)  # the place that came free
        try:
            third.wait_for_more_frames()
            assert "max_subscribers" in str(refused(key))
            second.wait_for_more_frames()
        finally:
            third.close()
    finally:
        first.close()
        second.close()
    producer.wait_for_subscriber_count(0)
    producer.wait_for_descriptor_count(producer.idle_descriptors)
