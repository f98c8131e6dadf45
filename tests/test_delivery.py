"""What a subscriber that fell behind gets next, under each delivery policy."""

from __future__ import annotations

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


def test_unknown_delivery_policy_is_rejected(key, backend) -> None:
    with cuframes.Publisher(key, W, H, "gray8", backend=backend):
        with pytest.raises(cuframes.InvalidArgumentError, match="delivery"):
            cuframes.Subscriber(key, delivery="oldest")  # type: ignore[arg-type]
