"""Stream facts (protocol v4): the producer's time base, nominal rate, colour
and sample aspect ratio reach frame subscribers, packet subscribers and
observers unchanged; frames and packets give their time in seconds; bad facts
are refused with what is wrong."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

import cuframes
from cuframes import ColorInfo, StreamFacts

W, H = 64, 48
FACTS = dict(
    time_base=Fraction(1, 90_000),
    frame_rate=Fraction(30_000, 1001),
    color=ColorInfo(matrix="bt2020nc", range="pc", primaries="bt2020", transfer="hlg"),
    sample_aspect_ratio=Fraction(4, 3),
)


def annexb_keyframe() -> bytes:
    """A minimal H.264 access unit the packet ring takes (SPS, PPS, IDR)."""
    return b"\x00\x00\x00\x01\x67\x42\x00\x1e\x00\x00\x00\x01\x68\xce\x00\x00\x00\x01\x65\x88"


def test_every_fact_reaches_frames_packets_and_observers(key, backend) -> None:
    with (
        cuframes.Publisher(key, W, H, "gray8", backend=backend, packet_ring_bytes=1 << 20, **FACTS) as pub,
        cuframes.Subscriber(key) as sub,
        cuframes.PacketSubscriber(key) as packets,
    ):
        expected = StreamFacts(**FACTS)
        assert pub.facts == expected
        assert sub.facts == expected and packets.facts == expected
        assert (sub.time_base, sub.frame_rate, sub.sample_aspect_ratio) == (
            Fraction(1, 90_000),
            Fraction(30_000, 1001),
            Fraction(4, 3),
        )
        assert (sub.color.matrix, sub.color.range, sub.color.primaries, sub.color.transfer) == (9, 2, 9, 18)
        assert packets.color.matrix_name == "bt2020nc" and packets.color.range_name == "pc"

        pub.send(np.zeros(pub.packed_size, np.uint8), pts=180_000)
        with sub.next(timeout=5) as frame:
            assert frame.time_base == Fraction(1, 90_000)
            assert frame.time == pytest.approx(2.0)
        pub.publish_packet(annexb_keyframe(), pts=270_000, dts=267_000, keyframe=True)
        packet = packets.next(timeout=5)
        assert packet.time_base == Fraction(1, 90_000) and packet.time == pytest.approx(3.0)

        seen = cuframes.stat(key)
        assert seen.facts == expected
        as_json = json.loads(json.dumps(seen.to_dict()))
        assert as_json["facts"]["time_base"] == "1/90000" and as_json["facts"]["frame_rate"] == "30000/1001"
        assert as_json["facts"]["color"]["code_points"] == [9, 2, 9, 18]


def test_a_stream_without_facts_says_unknown(key, backend) -> None:
    with cuframes.Publisher(key, W, H, "gray8", backend=backend) as pub, cuframes.Subscriber(key) as sub:
        assert sub.facts == StreamFacts() and sub.time_base is None and sub.frame_rate is None
        assert sub.color == ColorInfo.UNSPECIFIED and not sub.color.specified
        pub.send(np.zeros(pub.packed_size, np.uint8), pts=7)
        with sub.next(timeout=5) as frame:
            assert frame.pts == 7 and frame.time_base is None and frame.time is None


def test_a_relay_passes_the_facts_on(make_key, backend) -> None:
    upstream, relay = make_key("up"), make_key("relay")
    with (
        cuframes.Publisher(upstream, W, H, "gray8", backend=backend, **FACTS),
        cuframes.Subscriber(upstream) as sub,
        cuframes.Publisher(relay, W, H, "gray8", backend=backend, facts=sub.facts),
        cuframes.Subscriber(relay) as downstream,
    ):
        assert downstream.facts == sub.facts == StreamFacts(**FACTS)


@pytest.mark.parametrize(
    "given, accepted",
    [
        ((1, 90_000), Fraction(1, 90_000)),
        ("30000/1001", Fraction(30_000, 1001)),
        (25, Fraction(25)),
        (29.97, Fraction(2997, 100)),
        ((0, 0), None),
        ((0, 1), None),
        (None, None),
    ],
)
def test_rationals_are_taken_in_every_usual_spelling(key, backend, given, accepted) -> None:
    with cuframes.Publisher(key, W, H, "gray8", backend=backend, frame_rate=given) as pub:
        assert pub.frame_rate == accepted


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(time_base=(1, 0)), "time_base .* zero denominator"),
        (dict(frame_rate=Fraction(-30)), "frame_rate .* negative"),
        (dict(sample_aspect_ratio="four"), "sample_aspect_ratio must be"),
        (dict(time_base=(1, 2**40)), "does not fit"),
        (dict(color=(1, 1, 1, 1)), "color must be a cuframes.ColorInfo"),
        (dict(facts=StreamFacts(), frame_rate=30), "not both"),
    ],
)
def test_bad_facts_are_refused_with_what_is_wrong(key, backend, cf_dir, options, message) -> None:
    with pytest.raises(cuframes.InvalidArgumentError, match=message):
        cuframes.Publisher(key, W, H, "gray8", backend=backend, **options)
    assert list(cf_dir.iterdir()) == []


def test_colours_take_ffmpegs_names_and_h273_code_points() -> None:
    assert ColorInfo(matrix="bt601", range="tv") == ColorInfo(matrix=6, range=1) == ColorInfo("smpte170m", "limited")
    assert ColorInfo(1, 1, 1, 1) == ColorInfo.BT709 and ColorInfo(6, 1, 6, 6) == ColorInfo.BT601
    assert ColorInfo() == ColorInfo(2, 0, 2, 2) and ColorInfo() == ColorInfo.UNSPECIFIED
    assert repr(ColorInfo.BT709) == "ColorInfo(matrix='bt709', range='tv', primaries='bt709', transfer='bt709')"
    with pytest.raises(cuframes.InvalidArgumentError, match="unknown colour matrix 'bt999'.*bt709"):
        ColorInfo(matrix="bt999")
    with pytest.raises(cuframes.InvalidArgumentError, match="colour range 3 is out of range"):
        ColorInfo(range=3)
    with pytest.raises(cuframes.InvalidArgumentError, match="must be an int"):
        ColorInfo(transfer=1.5)  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        ColorInfo.BT709.matrix = 6  # type: ignore[misc]


def test_reconnecting_subscribers_take_the_restarted_producers_facts(key, backend) -> None:
    """Frames keep the facts of the producer that published them; the subscribers
    follow the new producer's."""
    image = np.zeros(cuframes.packed_size("gray8", W, H), np.uint8)
    first = cuframes.Publisher(
        key, W, H, "gray8", backend=backend, packet_ring_bytes=1 << 20, time_base=(1, 25), frame_rate=25
    )
    follower = cuframes.Subscriber(key, reconnect=True)
    packets = cuframes.PacketSubscriber(key, reconnect=True)
    try:
        first.send(image, pts=50)
        first.publish_packet(annexb_keyframe(), pts=50, keyframe=True)
        old_frame = follower.next(timeout=5)
        assert packets.next(timeout=5).time == pytest.approx(2.0)
        first.close()
        with cuframes.Publisher(
            key,
            W,
            H,
            "gray8",
            backend=backend,
            packet_ring_bytes=1 << 20,
            time_base=(1, 90_000),
            frame_rate=Fraction(30_000, 1001),
            color=ColorInfo.BT601,
        ) as second:
            second.send(image, pts=90_000)
            second.publish_packet(annexb_keyframe(), pts=90_000, keyframe=True)
            with follower.next(timeout=10) as frame:
                assert frame.reconnected and frame.time_base == Fraction(1, 90_000) and frame.time == 1.0
            packet = packets.next(timeout=10)
            assert packet.reconnected and packet.time_base == Fraction(1, 90_000) and packet.time == 1.0
            for sub in (follower, packets):
                assert (sub.frame_rate, sub.color) == (Fraction(30_000, 1001), ColorInfo.BT601)
            assert old_frame.time_base == Fraction(1, 25) and old_frame.time == 2.0
            old_frame.release()
    finally:
        follower.close()
        packets.close()
        first.close()
