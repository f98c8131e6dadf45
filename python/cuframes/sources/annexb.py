"""Annex-B byte streams: finding NAL units and telling what they are.

The packet ring carries H.264/H.265 access units in Annex-B form (each NAL unit
after a 00 00 01 or 00 00 00 01 start code), with the parameter sets in-band on
every keyframe, so that a consumer can start decoding at any keyframe.

Why this scanner is not the core's (cpp/src/media/annexb.cpp): the core's is internal
to libcuframes (not in its public headers, and hidden once the library exports
only its API), and it answers the producer's questions only (extract the
parameter sets, does a keyframe carry them). Python needs others: the units one
by one to build avcC/hvcC for a container (cuframes._mux), and whether a packet
starts random access, to flag keyframes a container did not. Exporting a small
public scanner from the core (cuframes/annexb.hpp) would let this module shrink
to a wrapper; until then the NAL unit facts below are the Python ones, checked
against the core's codec list by tests/test_formats.py.
"""

from __future__ import annotations

from collections.abc import Iterator

__all__ = [
    "is_annexb",
    "iter_nal_units",
    "nal_unit_types",
    "has_parameter_sets",
    "is_length_prefixed",
    "starts_random_access",
    "PARAMETER_SET_TYPES",
    "RANDOM_ACCESS_TYPES",
]

#: NAL unit types that carry the parameter sets a decoder needs first:
#: H.264 SPS (7), PPS (8); H.265 VPS (32), SPS (33), PPS (34).
PARAMETER_SET_TYPES = {"h264": frozenset({7, 8}), "hevc": frozenset({32, 33, 34})}
#: NAL unit types of a picture a decoder can start at: H.264 IDR (5); H.265 IRAP (16..21).
RANDOM_ACCESS_TYPES = {"h264": frozenset({5}), "hevc": frozenset(range(16, 22))}


def is_annexb(data: bytes) -> bool:
    """True when ``data`` starts with a start code (00 00 01 or 00 00 00 01)."""
    return data[:3] == b"\x00\x00\x01" or data[:4] == b"\x00\x00\x00\x01"


def is_length_prefixed(extradata: bytes | None) -> bool:
    """True when a stream's extradata is an avcC/hvcC record (MP4, MKV): its packets
    are then length-prefixed and need an mp4toannexb filter. Both records start with
    configurationVersion = 1; Annex-B extradata starts with a start code's 0."""
    return extradata is not None and extradata[:1] == b"\x01"


def iter_nal_units(data: bytes) -> Iterator[bytes]:
    """The NAL units of an Annex-B buffer, start codes removed (trailing zero bytes too)."""
    starts = []
    at = data.find(b"\x00\x00\x01")
    while at != -1:
        starts.append(at + 3)
        at = data.find(b"\x00\x00\x01", at + 3)
    for index, begin in enumerate(starts):
        end = starts[index + 1] - 3 if index + 1 < len(starts) else len(data)
        unit = data[begin:end].rstrip(b"\x00")  # the zero of a following 4-byte start code
        if unit:
            yield unit


def nal_unit_types(data: bytes, codec: str) -> list[int]:
    """The type of each NAL unit of an Annex-B buffer, in order."""
    if codec == "h264":
        return [unit[0] & 0x1F for unit in iter_nal_units(data)]
    if codec == "hevc":
        return [(unit[0] >> 1) & 0x3F for unit in iter_nal_units(data)]
    raise ValueError(f"no NAL unit syntax known for codec {codec!r} (h264 or hevc)")


def has_parameter_sets(data: bytes, codec: str) -> bool:
    """True when the buffer holds every parameter set a decoder needs to start there."""
    return PARAMETER_SET_TYPES[codec] <= set(nal_unit_types(data, codec))


def starts_random_access(data: bytes, codec: str) -> bool:
    """True when the access unit holds an IDR/IRAP picture (a keyframe, even when
    the container did not flag it)."""
    return bool(RANDOM_ACCESS_TYPES[codec].intersection(nal_unit_types(data, codec)))
