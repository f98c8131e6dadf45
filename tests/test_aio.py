"""asyncio (cuframes.aio) and the descriptor under it (notify=True, fileno, try_next):
frames and packets arrive in an event loop without a thread per subscriber, a cancelled
wait holds nothing, a crash raises in the awaiting task, one loop serves 100 subscribers,
and a subscriber that never reads its notifications cannot slow the producer."""

from __future__ import annotations

import asyncio
import os
import select
import signal

import numpy as np
import pytest
from conftest import open_fds

import cuframes
import cuframes.aio

KEYFRAME = bytes.fromhex("0000000165888480")  # an IDR NAL: a keyframe for the packet ring
W, H = 64, 48

# Publishes on each stdin line: "publish N" -> N frames and packets (pts and pixels
# 1..N after the ones before), "close" -> closes; killed otherwise.
PRODUCER = """
import sys
import numpy as np, cuframes
key, backend, keyframe = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3])
slots, subs = int(sys.argv[4]), int(sys.argv[5])
pub = cuframes.Publisher(key, 64, 48, "gray8", backend=backend, packet_ring_bytes=1 << 16,
                         slots=slots, max_subscribers=subs, max_held=1)
print("up", flush=True)
sent = 0
for line in sys.stdin:
    words = line.split()
    if words[0] == "publish":
        for _ in range(int(words[1])):
            sent += 1
            pub.send(np.full(pub.packed_size, sent % 256, np.uint8), pts=sent)
            pub.publish_packet(keyframe + bytes([sent % 256]), pts=sent, keyframe=True, codec="h264")
        print("published", sent, flush=True)
    elif words[0] == "wait-subscribers":
        import time
        while pub.subscriber_count < int(words[1]) or pub.packet_subscriber_count < int(words[2]):
            time.sleep(0.01)
        print("subscribed", flush=True)
    elif words[0] == "close":
        pub.close()
        print("closed", flush=True)
        break
"""


def start_producer(children, key: str, backend: str, slots: int = 10, subscribers: int = 4):
    producer = children.spawn(PRODUCER, key, backend, KEYFRAME.hex(), str(slots), str(subscribers), stdin=True)
    children.read_line(producer, "up")
    return producer


def run(coroutine, timeout: float = 30.0):
    """Runs a test's coroutine under a hard time limit."""

    async def bounded():
        return await asyncio.wait_for(coroutine, timeout)

    return asyncio.run(bounded())


def test_async_iteration_gets_every_frame_and_packet_and_ends_on_close(key, backend, children) -> None:
    producer = start_producer(children, key, backend)

    async def main():
        async with (
            cuframes.aio.Subscriber(key, connect_timeout=30, delivery="sequential") as frames,
            cuframes.aio.PacketSubscriber(key, connect_timeout=30) as packets,
        ):
            assert (frames.format, frames.width, frames.height) == ("gray8", W, H)

            async def take_frames():
                seen = []
                async for frame in frames:
                    pixels = frame.to_numpy()
                    assert (pixels == frame.pts % 256).all(), f"frame {frame.pts} is not its own pixels"
                    seen.append(frame.pts)
                return seen

            async def take_packets():
                return [(packet.pts, bytes(packet.data)) async for packet in packets]

            tasks = [asyncio.create_task(take_frames()), asyncio.create_task(take_packets())]
            await asyncio.sleep(0.05)  # both are waiting in the loop now
            await asyncio.to_thread(producer.send, "publish 5")
            await asyncio.to_thread(children.read_line, producer, "published 5")
            await asyncio.to_thread(producer.send, "close")
            return await asyncio.gather(*tasks)

    frames_seen, packets_seen = run(main())
    assert frames_seen == [1, 2, 3, 4, 5]
    assert packets_seen == [(n, KEYFRAME + bytes([n])) for n in range(1, 6)]


def test_a_cancelled_wait_holds_nothing_and_leaks_nothing(key, backend, children) -> None:
    producer = start_producer(children, key, backend)

    async def main():
        async with cuframes.aio.Subscriber(key, connect_timeout=30, delivery="sequential") as sub:
            loop = asyncio.get_running_loop()
            before = open_fds()
            for _ in range(50):
                waiter = asyncio.create_task(sub.next())
                await asyncio.sleep(0)  # it is waiting on the descriptor now
                waiter.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await waiter
            assert sub.held_count == 0
            assert open_fds() == before, "cancelled waits left descriptors open"
            # Nothing stays registered with the loop (remove_reader says whether it removed one).
            assert not loop.remove_reader(sub.sync.fileno())
            await asyncio.to_thread(producer.send, "publish 1")
            frame = await sub.next(timeout=20)
            assert frame.pts == 1 and sub.held_count == 1
            frame.release()

    run(main())


def test_a_crashed_producer_raises_in_the_awaiting_task(key, backend, children) -> None:
    producer = start_producer(children, key, backend)

    async def main():
        async with (
            cuframes.aio.Subscriber(key, connect_timeout=30) as frames,
            cuframes.aio.PacketSubscriber(key, connect_timeout=30) as packets,
        ):
            waiters = [asyncio.create_task(frames.next()), asyncio.create_task(packets.next())]
            await asyncio.sleep(0.05)
            os.kill(producer.pid, signal.SIGKILL)
            return await asyncio.gather(*waiters, return_exceptions=True)

    outcomes = run(main(), timeout=20)
    for outcome in outcomes:
        assert isinstance(outcome, cuframes.ProducerDiedError), outcome
    children.wait(producer)


def test_one_event_loop_serves_100_subscribers(key, backend, children) -> None:
    count = 100
    # Each holds at most one frame: 100 held, the newest and one being written.
    producer = start_producer(children, key, backend, slots=count + 2, subscribers=count)

    async def main():
        threads_before = len(os.listdir("/proc/self/task"))
        subs = [cuframes.aio.Subscriber(key, connect_timeout=30, delivery="sequential") for _ in range(count)]
        await asyncio.gather(*(sub.connect() for sub in subs))
        try:
            # The loop's connect executor adds a few; a notify subscriber has no watcher thread.
            added = len(os.listdir("/proc/self/task")) - threads_before
            assert added < 40, f"{added} threads for {count} subscribers"

            async def take(sub):
                seen = []
                async for frame in sub:
                    seen.append(frame.pts)
                return seen

            tasks = [asyncio.create_task(take(sub)) for sub in subs]
            await asyncio.to_thread(producer.send, f"wait-subscribers {count} 0")
            await asyncio.to_thread(children.read_line, producer, "subscribed")
            await asyncio.to_thread(producer.send, "publish 3")
            await asyncio.to_thread(children.read_line, producer, "published 3")
            await asyncio.to_thread(producer.send, "close")
            return await asyncio.gather(*tasks)
        finally:
            for sub in subs:
                sub.close()

    for seen in run(main(), timeout=60):
        assert seen == [1, 2, 3]


def test_the_descriptor_works_with_select_and_try_next(key, backend, children) -> None:
    producer = start_producer(children, key, backend)
    with cuframes.Subscriber(key, connect_timeout=30, delivery="sequential", notify=True) as sub:
        fd = sub.fileno()
        assert sub.try_next() is None
        assert select.select([fd], [], [], 0)[0] == [], "readable with nothing published"
        producer.send("publish 3")
        children.read_line(producer, "published 3")
        assert select.select([fd], [], [], 20)[0] == [fd]
        taken = []
        while (frame := sub.try_next()) is not None:
            taken.append(frame.pts)
            frame.release()
        assert taken == [1, 2, 3]
        assert select.select([fd], [], [], 0)[0] == [], "still readable after try_next drained it"
    with cuframes.Subscriber(key, connect_timeout=30) as plain, pytest.raises(cuframes.InvalidArgumentError):
        plain.fileno()


def test_a_notified_subscriber_that_never_reads_cannot_stall_the_producer(key, backend, children) -> None:
    """Its socket fills up; the producer's byte is then dropped, never waited for."""
    producer = start_producer(children, key, backend)
    with cuframes.Subscriber(key, connect_timeout=30, notify=True) as idle:
        producer.send("publish 20000")  # far more bytes than a socket buffer holds
        children.read_line(producer, "published 20000", timeout=120)
        assert select.select([idle.fileno()], [], [], 0)[0], "a full socket is readable"
        frame = idle.try_next()
        assert frame is not None and frame.pts == 20000  # the newest, as always
        frame.release()
        assert idle.try_next() is None
        assert select.select([idle.fileno()], [], [], 0)[0] == [], "try_next read every queued byte"


def test_async_reconnect_follows_a_restart(key, backend, children) -> None:
    first = start_producer(children, key, backend)

    async def main():
        async with cuframes.aio.Subscriber(key, connect_timeout=30, reconnect=True, delivery="sequential") as sub:
            await asyncio.to_thread(first.send, "publish 1")
            assert (await sub.next(timeout=20)).pts == 1
            await asyncio.to_thread(first.send, "close")
            await asyncio.to_thread(children.read_line, first, "closed")
            waiter = asyncio.create_task(sub.next(timeout=30))
            await asyncio.sleep(0.05)
            second = await asyncio.to_thread(start_producer, children, key, backend)
            await asyncio.to_thread(second.send, "publish 2")
            frame = await waiter
            assert frame.reconnected and frame.pts == 1 and sub.reconnect_count == 1
            frame.release()
            assert (await sub.next(timeout=20)).pts == 2
            await asyncio.to_thread(second.send, "close")

    run(main(), timeout=60)


def test_async_next_times_out_with_a_clear_error(key, backend, children) -> None:
    start_producer(children, key, backend)

    async def main():
        async with cuframes.aio.Subscriber(key, connect_timeout=30) as sub:
            with pytest.raises(cuframes.TimeoutError, match=key):
                await sub.next(timeout=0.1)
            assert sub.held_count == 0

    run(main())


def test_an_unconnected_async_subscriber_says_so(key) -> None:
    sub = cuframes.aio.Subscriber(key)
    with pytest.raises(cuframes.StateError, match="not connected"):
        run(sub.next(timeout=1))
    with pytest.raises(cuframes.NotFoundError):
        run(cuframes.aio.Subscriber(key, connect_timeout=0.2).connect())


def test_frames_of_the_descriptor_are_the_producers_bytes(key, backend, children) -> None:
    """The byte on the socket only wakes: the frame comes from the slot, bit-exact."""
    producer = start_producer(children, key, backend)
    with cuframes.Subscriber(key, connect_timeout=30, notify=True) as sub:
        producer.send("publish 7")
        children.read_line(producer, "published 7")
        select.select([sub.fileno()], [], [], 20)
        frame = sub.try_next()
        assert frame is not None
        assert np.array_equal(frame.to_numpy(), np.full((H, W), 7, np.uint8))
        frame.release()
