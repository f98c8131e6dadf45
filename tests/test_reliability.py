"""Crashes and restarts: a producer killed at random points (a 200-kill soak),
a producer restarted under the same key (reconnect), a subscriber killed while
holding frames, a stalled (SIGSTOPped) subscriber, and two producers on one key.

Each runs on the backend under test: host here and in CI, cuda in the GPU check.
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import threading
import time

import numpy as np
import pytest
from waiting import error_when_closed_while_waiting

import cuframes

W, H = 64, 48
SOAK_KILLS = int(os.environ.get("CUFRAMES_SOAK_KILLS", "200"))

# Forks one producer per "spawn" line it reads. It never touches CUDA itself,
# so each forked producer starts clean; forking is far cheaper than starting
# Python 200 times. Each producer publishes frames whose bytes are seq % 256,
# as fast as it can, until it is killed.
PRODUCER_FACTORY = """
import os, signal, sys
import numpy as np, cuframes
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps killed producers
key, backend = sys.argv[1], sys.argv[2]
for line in sys.stdin:
    pid = os.fork()
    if pid:
        continue
    try:
        pub = cuframes.Publisher(key, 64, 48, "gray8", backend=backend, max_subscribers=4, slots=12)
        frame = np.empty(pub.packed_size, np.uint8)
        seq = 0
        while True:
            seq += 1
            frame[:] = seq % 256
            pub.send(frame, pts=seq)
            if seq == 1:
                print("producer", os.getpid(), flush=True)
    except BaseException as error:
        print("producer-failed", repr(error), flush=True)
    finally:
        os._exit(0)
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def watch_until_disconnected(sub: cuframes.Subscriber, outcome: dict) -> None:
    """Takes frames until DisconnectedError; records when it came and any other failure."""
    try:
        while True:
            with sub.next(timeout=10) as frame:
                if not (frame.to_numpy() == frame.seq % 256).all():
                    outcome["torn"] = frame.seq
    except cuframes.DisconnectedError:
        outcome["disconnected_at"] = time.monotonic()
    except BaseException as error:  # reported to the test
        outcome["error"] = repr(error)


def test_producer_killed_at_random_points(key, backend, children, report) -> None:
    """SIGKILL the producer while it publishes flat out, SOAK_KILLS times, with two
    subscribers attached (and now and then one still in its handshake). Every
    subscriber must get DisconnectedError promptly, never hang or see a torn frame,
    and the frame it holds must stay readable. The next producer replaces the
    stale socket under the same key."""
    factory = children.spawn(PRODUCER_FACTORY, key, backend, stdin=True)
    rng = random.Random(1234)
    latencies_ms: list[float] = []
    handshake_kills = 0
    for kill in range(SOAK_KILLS):
        factory.send("spawn")
        pid = int(children.read_line(factory, "producer ", timeout=60).split()[1])
        subs = [cuframes.Subscriber(key, connect_timeout=10) for _ in range(2)]
        held = [sub.next(timeout=10) for sub in subs]
        outcomes: list[dict] = [{} for _ in subs]
        watchers = [
            threading.Thread(target=watch_until_disconnected, args=(sub, out), daemon=True)
            for sub, out in zip(subs, outcomes)
        ]
        for watcher in watchers:
            watcher.start()
        # Every tenth kill lands while a third subscriber is in its handshake.
        late: list[BaseException | cuframes.Subscriber] = []
        if kill % 10 == 0:

            def join_late() -> None:
                try:
                    late.append(cuframes.Subscriber(key, connect_timeout=2))
                except cuframes.Error as error:
                    late.append(error)

            latecomer = threading.Thread(target=join_late, daemon=True)
            latecomer.start()
            handshake_kills += 1
        time.sleep(rng.uniform(0, 0.02))
        killed_at = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        for watcher in watchers:
            watcher.join(timeout=15)
            assert not watcher.is_alive(), f"kill {kill}: a subscriber hung after its producer died"
        for out in outcomes:
            assert "error" not in out and "torn" not in out, f"kill {kill}: {out}"
            latencies_ms.append((out["disconnected_at"] - killed_at) * 1e3)
        for frame in held:  # held frames outlive the producer
            assert (frame.to_numpy() == frame.seq % 256).all()
            frame.release()
        for sub in subs:
            sub.close()
        if kill % 10 == 0:
            latecomer.join(timeout=15)
            assert not latecomer.is_alive(), f"kill {kill}: a subscriber hung in its handshake"
            if isinstance(late[0], cuframes.Subscriber):
                late[0].close()
            else:  # refused or cut off: any typed cuframes error is fine, a hang or crash is not
                assert isinstance(late[0], cuframes.Error)
    assert factory.poll() is None, "".join(factory.stderr)
    # Noticed through the socket's hang-up, not a timeout: far below the 10 s wait above.
    assert max(latencies_ms) < 1000, sorted(latencies_ms)[-5:]
    report(
        f"producer SIGKILL soak ({backend}): {SOAK_KILLS} kills, {len(latencies_ms)} subscriber wake-ups, "
        f"{handshake_kills} kills during a handshake; kill -> DisconnectedError ms: "
        f"p50 {statistics.median(latencies_ms):.2f}, p99 {percentile(latencies_ms, 99):.2f}, "
        f"max {max(latencies_ms):.2f}; over 100 ms: {sum(v > 100 for v in latencies_ms)}"
    )


# A producer in its own process, driven line by line from stdin:
#   "publish N [VALUE]" publishes N frames (bytes VALUE, default seq % 256) and answers "published <last seq>".
CONTROLLED_PRODUCER = """
import sys, numpy as np, cuframes
key, backend, slots = sys.argv[1], sys.argv[2], int(sys.argv[3])
pub = cuframes.Publisher(key, 64, 48, "gray8", backend=backend, slots=slots, max_subscribers=2)
print("ready", flush=True)
for line in sys.stdin:
    words = line.split()
    if words[0] == "publish":
        for _ in range(int(words[1])):
            seq = pub.last_seq + 1
            value = int(words[2]) if len(words) > 2 else seq % 256
            pub.send(np.full(pub.packed_size, value, np.uint8), pts=seq)
        print("published", pub.last_seq, flush=True)
"""


def start_producer(children, key: str, backend: str, slots: int = 10):
    producer = children.spawn(CONTROLLED_PRODUCER, key, backend, str(slots), stdin=True)
    children.read_line(producer, "ready", timeout=60)
    return producer


def publish(children, producer, count: int, value: int | None = None) -> int:
    producer.send(f"publish {count}" + ("" if value is None else f" {value}"))
    return int(children.read_line(producer, "published", timeout=30).split()[1])


@pytest.mark.parametrize("death", ["sigkill", "clean-close"])
def test_restart_under_the_same_key(key, backend, children, death) -> None:
    """A reconnecting subscriber drains the old producer's frames, then resumes on
    the new one (new epoch, slots imported again, the gap counted); a plain
    subscriber gets DisconnectedError."""
    first = start_producer(children, key, backend, slots=10)
    publish(children, first, 3)
    follower = cuframes.Subscriber(key, reconnect=True)
    plain = cuframes.Subscriber(key)
    try:
        assert follower.reconnect and not plain.reconnect
        old_epoch = follower.epoch
        assert follower.next(timeout=5).seq == 3 and plain.next(timeout=5).seq == 3
        assert publish(children, first, 2) == 5  # frames 4 and 5: the follower takes only 5
        if death == "sigkill":
            os.kill(first.pid, signal.SIGKILL)
        else:
            first.proc.stdin.close()  # its loop ends; the interpreter closes the publisher
        children.wait(first)

        # The old producer's newest frame is still readable, then its absence shows.
        with plain.next(timeout=5) as frame:
            assert (frame.seq, frame.missed, frame.reconnected) == (5, 1, False)
        with pytest.raises(cuframes.DisconnectedError):
            plain.next(timeout=5)
        with follower.next(timeout=5) as frame:
            assert (frame.seq, frame.missed, frame.reconnected, frame.epoch) == (5, 1, False, old_epoch)
        with pytest.raises(cuframes.TimeoutError):  # nobody yet: it waits, within the timeout
            follower.next(timeout=0.3)

        second = start_producer(children, key, backend, slots=6)
        assert publish(children, second, 4, value=77) == 4
        with follower.next(timeout=10) as frame:
            # Joined the new stream at its newest frame; frames 1-3 of it were missed.
            assert (frame.seq, frame.missed, frame.reconnected) == (4, 3, True)
            assert frame.epoch != old_epoch and frame.epoch == follower.epoch
            assert (frame.to_numpy() == 77).all()  # read through the newly imported slots
        assert follower.reconnect_count == 1 and follower.slot_count == 6
        publish(children, second, 1, value=78)
        with follower.next(timeout=5) as frame:
            assert (frame.seq, frame.missed, frame.reconnected) == (5, 0, False)
            assert (frame.to_numpy() == 78).all()
    finally:
        follower.close()
        plain.close()


def test_reconnect_refuses_a_producer_of_another_format(key, backend) -> None:
    pub = cuframes.Publisher(key, W, H, "gray8", backend=backend)
    pub.send(np.zeros(pub.packed_size, np.uint8))
    follower = cuframes.Subscriber(key, reconnect=True)
    follower.next(timeout=5).release()
    pub.close()
    try:
        with cuframes.Publisher(key, W * 2, H, "gray8", backend=backend) as wider:
            wider.send(np.zeros(wider.packed_size, np.uint8))
            with pytest.raises(cuframes.FormatError, match=f"{W * 2}x{H} gray8.*{W}x{H} gray8"):
                follower.next(timeout=5)
    finally:
        follower.close()


def test_close_ends_a_wait_for_a_restarted_producer(key, backend) -> None:
    with cuframes.Publisher(key, W, H, "gray8", backend=backend):
        follower = cuframes.Subscriber(key, reconnect=True)
    outcome = error_when_closed_while_waiting(follower, wait_s=30, close_after_s=0.3)
    assert len(outcome) == 1 and isinstance(outcome[0], cuframes.StateError), outcome


def frame_publisher(pub: cuframes.Publisher):
    """Returns publish_frames(count): publishes frames whose bytes are seq % 256
    and returns how long each send took."""
    frame = np.empty(pub.packed_size, np.uint8)

    def publish_frames(count: int) -> list[float]:
        durations = []
        for _ in range(count):
            frame[:] = (pub.last_seq + 1) % 256
            started = time.perf_counter()
            pub.send(frame)
            durations.append(time.perf_counter() - started)
        return durations

    return publish_frames


HOLDER = """
import sys, time, cuframes
sub = cuframes.Subscriber(sys.argv[1], connect_timeout=10)
held = [sub.next(timeout=10)]
held.append(sub.next(timeout=10))
print("holding", held[0].seq, held[1].seq, flush=True)
for line in sys.stdin:  # after SIGSTOP/SIGCONT: let one frame go, report the next
    held.pop(0).release()
    frame = sub.next(timeout=10)
    held.append(frame)
    print("next", frame.seq, frame.missed, int(frame.to_numpy().flat[0]), flush=True)
"""


def test_killed_subscriber_holding_frames_never_slows_the_producer(key, backend, children) -> None:
    """The pool has no spare slot beyond max_subscribers * max_held + 2: if the dead
    subscriber's two slots did not come back, acquire() would fail with LimitError."""
    with cuframes.Publisher(key, W, H, "gray8", backend=backend, slots=6, max_subscribers=2, max_held=2) as pub:
        publish_frames = frame_publisher(pub)

        holder = children.spawn(HOLDER, key)
        while not children.read_line(holder, "holding", timeout=0.05, required=False):
            publish_frames(1)
        with cuframes.Subscriber(key) as survivor:
            before = publish_frames(200)
            os.kill(holder.pid, signal.SIGKILL)
            during = publish_frames(200)  # the producer learns of the death meanwhile
            deadline = time.monotonic() + 10
            while pub.subscriber_count != 1:
                assert time.monotonic() < deadline, "the producer never noticed the dead subscriber"
                publish_frames(1)
            # The survivor may now hold two frames while the producer cycles the
            # whole pool: only possible if the dead one's leases were dropped.
            first = survivor.next(timeout=5)
            publish_frames(1)
            second = survivor.next(timeout=5)
            after = publish_frames(200)
            assert (first.to_numpy() == first.seq % 256).all() and (second.to_numpy() == second.seq % 256).all()
            first.release()
            second.release()
        # Never blocked: no publish waited on anyone (a blocked one would take seconds).
        assert max(before + during + after) < 0.5


def test_stalled_subscriber_gets_the_newest_frame_and_the_missed_count(key, backend, children) -> None:
    with cuframes.Publisher(key, W, H, "gray8", backend=backend, max_subscribers=2) as pub:
        publish_frames = frame_publisher(pub)

        holder = children.spawn(HOLDER, key, stdin=True)
        line = None
        while line is None:
            publish_frames(1)
            line = children.read_line(holder, "holding", timeout=0.05, required=False)
        last_held = int(line.split()[2])
        os.kill(holder.pid, signal.SIGSTOP)
        try:
            durations = publish_frames(300)  # the stalled subscriber holds two slots meanwhile
        finally:
            os.kill(holder.pid, signal.SIGCONT)
        newest = pub.last_seq
        holder.send("next")
        _, seq, missed, value = children.read_line(holder, "next", timeout=10).split()
        assert (int(seq), int(missed), int(value)) == (newest, newest - last_held - 1, newest % 256)
        assert max(durations) < 0.5


SECOND_PRODUCER = """
import sys, cuframes
try:
    cuframes.Publisher(sys.argv[1], 64, 48, "gray8", backend=sys.argv[2])
    print("created", flush=True)
except cuframes.KeyInUseError as error:
    print("key-in-use", error, flush=True)
"""


def test_second_producer_on_a_key_fails_and_the_first_is_undisturbed(key, backend, children, cf_dir) -> None:
    with cuframes.Publisher(key, W, H, "gray8", backend=backend) as pub, cuframes.Subscriber(key) as sub:
        pub.send(np.full(pub.packed_size, 1, np.uint8))
        sub.next(timeout=5).release()
        result = children.run(SECOND_PRODUCER, key, backend)
        assert result.returncode == 0 and result.stdout.startswith("key-in-use"), result.stdout + result.stderr
        assert key in result.stdout
        assert sorted(p.name for p in cf_dir.iterdir()) == [f"{key}.lock", f"{key}.sock"]
        pub.send(np.full(pub.packed_size, 2, np.uint8))
        with sub.next(timeout=5) as frame:
            assert frame.seq == 2 and frame.missed == 0 and (frame.to_numpy() == 2).all()
        assert pub.subscriber_count == 1
