"""What the API's objects print as: short, with the facts a log line needs, never a payload."""

from __future__ import annotations

from fractions import Fraction

from cuframes import Packet


def test_packet_repr_names_the_packet_not_its_bytes():
    packet = Packet(
        data=b"\x00\x00\x00\x01\x65" + bytes(212_000),
        seq=7,
        pts=3003,
        dts=3000,
        timestamp_ns=1,
        codec="h264",
        keyframe=True,
        overruns=2,
        discontinuity=True,
        parameter_sets_prepended=False,
        epoch=0xBEEF,
    )
    text = repr(packet)
    assert len(text) < 200, text
    for fact in ("seq=7", "h264", "212005 bytes", "pts=3003", "dts=3000", "keyframe", "overruns=2", "0xbeef"):
        assert fact in text, text
    plain = Packet(
        data=b"\x01",
        seq=8,
        pts=1,
        dts=1,
        timestamp_ns=1,
        codec="hevc",
        keyframe=False,
        overruns=0,
        discontinuity=False,
        parameter_sets_prepended=False,
    )
    assert "keyframe" not in repr(plain) and "overruns" not in repr(plain)


def test_subscriber_and_frame_repr_and_properties_show_the_stream_facts(key):
    import cuframes

    with (
        cuframes.Publisher(
            key,
            64,
            48,
            "nv12",
            backend="host",
            time_base=(1, 90_000),
            frame_rate="30000/1001",
            color=cuframes.ColorInfo.BT709,
        ) as pub,
        cuframes.Subscriber(key) as sub,
    ):
        assert "30000/1001 fps bt709/tv" in repr(sub), repr(sub)
        assert (sub.time_base, sub.frame_rate, sub.color) == (
            Fraction(1, 90_000),
            Fraction(30_000, 1001),
            cuframes.ColorInfo.BT709,
        )
        pub.send(bytes(pub.packed_size), pts=3003)
        with sub.next(timeout=5) as frame:
            assert frame.color == cuframes.ColorInfo.BT709 and frame.time_base == Fraction(1, 90_000)
    with cuframes.Publisher(key, 64, 48, "nv12", backend="host") as pub, cuframes.Subscriber(key) as sub:
        assert " fps" not in repr(sub) and "unspecified" not in repr(sub)  # nothing stated: nothing shown
