"""What a subscriber that fell behind gets next, under each delivery policy."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import cuframes

W, H = 64, 48


def publish(pub: cuframes.Publisher, first: int, count: int) -> None:
    for value in range(first, first + count):
        pub.send(np.full(pub.packed_size, value % 256, np.uint8), pts=value)


def test_latest_skips_to_the_newest_frame_and_counts_the_rest(key, backend) -> None:
    with cuframes.Publisher(key, W, H, "gray8", backend=backend) as pub, cuframes.Subscriber(key) as sub:
        assert sub.delivery == "latest"
        publish(pub, 1, 1)
        with sub.next(timeout=5) as frame:
            assert (frame.seq, frame.missed) == (1, 0)
        publish(pub, 2, 5)  # seq 2..6 while the subscriber reads nothing
        with sub.next(timeout=5) as frame:
            assert (frame.seq, frame.pts, frame.missed) == (6, 6, 4)
            assert (frame.to_numpy() == 6).all()
        assert sub.missed_total == 4


def test_sequential_delivers_every_frame_still_in_the_pool_in_order(key, backend) -> None:
    with (
        cuframes.Publisher(key, W, H, "gray8", backend=backend, slots=10) as pub,
        cuframes.Subscriber(key, delivery="sequential") as sub,
    ):
        assert sub.delivery == "sequential"
        publish(pub, 1, 1)
        with sub.next(timeout=5) as frame:
            assert frame.seq == 1
        publish(pub, 2, 5)  # fewer than the pool holds: none is overwritten
        for expected in range(2, 7):
            with sub.next(timeout=5) as frame:
                assert (frame.seq, frame.missed) == (expected, 0)
                assert (frame.to_numpy() == expected).all()


def test_sequential_skips_only_what_was_overwritten(key, backend) -> None:
    with (
        cuframes.Publisher(key, W, H, "gray8", backend=backend, slots=10) as pub,
        cuframes.Subscriber(key, delivery="sequential") as sub,
    ):
        publish(pub, 1, 1)
        with sub.next(timeout=5) as frame:
            assert frame.seq == 1
        publish(pub, 2, 40)  # seq 2..41: the pool has reused every slot several times
        with sub.next(timeout=5) as frame:
            # Frame 2 is gone; what comes instead is the oldest frame still in the pool.
            oldest = frame.seq
            assert 41 - pub.slot_count < oldest < 41 and frame.missed == oldest - 2
            assert (frame.to_numpy() == oldest % 256).all()
        for expected in range(oldest + 1, 42):  # then the rest, in order, none missed
            with sub.next(timeout=5) as frame:
                assert (frame.seq, frame.missed) == (expected, 0)
                assert (frame.to_numpy() == expected % 256).all()


def test_sequential_gets_what_was_published_while_it_was_mapping_the_slots(key, backend) -> None:
    """A producer that publishes as soon as it counts a subscriber loses none of those frames to a
    sequential subscriber, though that subscriber was still mapping the slots (on the cuda backend
    an import takes about 100 ms: FFmpeg's input lost the first 5 frames to it on an H200). The
    subscriber starts at the newest frame when it was counted, then gets the whole burst. Rounds:
    the race is short on the host backend, so one round alone could pass by luck."""
    rounds, burst = 20, 10
    with cuframes.Publisher(key, W, H, "gray8", backend=backend, slots=64) as pub:
        stop, armed = threading.Event(), threading.Event()

        def produce() -> None:
            for round_ in range(rounds):
                armed.wait(timeout=10)  # set once the last round's subscriber is gone
                armed.clear()
                while pub.subscriber_count == 0 and not stop.is_set():
                    pass  # no sleep: the burst goes out while the subscriber still maps
                publish(pub, 1 + round_ * burst, burst)

        producer = threading.Thread(target=produce, daemon=True)
        producer.start()
        try:
            for round_ in range(rounds):
                newest_before = round_ * burst  # 0: nothing published yet
                expected = list(range(max(newest_before, 1), newest_before + burst + 1))
                armed.set()
                with cuframes.Subscriber(key, delivery="sequential", connect_timeout=5) as sub:
                    got = []
                    for _ in expected:
                        with sub.next(timeout=5) as frame:
                            got.append((frame.seq, frame.missed))
                assert got == [(seq, 0) for seq in expected], f"round {round_}"
                deadline = time.monotonic() + 5  # the producer notices the hang-up on its own thread
                while pub.subscriber_count != 0 and time.monotonic() < deadline:
                    time.sleep(0.001)
        finally:
            stop.set()
            producer.join(timeout=10)
        assert not producer.is_alive()


def test_unknown_delivery_policy_is_rejected(key, backend) -> None:
    with cuframes.Publisher(key, W, H, "gray8", backend=backend):
        with pytest.raises(cuframes.InvalidArgumentError, match="delivery"):
            cuframes.Subscriber(key, delivery="oldest")  # type: ignore[arg-type]
