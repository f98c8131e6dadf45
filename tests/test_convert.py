"""Conversions read YUV with the stream's colour facts, as FFmpeg does: `frame.to_ndarray(format=...)`
equals the ffmpeg command line's conversion of the same frame for every pixel format and colour tag,
`cuframes snapshot` equals ffmpeg's for untagged, BT.709- and BT.601-tagged 720p clips, and the torch
conversion (`frame.to_tensor`, the GPU path) applies the same matrix as FFmpeg's accurate scaler."""

from __future__ import annotations

import shutil
import subprocess
from contextlib import contextmanager

import numpy as np
import pytest
from cli_invoke import invoke_cli

import cuframes
from cuframes.convert import resolve_color, yuv_to_rgb_affine
from cuframes.stream_facts import ColorInfo

av = pytest.importorskip("av")
pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command line")

W, H = 64, 48
FFMPEG_FORMATS = {
    "nv12": "nv12",
    "i420": "yuv420p",
    "p010": "p010le",
    "rgb24": "rgb24",
    "bgr24": "bgr24",
    "rgba": "rgba",
    "bgra": "bgra",
    "gray8": "gray",
}
OUTPUTS = ["rgb24", "bgr24", "rgba", "bgra", "gray"]
# The stream's colour facts -> the tags ffmpeg's setparams filter puts on the same frame.
COLORS = {
    "untagged": (ColorInfo(), ""),
    "bt709-tv": (ColorInfo(matrix="bt709", range="tv"), "setparams=colorspace=bt709:range=tv,"),
    "bt601-pc": (ColorInfo(matrix="smpte170m", range="pc"), "setparams=colorspace=smpte170m:range=pc,"),
    "bt709-pc": (ColorInfo(matrix="bt709", range="pc"), "setparams=colorspace=bt709:range=pc,"),
}
TOLERANCE = 2


def ffmpeg(*args: str, stdin: bytes | None = None) -> bytes:
    done = subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", *args], input=stdin, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def source_frame(format: str, width: int = W, height: int = H) -> np.ndarray:
    """testsrc2 (sharp colour edges, gradients) as a packed frame of ``format``, made by ffmpeg."""
    raw = ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={width}x{height}",
        "-frames:v",
        "1",
        "-pix_fmt",
        FFMPEG_FORMATS[format],
        "-f",
        "rawvideo",
        "-",
    )
    return np.frombuffer(raw, dtype=np.uint8)


def ffmpeg_converted(packed: np.ndarray, format: str, tags: str, to: str) -> np.ndarray:
    """ffmpeg's own conversion of the packed frame, tagged with ``tags`` (setparams), to ``to``."""
    raw = ffmpeg(
        "-f",
        "rawvideo",
        "-pix_fmt",
        FFMPEG_FORMATS[format],
        "-s",
        f"{W}x{H}",
        "-i",
        "-",
        "-vf",
        f"{tags}format={to}",
        "-f",
        "rawvideo",
        "-",
        stdin=packed.tobytes(),
    )
    array = np.frombuffer(raw, dtype=np.uint8)
    return array.reshape(H, W) if to == "gray" else array.reshape(H, W, -1)


@contextmanager
def published(key: str, format: str, packed: np.ndarray, color: ColorInfo, width: int = W, height: int = H):
    """A held frame of ``packed`` from a host-backend stream whose facts say ``color``."""
    with (
        cuframes.Publisher(key, width, height, format, backend="host", color=color) as pub,
        cuframes.Subscriber(key) as sub,
    ):
        pub.send(packed)
        with sub.next(timeout=5) as frame:
            yield frame


def max_error(a: np.ndarray, b: np.ndarray) -> int:
    assert a.shape == b.shape and a.dtype == b.dtype == np.uint8
    return int(np.abs(a.astype(int) - b.astype(int)).max())


def full_range_luma(packed: np.ndarray, format: str, color: ColorInfo) -> np.ndarray:
    """What "gray" is: the luma plane, made full range, worked out with numpy."""
    bits = 10 if format == "p010" else 8
    luma = (packed.view("<u2") >> 6 if bits == 10 else packed)[: W * H].reshape(H, W).astype(float)
    if color.range == 2:
        unit = luma / ((1 << bits) - 1)
    else:
        step = 1 << (bits - 8)
        unit = (luma - 16 * step) / (219 * step)
    return np.clip(np.round(unit * 255), 0, 255).astype(np.uint8)


# --- the host conversion: frame.to_ndarray(format=...) ---
@pytest.mark.parametrize("color_name", list(COLORS))
@pytest.mark.parametrize("format", ["nv12", "i420", "p010"])
def test_to_ndarray_of_yuv_equals_ffmpeg(format, color_name, key):
    color, tags = COLORS[color_name]
    packed = source_frame(format)
    with published(key, format, packed, color) as frame:
        assert frame.color == color
        converted = {to: frame.to_ndarray(format=to) for to in OUTPUTS}
        assert np.array_equal(frame.to_ndarray(), frame.to_numpy())  # no format: the frame's own
    for to in ("rgb24", "bgr24", "rgba", "bgra"):
        assert max_error(converted[to], ffmpeg_converted(packed, format, tags, to)) <= TOLERANCE, to
    # gray is the luma made full range (ffmpeg 5.1's own 10-bit full-range gray is off by ~100 levels).
    assert max_error(converted["gray"], full_range_luma(packed, format, color)) <= 1


@pytest.mark.parametrize("format", ["rgb24", "bgr24", "rgba", "bgra", "gray8"])
def test_to_ndarray_of_rgb_and_gray_equals_ffmpeg(format, key):
    packed = source_frame(format)
    with published(key, format, packed, ColorInfo()) as frame:
        for to in OUTPUTS:
            assert max_error(frame.to_ndarray(format=to), ffmpeg_converted(packed, format, "", to)) <= TOLERANCE, to


def test_to_ndarray_names_the_formats_it_knows(key):
    with published(key, "nv12", source_frame("nv12"), ColorInfo()) as frame:
        with pytest.raises(cuframes.InvalidArgumentError, match="rgb24"):
            frame.to_ndarray(format="yuv444p")
        assert frame.to_ndarray(format="gray8").shape == (H, W)  # cuframes' own name for gray


# --- snapshot: the three clips ---
CLIP_TAGS = {
    "untagged": [],
    "bt709": ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv"],
    "bt601": [
        "-colorspace",
        "smpte170m",
        "-color_primaries",
        "smpte170m",
        "-color_trc",
        "smpte170m",
        "-color_range",
        "tv",
    ],
}


@pytest.mark.parametrize("tagged", list(CLIP_TAGS))
def test_snapshot_of_a_720p_clip_equals_ffmpeg(tagged, key, cf_dir, tmp_path):
    from cuframes.cli.inspect import snapshot
    from cuframes.sources.pyav_session import stream_facts_of

    clip = tmp_path / f"{tagged}.mkv"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=1280x720:rate=30",
        "-frames:v",
        "1",
        "-pix_fmt",
        "yuv420p",
        *CLIP_TAGS[tagged],
        "-c:v",
        "ffv1",
        str(clip),
    )
    expected = np.frombuffer(
        ffmpeg("-i", str(clip), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"), dtype=np.uint8
    ).reshape(720, 1280, 3)
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        facts = stream_facts_of(stream, stream.time_base)
        decoded = next(container.decode(stream))  # yuv420p: published as cuframes' i420, the same frame
    packed = np.concatenate(
        [
            np.frombuffer(memoryview(p), np.uint8).reshape(p.height, p.line_size)[:, : p.width].reshape(-1)
            for p in decoded.planes
        ]
    )
    assert (facts.color.matrix, facts.color.range) == {"untagged": (2, 0), "bt709": (1, 1), "bt601": (6, 1)}[tagged]

    out = tmp_path / "snap.png"
    with cuframes.Publisher(key, 1280, 720, "i420", backend="host", facts=facts) as pub:
        pub.send(packed)
        result = invoke_cli(snapshot, [key, str(out), "--dir", str(cf_dir)])
    assert result.exit_code == 0, result.output
    with av.open(str(out)) as image:
        snapped = next(image.decode(video=0)).to_ndarray(format="rgb24")
    assert max_error(snapped, expected) <= TOLERANCE


# --- the maths both paths share ---
def test_unspecified_colours_read_as_ffmpeg_reads_them():
    assert (resolve_color(None).matrix, resolve_color(None).full_range) == (6, False)
    assert resolve_color(ColorInfo(matrix="bt709", range="pc")) == resolve_color(ColorInfo(1, 2))
    assert resolve_color(ColorInfo(1, 2)).full_range and resolve_color(ColorInfo(1, 2)).matrix == 1
    assert resolve_color(ColorInfo(matrix="ycgco")).matrix == 6  # swscale knows no YCgCo: its default
    assert resolve_color(ColorInfo(matrix="bt470bg")).matrix == 5


@pytest.mark.parametrize("color_name", list(COLORS))
@pytest.mark.parametrize("bits", [8, 10])
def test_the_shared_matrix_equals_ffmpegs_accurate_conversion(bits, color_name):
    """yuv_to_rgb_affine (what the torch/GPU path applies) against FFmpeg's accurate 4:4:4 conversion."""
    color, tags = COLORS[color_name]
    pix_fmt = "yuv444p" if bits == 8 else "yuv444p10le"
    raw = ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size={W}x{H}", "-frames:v", "1", "-pix_fmt", pix_fmt, "-f", "rawvideo", "-"
    )
    codes = np.frombuffer(raw, dtype=np.uint8 if bits == 8 else "<u2").reshape(3, H, W).astype(np.float64)
    expected = np.frombuffer(
        ffmpeg(
            "-f",
            "rawvideo",
            "-pix_fmt",
            pix_fmt,
            "-s",
            f"{W}x{H}",
            "-i",
            "-",
            "-vf",
            f"{tags}format=rgb24",
            "-sws_flags",
            "bilinear+accurate_rnd",
            "-f",
            "rawvideo",
            "-",
            stdin=raw,
        ),
        dtype=np.uint8,
    ).reshape(H, W, 3)
    m, offset = yuv_to_rgb_affine(resolve_color(color), bits)
    rgb = np.einsum("ij,jhw->hwi", m, codes) + offset
    assert max_error(np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8), expected) <= 1
