"""`save_snapshot`: a packed frame of every cuframes pixel format becomes an RGB image
that reads back as the picture it holds; bad input and bad paths fail clearly, and a
failed write leaves nothing behind."""

from __future__ import annotations

import os

import numpy as np
import pytest

import cuframes

av = pytest.importorskip("av")

from cuframes._formats import FFMPEG_PIXEL_FORMATS  # noqa: E402
from cuframes.snapshot import PackedFrame, save_snapshot, to_video_frame  # noqa: E402

W, H = 64, 48
# Chroma is subsampled (4:2:0) and quantized twice (into YUV and back), so a smooth
# picture comes back within a few levels; RGB formats come back exact.
YUV_TOLERANCE = 12


def make_picture(width: int = W, height: int = H) -> np.ndarray:
    """A smooth RGB gradient over a solid colour, (h, w, 3) uint8."""
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    rgb[..., 0] = np.linspace(16, 235, width, dtype=np.uint8)[None, :]
    rgb[..., 1] = np.linspace(40, 200, height, dtype=np.uint8)[:, None]
    rgb[..., 2] = 128
    return rgb


def packed_from_rgb(rgb: np.ndarray, format: str, colorspace: str = "ITU601") -> np.ndarray:
    """The picture converted by FFmpeg into a packed cuframes frame (planes back to back, no row padding)."""
    height, width = rgb.shape[:2]
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
        format=FFMPEG_PIXEL_FORMATS[format], dst_colorspace=colorspace, dst_color_range="MPEG"
    )
    parts = []
    for info, plane in zip(cuframes.layout(format, width, height), frame.planes):
        rows = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(plane.height, plane.line_size)
        parts.append(rows[:, : info.row_bytes].reshape(-1))
    packed = np.concatenate(parts)
    assert packed.nbytes == cuframes.packed_size(format, width, height)
    return packed


def read_rgb(path) -> np.ndarray:
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


def max_error(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(int) - b.astype(int)).max())


@pytest.mark.parametrize("format", ["nv12", "p010", "i420"])
def test_yuv_frames_come_back_as_their_picture(format, tmp_path):
    rgb = make_picture()
    out = save_snapshot(
        PackedFrame(packed_from_rgb(rgb, format), format, W, H), tmp_path / "out.png", colorspace="bt601"
    )
    assert out == tmp_path / "out.png"
    back = read_rgb(out)
    assert back.shape == (H, W, 3)
    assert max_error(back, rgb) <= YUV_TOLERANCE


@pytest.mark.parametrize("format", ["rgb24", "bgr24", "rgba", "bgra"])
def test_rgb_frames_come_back_exactly(format, tmp_path):
    rgb = make_picture()
    out = save_snapshot(PackedFrame(packed_from_rgb(rgb, format), format, W, H), tmp_path / "out.png")
    assert np.array_equal(read_rgb(out), rgb)


def test_gray_frames_come_back_as_equal_channels(tmp_path):
    gray = (np.arange(W * H) % 256).astype(np.uint8)
    back = read_rgb(save_snapshot(PackedFrame(gray, "gray8", W, H), tmp_path / "out.png"))
    expected = gray.reshape(H, W)
    for channel in range(3):
        assert np.array_equal(back[..., channel], expected)


def test_a_shaped_frame_works_like_a_packed_one(tmp_path):
    # Frame.to_numpy() gives p010 as (h*3/2, w) uint16: the bytes are what count.
    packed = packed_from_rgb(make_picture(), "p010")
    shaped = packed.view("<u2").reshape(H * 3 // 2, W)
    a = read_rgb(save_snapshot(PackedFrame(packed, "p010", W, H), tmp_path / "a.png", colorspace="bt601"))
    b = read_rgb(save_snapshot(PackedFrame(shaped, "p010", W, H), tmp_path / "b.png", colorspace="bt601"))
    assert np.array_equal(a, b)


def test_colorspace_picks_the_yuv_matrix(tmp_path):
    # A saturated colour tells BT.601 from BT.709 by tens of levels.
    rgb = np.zeros((H, W, 3), dtype=np.uint8)
    rgb[...] = (200, 30, 60)
    packed = packed_from_rgb(rgb, "nv12", colorspace="ITU709")
    right = read_rgb(save_snapshot(PackedFrame(packed, "nv12", W, H), tmp_path / "709.png", colorspace="bt709"))
    wrong = read_rgb(save_snapshot(PackedFrame(packed, "nv12", W, H), tmp_path / "601.png", colorspace="bt601"))
    assert max_error(right, rgb) <= 4
    assert max_error(wrong, rgb) > 10


@pytest.mark.parametrize(
    "color, encoded_as",
    [
        (cuframes.ColorInfo(), "ITU601"),  # untagged: BT.601 whatever the size, as ffmpeg reads it (was BT.709 at 720p)
        (cuframes.ColorInfo.BT709, "ITU709"),
        (cuframes.ColorInfo.BT601, "ITU601"),
    ],
)
def test_auto_colorspace_follows_the_stream_facts(color, encoded_as, tmp_path):
    rgb = np.zeros((720, 1280, 3), dtype=np.uint8)
    rgb[...] = (200, 30, 60)
    packed = packed_from_rgb(rgb, "nv12", colorspace=encoded_as)
    back = read_rgb(save_snapshot(PackedFrame(packed, "nv12", 1280, 720, color), tmp_path / "hd.png"))
    assert max_error(back, rgb) <= 4


@pytest.mark.parametrize(
    "name, magic, tolerance",
    [
        ("out.png", b"\x89PNG", 0),
        ("out.jpg", b"\xff\xd8", 12),
        ("OUT.JPEG", b"\xff\xd8", 12),
        ("out.bmp", b"BM", 0),
        ("out.tif", b"II*\x00", 0),
        ("out.ppm", b"P6", 0),
        ("out.webp", b"RIFF", 16),
    ],
)
def test_the_extension_picks_the_image_format(name, magic, tolerance, tmp_path):
    rgb = make_picture()
    out = save_snapshot(PackedFrame(rgb.reshape(-1), "rgb24", W, H), tmp_path / name)
    assert out.read_bytes().startswith(magic)
    assert max_error(read_rgb(out), rgb) <= tolerance


def test_a_snapshot_replaces_an_existing_file_and_leaves_no_temporary(tmp_path):
    out = tmp_path / "out.png"
    out.write_bytes(b"old")
    save_snapshot(PackedFrame(make_picture().reshape(-1), "rgb24", W, H), out)
    assert out.read_bytes().startswith(b"\x89PNG")
    assert os.listdir(tmp_path) == ["out.png"]


def test_a_missing_folder_is_a_clear_error(tmp_path):
    target = tmp_path / "no" / "such" / "out.png"
    with pytest.raises(cuframes.SystemCallError, match="does not exist") as caught:
        save_snapshot(PackedFrame(make_picture().reshape(-1), "rgb24", W, H), target)
    assert isinstance(caught.value, OSError) and caught.value.errno == 2
    assert str(target) in str(caught.value)


def test_a_folder_as_the_target_fails_and_leaves_nothing(tmp_path):
    (tmp_path / "taken.png").mkdir()
    with pytest.raises(cuframes.SystemCallError, match="cannot write"):
        save_snapshot(PackedFrame(make_picture().reshape(-1), "rgb24", W, H), tmp_path / "taken.png")
    assert os.listdir(tmp_path) == ["taken.png"]


def test_an_unknown_extension_is_an_invalid_argument(tmp_path):
    with pytest.raises(cuframes.InvalidArgumentError, match=r"\.png"):
        save_snapshot(PackedFrame(make_picture().reshape(-1), "rgb24", W, H), tmp_path / "out.xyz")
    assert os.listdir(tmp_path) == []


def test_an_unknown_pixel_format_is_an_invalid_argument(tmp_path):
    with pytest.raises(cuframes.InvalidArgumentError, match="yuyv"):
        save_snapshot(PackedFrame(np.zeros(W * H * 2, np.uint8), "yuyv", W, H), tmp_path / "out.png")


@pytest.mark.parametrize("format", ["nv12", "rgb24"])
def test_an_unknown_colorspace_is_an_invalid_argument(format, tmp_path):
    packed = packed_from_rgb(make_picture(), format)
    with pytest.raises(cuframes.InvalidArgumentError, match="colorspace"):
        save_snapshot(PackedFrame(packed, format, W, H), tmp_path / "out.png", colorspace="bt2020")  # type: ignore


def test_data_of_the_wrong_size_is_a_format_error(tmp_path):
    with pytest.raises(cuframes.FormatError, match="9216 bytes"):
        to_video_frame(np.zeros(W * H * 3 - 1, np.uint8), "rgb24", W, H)


def test_a_real_frame_from_a_subscriber(key, backend, tmp_path):
    """The path `cuframes snapshot` takes: a held Frame (either backend) straight into save_snapshot."""
    rgb = make_picture()
    with cuframes.Publisher(key, W, H, "rgb24", backend=backend) as pub, cuframes.Subscriber(key) as sub:
        pub.send(rgb.reshape(-1))
        with sub.next(timeout=5) as frame:
            out = save_snapshot(frame, tmp_path / "frame.png")
    assert np.array_equal(read_rgb(out), rgb)
