"""What the API's objects print as: short, with the facts a log line needs, never a payload."""

from __future__ import annotations

from cuframes import Packet


def test_packet_repr_names_the_packet_not_its_bytes():
    packet = Packet(data=b"\x00\x00\x00\x01\x65" + bytes(212_000), seq=7, pts=3003, dts=3000, timestamp_ns=1,
                    codec="h264", keyframe=True, overruns=2, discontinuity=True, parameter_sets_prepended=False,
                    epoch=0xBEEF)
    text = repr(packet)
    assert len(text) < 200, text
    for fact in ("seq=7", "h264", "212005 bytes", "pts=3003", "dts=3000", "keyframe", "overruns=2", "0xbeef"):
        assert fact in text, text
    plain = Packet(data=b"\x01", seq=8, pts=1, dts=1, timestamp_ns=1, codec="hevc", keyframe=False, overruns=0,
                   discontinuity=False, parameter_sets_prepended=False)
    assert "keyframe" not in repr(plain) and "overruns" not in repr(plain)
