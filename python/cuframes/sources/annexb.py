"""Annex-B byte streams: finding NAL units and telling what they are.

The packet ring carries H.264/H.265 access units in Annex-B form (each NAL unit
after a 00 00 01 or 00 00 00 01 start code), with the parameter sets in-band on
every keyframe, so that a consumer can start decoding at any keyframe.

The scanning is the core's (cpp/include/cuframes/annexb.hpp, the same code
the producer uses to keep the parameter sets); this module gives it its Python
shape: bytes in, units and sets of NAL unit types out, codecs by name.
"""

from __future__ import annotations

from collections.abc import Iterator

from .. import _core

__all__ = [
    "is_annexb",
    "iter_nal_units",
    "nal_unit_types",
    "has_parameter_sets",
    "parameter_sets",
    "is_length_prefixed",
    "starts_random_access",
    "PARAMETER_SET_TYPES",
    "RANDOM_ACCESS_TYPES",
]

# Every nal_unit_type there is: 5 bits in H.264, 6 in H.265.
_NAL_TYPES = range(64)

#: NAL unit types that carry the parameter sets a decoder needs first:
#: H.264 SPS (7), PPS (8); H.265 VPS (32), SPS (33), PPS (34).
PARAMETER_SET_TYPES = {
    codec: frozenset(t for t in _NAL_TYPES if _core.annexb_is_parameter_set_type(codec, t)) for codec in _core.CODECS
}
#: NAL unit types of a picture a decoder can start at: H.264 IDR (5); H.265 IRAP (16..21).
RANDOM_ACCESS_TYPES = {
    codec: frozenset(t for t in _NAL_TYPES if _core.annexb_is_random_access_type(codec, t)) for codec in _core.CODECS
}


def is_annexb(data: bytes) -> bool:
    """True when ``data`` starts with a start code (00 00 01 or 00 00 00 01)."""
    return _core.annexb_starts_with_start_code(data)


def is_length_prefixed(extradata: bytes | None) -> bool:
    """True when a stream's extradata is an avcC/hvcC record (MP4, MKV): its packets
    are then length-prefixed and need an mp4toannexb filter. Both records start with
    configurationVersion = 1; Annex-B extradata starts with a start code's 0."""
    return extradata is not None and extradata[:1] == b"\x01"


def iter_nal_units(data: bytes) -> Iterator[bytes]:
    """The NAL units of an Annex-B buffer, start codes removed (trailing zero bytes too)."""
    for offset, size in _core.annexb_nal_units(data):
        yield bytes(data[offset : offset + size])


def _known(codec: str) -> str:
    # The core takes aliases too ("avc", "h265"); this module's callers use the ring's names.
    if codec not in PARAMETER_SET_TYPES:
        raise ValueError(f"no NAL unit syntax known for codec {codec!r} (h264 or hevc)")
    return codec


def nal_unit_types(data: bytes, codec: str) -> list[int]:
    """The type of each NAL unit of an Annex-B buffer, in order."""
    return _core.annexb_nal_unit_types(_known(codec), data)


def has_parameter_sets(data: bytes, codec: str) -> bool:
    """True when the buffer holds every parameter set a decoder needs to start there."""
    return PARAMETER_SET_TYPES[codec] <= set(nal_unit_types(data, codec))


def parameter_sets(data: bytes, codec: str) -> bytes:
    """The VPS/SPS/PPS NAL units of an access unit, each after a 4-byte start code,
    joined (b"" when it has none)."""
    return _core.annexb_parameter_sets(_known(codec), data)


def starts_random_access(data: bytes, codec: str) -> bool:
    """True when the access unit holds an IDR/IRAP picture (a keyframe, even when
    the container did not flag it)."""
    return bool(RANDOM_ACCESS_TYPES[codec].intersection(nal_unit_types(data, codec)))
