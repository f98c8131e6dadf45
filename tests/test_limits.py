"""Bounded resources: held frames, subscribers, and a producer that never
waits for anyone."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import cuframes

W, H = 64, 48


def test_holding_max_held_frames_then_next_raises_limit(key, backend) -> None:
    with cuframes.Publisher(key, W, H, "gray8", backend=backend, max_held=2) as pub, cuframes.Subscriber(key) as sub:
        assert sub.max_held == 2
        held = []
        for i in range(2):
            pub.send(np.full(pub.packed_size, i, np.uint8))
            held.append(sub.next(timeout=5))
        assert sub.held_count == 2
        pub.send(np.full(pub.packed_size, 9, np.uint8))
        with pytest.raises(cuframes.LimitError):
            sub.next(timeout=1)
        held[0].release()
        with sub.next(timeout=5) as frame:  # room again: the pending frame arrives
            assert frame.seq == 3 and (frame.to_numpy() == 9).all()
        # The frames still held were never overwritten.
        assert (held[1].to_numpy() == 1).all()


def test_plane_views_keep_the_frame_held(key, host_only) -> None:
    with (
        cuframes.Publisher(key, W, H, "gray8", backend="host", max_held=1, slots=6) as pub,
        cuframes.Subscriber(key) as sub,
    ):
        pub.send(np.full(pub.packed_size, 1, np.uint8))
        frame = sub.next(timeout=5)
        view = frame.gray
        frame.release()
        assert sub.held_count == 1  # the numpy view still holds the slot
        for _ in range(20):  # the producer cycles through every other slot meanwhile
            pub.send(np.full(pub.packed_size, 2, np.uint8))
        assert (view == 1).all()
        with pytest.raises(cuframes.LimitError):
            sub.next(timeout=0.5)
        del view
        with sub.next(timeout=5) as frame:
            assert frame.seq == 21 and frame.missed == 19


def test_more_subscribers_than_max_subscribers_get_limit(key, backend) -> None:
    with cuframes.Publisher(key, W, H, "gray8", backend=backend, max_subscribers=2, slots=6) as pub:
        first, second = cuframes.Subscriber(key), cuframes.Subscriber(key)
        with pytest.raises(cuframes.LimitError, match="still refused when the connect timeout ran out"):
            cuframes.Subscriber(key, connect_timeout=0.5)
        second.close()
        deadline = time.monotonic() + 5
        while pub.subscriber_count > 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        # A place came free: a new subscriber fits again.
        with cuframes.Subscriber(key, connect_timeout=5) as third:
            pub.send(np.zeros(pub.packed_size, np.uint8))
            with third.next(timeout=5) as frame:
                assert frame.seq == 1
        first.close()


@pytest.mark.parametrize("kind", ["frames", "packets"])
def test_connect_timeout_waits_through_a_transient_limit(key, backend, kind) -> None:
    """A producer's LimitError says "try again later" (here: its one place is
    taken): a subscriber waits for a place within its connect_timeout, as it
    waits for a producer that is not up yet."""
    make = cuframes.Subscriber if kind == "frames" else cuframes.PacketSubscriber
    with cuframes.Publisher(
        key, W, H, "gray8", backend=backend, max_subscribers=1, slots=6, packet_ring_bytes=1 << 16
    ) as pub:
        first = make(key)
        outcome: list = []

        def join() -> None:
            try:
                outcome.append(make(key, connect_timeout=30))
            except BaseException as error:  # reported to the test
                outcome.append(error)

        waiter = threading.Thread(target=join)
        waiter.start()
        time.sleep(0.5)  # refused meanwhile, again and again
        assert not outcome, outcome
        first.close()
        waiter.join(timeout=30)
        assert not waiter.is_alive() and len(outcome) == 1, outcome
        assert isinstance(outcome[0], make), outcome
        with outcome[0] as second:
            pub.send(np.zeros(pub.packed_size, np.uint8))
            if kind == "frames":
                with second.next(timeout=5) as frame:
                    assert frame.seq == 1


def test_stalled_subscriber_does_not_block_producer_and_gets_newest_with_missed(key, backend) -> None:
    with (
        cuframes.Publisher(key, W, H, "gray8", backend=backend, max_subscribers=2, max_held=2) as pub,
        cuframes.Subscriber(key) as stalled,
        cuframes.Subscriber(key) as idle,
    ):
        pub.send(np.full(pub.packed_size, 0, np.uint8), pts=0)
        held = [stalled.next(timeout=5)]
        pub.send(np.full(pub.packed_size, 1, np.uint8), pts=1)
        held.append(stalled.next(timeout=5))  # stalled now holds all it may, and reads no more
        seen = []
        while True:  # idle catches up to frame 2, then reads nothing for a while
            try:
                with idle.next(timeout=0.2) as frame:
                    seen.append(frame.seq)
            except cuframes.TimeoutError:
                break
        assert seen[-1] == 2
        durations = []
        for i in range(2, 502):
            started = time.perf_counter()
            pub.send(np.full(pub.packed_size, i % 251, np.uint8), pts=i)
            durations.append(time.perf_counter() - started)
        # Never blocked: every publish is quick (the median guards against a slow CI box).
        assert max(durations) < 0.5 and float(np.median(durations)) < 0.005
        assert pub.last_seq == 502
        # The held frames were never overwritten.
        assert [int(f.to_numpy()[0, 0]) for f in held] == [0, 1]
        # The idle one jumps to the newest frame and learns how many it missed.
        with idle.next(timeout=5) as frame:
            assert (frame.seq, frame.pts, frame.missed) == (502, 501, 499)
            assert int(frame.to_numpy()[0, 0]) == 501 % 251
        assert idle.missed_total == 499
        for f in held:
            f.release()
        with stalled.next(timeout=5) as frame:
            assert frame.seq == 502 and frame.missed == 499
