"""One source of truth for each table: the core's formats, codecs and publisher
defaults reach Python through _core, and every Python-only table (FFmpeg names,
Literal types, NAL unit facts) covers exactly what the core knows."""

from __future__ import annotations

import inspect
import typing

import numpy as np
import pytest

import cuframes
from cuframes import _core, _formats
from cuframes.publisher import DEFAULTS
from cuframes.sources import annexb
from cuframes.sources.pyav_session import PACKET_CODECS


def test_formats_and_codecs_come_from_the_core() -> None:
    assert tuple(_core.FORMATS) == cuframes.FORMATS and "nv12" in cuframes.FORMATS
    assert cuframes.CODECS == tuple(_core.CODECS) == ("h264", "hevc")


@pytest.mark.parametrize(
    ("table", "facts"),
    [
        (set(typing.get_args(_formats.Format)), "FORMATS"),
        (set(_formats.FFMPEG_PIXEL_FORMATS), "FORMATS"),
        (set(typing.get_args(_formats.Codec)), "CODECS"),
        (set(_formats.FFMPEG_DEMUXERS), "CODECS"),
        (set(PACKET_CODECS.values()), "CODECS"),
        (set(annexb.PARAMETER_SET_TYPES), "CODECS"),
        (set(annexb.RANDOM_ACCESS_TYPES), "CODECS"),
    ],
)
def test_every_python_table_covers_what_the_core_knows(table: set[str], facts: str) -> None:
    assert table == set(getattr(_core, facts)), f"add the new entries of _core.{facts} to this table"


@pytest.mark.parametrize(
    ("format", "shape", "dtype"),
    [
        ("nv12", (72, 64), np.uint8),
        ("i420", (72, 64), np.uint8),
        ("p010", (72, 64), np.dtype("<u2")),
        ("rgb24", (48, 64, 3), np.uint8),
        ("bgra", (48, 64, 4), np.uint8),
        ("gray8", (48, 64), np.uint8),
    ],
)
def test_the_natural_shape_of_a_packed_frame_comes_from_the_core_layout(format: str, shape, dtype) -> None:
    assert _formats.packed_shape(format, 64, 48) == (shape, np.dtype(dtype))
    packed = np.zeros(cuframes.packed_size(format, 64, 48), np.uint8)
    assert _formats.to_shaped_array(packed, format, 64, 48).shape == shape


def test_every_format_has_a_natural_shape() -> None:
    for format in cuframes.FORMATS:
        shape, dtype = _formats.packed_shape(format, 64, 48)
        assert int(np.prod(shape)) * dtype.itemsize == cuframes.packed_size(format, 64, 48), format


def test_publisher_defaults_are_the_cores(key, backend) -> None:
    assert dict(_core.DEFAULTS) == DEFAULTS
    assert (DEFAULTS["slots"], DEFAULTS["max_subscribers"], DEFAULTS["max_held"]) == (10, 4, 2)
    assert DEFAULTS["mode"] == 0o660 and DEFAULTS["format"] == "nv12"
    parameters = inspect.signature(cuframes.Publisher).parameters
    for name in ("slots", "max_subscribers", "max_held", "mode", "backend", "device", "packet_ring_bytes"):
        assert parameters[name].default == DEFAULTS[name], name
    with cuframes.Publisher(key, 64, 48, backend=backend) as pub:
        assert (pub.format, pub.slot_count, pub.max_subscribers, pub.max_held) == (
            DEFAULTS["format"],
            DEFAULTS["slots"],
            DEFAULTS["max_subscribers"],
            DEFAULTS["max_held"],
        )


def test_the_publish_command_shows_the_cores_defaults() -> None:
    from cuframes.cli.publish import publish

    defaults = {option.name: option.default for option in publish.params}
    assert defaults["slots"] == DEFAULTS["slots"] and defaults["max_subscribers"] == DEFAULTS["max_subscribers"]
