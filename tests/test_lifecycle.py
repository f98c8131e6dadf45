"""Connect, join, iterate, close: the lifecycle the spec promises."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import cuframes

W, H = 64, 48


def test_joining_subscriber_sees_newest_frame_first(key, backend) -> None:
    with cuframes.Publisher(key, W, H, "gray8", backend=backend) as pub:
        for i in range(5):
            pub.send(np.full(pub.packed_size, i, np.uint8), pts=i)
        with cuframes.Subscriber(key) as sub:
            with sub.next(timeout=5) as first:
                assert (first.seq, first.pts) == (5, 4)
                assert (first.to_numpy() == 4).all()
            pub.send(np.full(pub.packed_size, 5, np.uint8), pts=5)
            with sub.next(timeout=5) as second:
                assert (second.seq, second.missed) == (6, 0)


def test_subscriber_started_before_producer_waits_then_connects(key, backend) -> None:
    result: dict = {}

    def subscribe() -> None:
        try:
            with cuframes.Subscriber(key, connect_timeout=10) as sub:
                result["connected"] = time.monotonic()
                with sub.next(timeout=10) as frame:
                    result["seq"], result["pts"] = frame.seq, frame.pts
        except BaseException as error:  # reported through result
            result["error"] = error

    thread = threading.Thread(target=subscribe)
    thread.start()
    time.sleep(0.5)  # the subscriber is waiting for a producer that is not there yet
    assert "connected" not in result and "error" not in result
    with cuframes.Publisher(key, W, H, "gray8", backend=backend) as pub:
        deadline = time.monotonic() + 10
        while pub.subscriber_count == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        pub.send(np.zeros(pub.packed_size, np.uint8), pts=77)
        thread.join(timeout=15)
    assert not thread.is_alive()
    assert "error" not in result, result.get("error")
    assert (result["seq"], result["pts"]) == (1, 77)


def test_not_found_after_connect_timeout(key) -> None:
    started = time.monotonic()
    with pytest.raises(cuframes.NotFoundError) as info:
        cuframes.Subscriber(key, connect_timeout=0.3)
    elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 3.0
    assert isinstance(info.value, FileNotFoundError)
    assert key in str(info.value)


def test_second_producer_on_live_key_gets_key_in_use(key, backend, cf_dir) -> None:
    with cuframes.Publisher(key, W, H, "gray8", backend=backend):
        with pytest.raises(cuframes.KeyInUseError):
            cuframes.Publisher(key, W, H, "gray8", backend=backend)
        assert (cf_dir / f"{key}.sock").exists()  # the loser did not remove the winner's socket
    # Once the first one is gone the key is free again.
    with cuframes.Publisher(key, W, H, "gray8", backend=backend) as again:
        assert not again.closed


def test_clean_close_disconnects_at_once_and_removes_files(key, backend, cf_dir) -> None:
    pub = cuframes.Publisher(key, W, H, "gray8", backend=backend)
    assert (cf_dir / f"{key}.sock").exists()
    sub = cuframes.Subscriber(key)
    pub.send(np.full(pub.packed_size, 42, np.uint8))
    held = sub.next(timeout=5)
    pub.close()
    pub.close()  # idempotent
    assert pub.closed
    started = time.monotonic()
    with pytest.raises(cuframes.DisconnectedError):
        sub.next(timeout=5)
    assert time.monotonic() - started < 0.5
    assert (held.to_numpy() == 42).all()  # held frames stay readable
    held.release()
    sub.close()
    assert sorted(p.name for p in cf_dir.iterdir()) == []


def test_publisher_frame_context_publishes_on_clean_exit_and_aborts_on_error(key, backend) -> None:
    with cuframes.Publisher(key, W, H, "gray8", backend=backend) as pub, cuframes.Subscriber(key) as sub:
        with pytest.raises(ZeroDivisionError):
            with pub.frame(pts=1) as f:
                f.copy_from(np.full(pub.packed_size, 1, np.uint8))
                1 / 0
        assert f.state == "aborted" and pub.last_seq == 0
        with pytest.raises(cuframes.TimeoutError):
            sub.next(timeout=0.1)
        with pub.frame(pts=2, metadata=b"a") as f:
            f.copy_from(np.full(pub.packed_size, 2, np.uint8))
            f.pts = 3  # may still change inside the block
            f.metadata = b"b"
        assert f.state == "published" and f.seq == 1 and pub.last_seq == 1
        with sub.next(timeout=5) as frame:
            assert (frame.seq, frame.pts, frame.metadata) == (1, 3, b"b")
            assert (frame.to_numpy() == 2).all()


def test_only_one_slot_acquired_at_a_time(key, backend) -> None:
    with cuframes.Publisher(key, W, H, "gray8", backend=backend) as pub:
        f = pub.acquire()
        with pytest.raises(cuframes.StateError):
            pub.acquire()
        f.abort()
        f.abort()  # idempotent
        g = pub.acquire()
        g.copy_from(np.zeros(pub.packed_size, np.uint8))
        assert g.publish() == 1
        with pytest.raises(cuframes.StateError):
            g.copy_from(np.zeros(pub.packed_size, np.uint8))


def test_iteration_yields_frames_and_ends_when_producer_closes(key, backend) -> None:
    with cuframes.Publisher(key, W, H, "gray8", backend=backend) as pub:
        sub = cuframes.Subscriber(key)

        def produce() -> None:
            for i in range(1, 11):
                pub.send(np.full(pub.packed_size, i, np.uint8), pts=i)
                time.sleep(0.02)
            pub.close()

        thread = threading.Thread(target=produce)
        thread.start()
        seen, previous = [], None
        with sub:
            for frame in sub:
                if previous is not None:
                    assert previous.released  # advancing the loop released the last frame
                assert int(frame.to_numpy()[0, 0]) == frame.pts
                seen.append(frame.seq)
                previous = frame
        thread.join(timeout=10)
        assert previous.released
        assert seen == sorted(seen) and seen[-1] == 10 and len(seen) >= 2


def test_accessors_of_closed_and_released_objects_raise_state_error(key, backend) -> None:
    pub = cuframes.Publisher(key, W, H, "gray8", backend=backend)
    sub = cuframes.Subscriber(key)
    pub.send(np.zeros(pub.packed_size, np.uint8))
    frame = sub.next(timeout=5)
    frame.release()
    frame.release()  # idempotent
    for name in ("seq", "pts", "timestamp_ns", "metadata", "planes", "width"):
        with pytest.raises(cuframes.StateError):
            getattr(frame, name)
    with pytest.raises(cuframes.StateError):
        frame.to_numpy()
    sub.close()
    sub.close()
    for name in ("width", "last_seq", "packed_size"):
        with pytest.raises(cuframes.StateError):
            getattr(sub, name)
    with pytest.raises(cuframes.StateError):
        sub.next(timeout=0)
    pub.close()
    with pytest.raises(cuframes.StateError):
        pub.acquire()
    with pytest.raises(cuframes.StateError):
        pub.width


def test_reprs_say_key_format_size_and_state(key, backend) -> None:
    with cuframes.Publisher(key, W, H, "gray8", backend=backend) as pub:
        assert key in repr(pub) and "gray8" in repr(pub) and f"{W}x{H}" in repr(pub) and "open" in repr(pub)
        with cuframes.Subscriber(key) as sub:
            assert key in repr(sub) and "gray8" in repr(sub) and "open" in repr(sub)
            with pub.frame() as f:
                assert "acquired" in repr(f)
            assert "published" in repr(f)
            frame = sub.next(timeout=5)
            assert "seq=1" in repr(frame) and f"{W}x{H}" in repr(frame) and "held" in repr(frame)
            frame.release()
            assert "released" in repr(frame)
        assert "closed" in repr(sub)
    assert "closed" in repr(pub)


def test_next_times_out(key, backend) -> None:
    with cuframes.Publisher(key, W, H, "gray8", backend=backend), cuframes.Subscriber(key) as sub:
        started = time.monotonic()
        with pytest.raises(cuframes.TimeoutError):
            sub.next(timeout=0.6)  # longer than one wait slice
        assert 0.55 <= time.monotonic() - started < 3
        with pytest.raises(TimeoutError):  # the builtin catches it too
            sub.next(timeout=0)


def test_dropping_objects_without_close_is_safe(key, backend, cf_dir) -> None:
    pub = cuframes.Publisher(key, W, H, "gray8", backend=backend)
    sub = cuframes.Subscriber(key)
    pub.send(np.zeros(pub.packed_size, np.uint8))
    frame = sub.next(timeout=5)
    del frame, sub, pub  # __del__ safety nets close everything
    import gc

    gc.collect()
    assert list(cf_dir.iterdir()) == []


def test_blocking_calls_release_the_gil(key, backend) -> None:
    """While one thread waits in the core (connect, next, read_into), others run Python code."""
    from cuframes import _core

    def longest_stall_during(call) -> float:
        """Runs call() in a thread; returns the longest time this thread could not run meanwhile."""
        done = threading.Event()

        def target() -> None:
            try:
                call()
            except cuframes.Error:
                pass
            finally:
                done.set()

        thread = threading.Thread(target=target)
        started = last = time.perf_counter()
        thread.start()
        longest = 0.0
        while not done.is_set():
            now = time.perf_counter()  # pure Python: runs only while the waiting thread lets go of the GIL
            longest, last = max(longest, now - last), now
        thread.join()
        assert time.perf_counter() - started >= 0.4, "the call did not wait"
        return longest

    # Each call waits 0.5 s in the core; holding the GIL meanwhile would stall this thread that long.
    assert longest_stall_during(lambda: _core.Subscriber(key + "x", "", 0.5)) < 0.2  # connect
    with cuframes.Publisher(key, W, H, "gray8", backend=backend) as pub:
        sub = _core.Subscriber(key, "", 5.0)
        assert longest_stall_during(lambda: sub.next(0.5)) < 0.2
        dst = np.zeros(pub.packed_size, np.uint8)
        assert longest_stall_during(lambda: sub.read_into(dst.ctypes.data, dst.nbytes, False, 0, 0.5)) < 0.2
        sub.close()
