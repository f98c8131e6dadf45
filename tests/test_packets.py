"""The packet ring: encoded access units beside the frames, under the same key.

Real H.264 and H.265 from PyAV's encoders; every stream a subscriber
assembles is decoded again to prove it is whole."""

from __future__ import annotations

import signal
import threading
import time

import numpy as np
import pytest
from encoded import EncodedPacket, decode, encode
from packet_producer import PACKET_PRODUCER, TESTS_DIR

import cuframes

RING = 1 << 20


def publish_all(pub: cuframes.Publisher, packets: list[EncodedPacket], codec: str = "h264") -> None:
    for packet in packets:
        pub.publish_packet(packet.data, pts=packet.pts, keyframe=packet.keyframe, codec=codec)


def drain(sub: cuframes.PacketSubscriber, timeout: float = 0.3) -> list[cuframes.Packet]:
    got = []
    while True:
        try:
            got.append(sub.next(timeout))
        except cuframes.TimeoutError:
            return got


@pytest.fixture
def packet_publisher(key: str, backend: str):
    with cuframes.Publisher(
        key, 160, 96, "nv12", backend=backend, packet_ring_bytes=RING, description="encoded test pattern"
    ) as pub:
        yield pub


@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_a_subscriber_from_the_start_gets_every_packet_and_they_decode(key, backend, codec):
    packets, _ = encode(codec, frames=40, gop=10)
    with cuframes.Publisher(key, 160, 96, backend=backend, packet_ring_bytes=RING) as pub:
        with cuframes.PacketSubscriber(key) as sub:
            publish_all(pub, packets, codec)
            got = drain(sub)
    assert [p.seq for p in got] == list(range(1, 41))
    assert [p.pts for p in got] == [p.pts for p in packets]
    assert [p.keyframe for p in got] == [p.keyframe for p in packets]
    assert [p.data for p in got] == [p.data for p in packets]
    assert {p.codec for p in got} == {codec}
    assert got[0].discontinuity and not any(p.discontinuity for p in got[1:])
    assert sum(p.overruns for p in got) == 0
    assert len(decode(codec, b"".join(p.data for p in got))) == 40


def test_a_late_subscriber_joins_at_the_latest_keyframe(packet_publisher, key):
    packets, _ = encode("h264", frames=40, gop=10)
    publish_all(packet_publisher, packets[:25])  # keyframes at pts 0, 10, 20
    with cuframes.PacketSubscriber(key) as sub:
        first = sub.next(1.0)
        publish_all(packet_publisher, packets[25:])
        rest = drain(sub)
    assert (first.seq, first.pts, first.keyframe, first.discontinuity) == (21, 20, True, True)
    assert not first.parameter_sets_prepended  # x264 repeats SPS/PPS in-band on every keyframe
    assert [p.seq for p in rest] == list(range(22, 41))
    assert len(decode("h264", first.data + b"".join(p.data for p in rest))) == 20


@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_kept_parameter_sets_go_in_front_of_a_keyframe_that_lacks_them(key, backend, codec):
    packets, extradata = encode(codec, frames=30, gop=10, in_band_headers=False)
    assert extradata.startswith(b"\0\0\0\1") and not any(p.data == extradata for p in packets)
    with cuframes.Publisher(key, 160, 96, backend=backend, packet_ring_bytes=RING) as pub:
        pub.set_parameter_sets(extradata, codec=codec)
        publish_all(pub, packets[:15], codec)
        with cuframes.PacketSubscriber(key) as sub:
            first = sub.next(1.0)
            publish_all(pub, packets[15:], codec)
            rest = drain(sub)
    assert first.pts == 10 and first.parameter_sets_prepended
    assert first.data == extradata + packets[10].data
    stream = first.data + b"".join(p.data for p in rest)
    assert len(decode(codec, stream)) == 20


def test_a_subscriber_that_falls_a_ring_behind_rejoins_at_a_keyframe_and_counts_the_loss(key, backend):
    packets, _ = encode("h264", frames=50, gop=10, width=320, height=192)
    ring = 64 * 1024  # the smallest
    rounds = 8
    assert rounds * sum(len(p.data) for p in packets) > 2 * ring
    with cuframes.Publisher(key, 160, 96, backend=backend, packet_ring_bytes=ring) as pub:
        with cuframes.PacketSubscriber(key) as sub:
            publish_all(pub, packets[:3])
            assert [p.seq for p in (sub.next(1.0), sub.next(1.0))] == [1, 2]
            # The producer never waits: it laps the idle subscriber.
            for round_ in range(rounds):
                publish_all(pub, [EncodedPacket(p.data, p.pts + 50 * (round_ + 1), p.keyframe) for p in packets])
            rejoined = sub.next(1.0)
            after = drain(sub)
            status = cuframes.stat(key)
    assert rejoined.keyframe and rejoined.discontinuity
    assert rejoined.overruns == rejoined.seq - 3 > 0
    assert sub_seq_run(rejoined, after)
    last = 3 + rounds * 50
    assert after[-1].seq == last
    assert status.packets.overwritten > 0 and status.packets.latest_seq == last


def sub_seq_run(first: cuframes.Packet, rest: list[cuframes.Packet]) -> bool:
    seqs = [first.seq] + [p.seq for p in rest]
    return seqs == list(range(first.seq, first.seq + len(seqs))) and not any(p.overruns for p in rest)


def test_after_the_producer_closes_the_last_packets_are_read_then_disconnected(packet_publisher, key):
    packets, _ = encode("h264", frames=12, gop=6)
    with cuframes.PacketSubscriber(key) as sub:
        publish_all(packet_publisher, packets)
        packet_publisher.close()
        got = list(sub)  # iteration ends at DisconnectedError
    assert [p.seq for p in got] == list(range(1, 13))


def test_a_killed_producer_surfaces_as_disconnected(children, key, backend):
    producer = children.spawn(
        f"""
        import sys, time, cuframes
        sys.path.insert(0, {TESTS_DIR!r})
        from encoded import encode
        packets, _ = encode("h264", frames=5, gop=5)
        pub = cuframes.Publisher(sys.argv[1], 160, 96, backend=sys.argv[2], packet_ring_bytes=1 << 20)
        for p in packets:
            pub.publish_packet(p.data, pts=p.pts, keyframe=p.keyframe)
        print("ready", flush=True)
        time.sleep(60)
    """,
        key,
        backend,
    )
    children.read_line(producer, "ready")
    with cuframes.PacketSubscriber(key) as sub:
        assert [p.seq for p in drain(sub, 0.2)] == [1, 2, 3, 4, 5]
        producer.proc.send_signal(signal.SIGKILL)
        start = time.monotonic()
        with pytest.raises(cuframes.ProducerDiedError, match="died without closing the stream"):
            sub.next(10.0)
        assert time.monotonic() - start < 2.0


def test_close_from_another_thread_ends_a_waiting_next(packet_publisher, key):
    sub = cuframes.PacketSubscriber(key)
    outcome: list[BaseException] = []

    def wait() -> None:
        try:
            sub.next(30.0)
        except BaseException as error:  # noqa: BLE001 - the test inspects it
            outcome.append(error)

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.1)
    start = time.monotonic()
    sub.close()
    waiter.join(5.0)
    assert not waiter.is_alive() and time.monotonic() - start < 1.5
    assert isinstance(outcome[0], cuframes.StateError)


def test_packet_subscribers_hold_no_frames_and_have_their_own_limit(key, backend):
    with cuframes.Publisher(key, 160, 96, backend=backend, packet_ring_bytes=RING, max_subscribers=2, slots=6) as pub:
        with cuframes.PacketSubscriber(key), cuframes.PacketSubscriber(key), cuframes.Subscriber(key):
            assert (pub.subscriber_count, pub.packet_subscriber_count) == (1, 2)
            # A refusal for the limit is tried again until connect_timeout (a place may free up).
            with pytest.raises(cuframes.LimitError, match="maximum of 2 packet subscribers"):
                cuframes.PacketSubscriber(key, connect_timeout=0.5)


def test_packets_and_frames_join_by_pts(key, backend):
    packets, _ = encode("h264", frames=20, gop=5)
    image = np.zeros(cuframes.packed_size("nv12", 160, 96), np.uint8)
    with cuframes.Publisher(key, 160, 96, backend=backend, packet_ring_bytes=RING) as pub:
        with cuframes.Subscriber(key, delivery="sequential") as frames, cuframes.PacketSubscriber(key) as sub:
            frame_pts = []
            for packet in packets:
                pub.publish_packet(packet.data, pts=packet.pts, keyframe=packet.keyframe)
                pub.send(image, pts=packet.pts)
                with frames.next(1.0) as frame:
                    frame_pts.append(frame.pts)
            packet_pts = [p.pts for p in drain(sub)]
    assert packet_pts == frame_pts == [p.pts for p in packets]


@pytest.mark.parametrize(
    "data, error",
    [
        (b"", "at least one byte"),
        (b"\x00\x00\x00\x18\x67\x42", "must be Annex-B"),
        (b"\0\0\1" + bytes(RING // 2), "exceeds the largest"),
    ],
)
def test_malformed_packets_are_refused_and_the_ring_is_untouched(packet_publisher, data, error):
    with pytest.raises(cuframes.InvalidArgumentError, match=error):
        packet_publisher.publish_packet(data, pts=0)
    assert packet_publisher.last_packet_seq == 0


def test_bad_packet_arguments_are_named(packet_publisher, key, backend):
    with pytest.raises(cuframes.InvalidArgumentError, match="unknown codec 'vp9'"):
        packet_publisher.publish_packet(b"\0\0\1\x65", pts=0, codec="vp9")
    strided = np.zeros((4, 8), np.uint8)[:, ::2]
    with pytest.raises(cuframes.InvalidArgumentError, match="contiguous bytes-like"):
        packet_publisher.publish_packet(strided, pts=0)
    with pytest.raises(cuframes.InvalidArgumentError, match="packet_ring_bytes is 1000"):
        cuframes.Publisher(key + "x", 160, 96, backend=backend, packet_ring_bytes=1000)


def test_a_producer_without_a_packet_ring_says_so(key, backend):
    with cuframes.Publisher(key, 160, 96, backend=backend) as pub:
        with pytest.raises(cuframes.StateError, match="has no packet ring"):
            pub.publish_packet(b"\0\0\1\x65", pts=0)
        with pytest.raises(cuframes.NotFoundError, match="publishes no packets"):
            cuframes.PacketSubscriber(key)
        assert pub.packet_subscriber_count == 0


def test_publish_packet_after_close_is_a_state_error(packet_publisher):
    packet_publisher.close()
    with pytest.raises(cuframes.StateError, match="closed"):
        packet_publisher.publish_packet(b"\0\0\1\x65", pts=0)


RESTARTING = ("--frames", "12", "--gop", "6")


def test_reconnect_follows_a_restarted_producer_at_its_first_keyframe(children, key, backend):
    first = children.spawn(PACKET_PRODUCER, key, backend, *RESTARTING, "--go", stdin=True)
    children.read_line(first, "up")
    with cuframes.PacketSubscriber(key, reconnect=True) as sub:
        first.send("go")  # the subscriber has chosen its join point: the first keyframe
        before = [sub.next(10.0) for _ in range(12)]
        children.wait(first)
        second = children.spawn(PACKET_PRODUCER, key, backend, *RESTARTING, "--first-pts", "1000")
        after = [sub.next(10.0) for _ in range(12)]
        assert sub.reconnect_count == 1
        # Still attached while the successor ends: it closes once it has counted a packet
        # subscriber, and one that read everything and left at once was gone before it looked
        # (it then waited out its 20 s for one).
        children.wait(second)
    assert [p.pts for p in before] == list(range(12))
    assert [p.pts for p in after] == list(range(1000, 1012))
    assert after[0].reconnected and after[0].discontinuity and after[0].keyframe and after[0].seq == 1
    assert not any(p.reconnected for p in before + after[1:])
    assert len({p.epoch for p in before}) == 1 and len({p.epoch for p in after}) == 1
    assert before[0].epoch != after[0].epoch
    assert len(decode("h264", b"".join(p.data for p in after))) == 12


def test_reconnect_joins_a_restarted_producer_at_its_oldest_keyframe_even_after_it_closed(children, key, backend):
    """A follower loses as little of the new producer as it can: it starts at the
    oldest keyframe still in the ring, not the newest (where a new subscriber
    joins), and a successor that already published everything and closed is
    still read, never skipped as if it were the old producer closing."""
    first = children.spawn(PACKET_PRODUCER, key, backend, *RESTARTING, "--go", stdin=True)
    children.read_line(first, "up")
    with cuframes.PacketSubscriber(key, reconnect=True) as sub:
        first.send("go")
        before = [sub.next(10.0) for _ in range(12)]
        children.wait(first)
        # Both of its GOPs are in the ring before the follower is back.
        second = children.spawn(PACKET_PRODUCER, key, backend, *RESTARTING, "--first-pts", "1000", "--early", "12")
        children.read_line(second, "up")
        after = [sub.next(10.0) for _ in range(12)]
        assert sub.reconnect_count == 1
        # Still attached while the successor ends: it closes once it has counted a packet
        # subscriber, and one that read everything and left at once was gone before it looked
        # (it then waited out its 20 s for one).
        children.wait(second)
    assert [p.pts for p in before] == list(range(12))
    assert [p.pts for p in after] == list(range(1000, 1012))
    assert after[0].reconnected and after[0].keyframe and after[0].overruns == 0


def test_without_reconnect_the_producers_end_is_final(children, key, backend):
    first = children.spawn(PACKET_PRODUCER, key, backend, *RESTARTING, "--go", stdin=True)
    children.read_line(first, "up")
    with cuframes.PacketSubscriber(key) as sub:
        first.send("go")  # the subscriber has chosen its join point: the first keyframe
        assert len(list(sub)) == 12  # iteration ends at the producer's close
        children.wait(first)
        with pytest.raises(cuframes.DisconnectedError, match="closed the stream"):
            sub.next(5.0)
