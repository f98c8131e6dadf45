"""`frame.to_tensor(format=...)`: the torch conversion (the same code runs on a cuda frame's GPU)
tested here on host frames with CPU torch. It applies the stream's matrix and range as FFmpeg's
accurate bilinear scaler does (bilinear+accurate_rnd+full_chroma_int), within 2 levels,
sharp colour edges included; `out=` fills a caller's tensor."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from test_convert import COLORS, OUTPUTS, H, W, max_error, published, source_frame

import cuframes
from cuframes.convert import to_video_frame

torch = pytest.importorskip("torch")
# The reference frames are made by the ffmpeg command line (test_convert.source_frame).
pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command line")

# FFmpeg's accurate bilinear scaler (PyAV's libswscale; ffmpeg 5.1's command line places chroma differently).
ACCURATE = "BILINEAR|ACCURATE_RND|FULL_CHR_H_INT"


def ffmpeg_accurate(packed: np.ndarray, format: str, color: cuframes.ColorInfo, to: str) -> np.ndarray:
    from av.video.reformatter import Interpolation

    flags = 0
    for flag in ACCURATE.split("|"):
        flags |= Interpolation[flag].value
    colorspace = "ITU709" if color.matrix == 1 else "ITU601"
    converted = to_video_frame(packed, format, W, H).reformat(
        format=to,
        src_colorspace=colorspace,
        dst_colorspace=colorspace,
        src_color_range="JPEG" if color.range == 2 else "MPEG",
        dst_color_range="JPEG",
        interpolation=flags,
    )
    return converted.to_ndarray()


@pytest.mark.parametrize("color_name", list(COLORS))
@pytest.mark.parametrize("format", ["nv12", "i420", "p010"])
def test_to_tensor_of_yuv_equals_ffmpegs_accurate_conversion(format, color_name, key):
    color, _ = COLORS[color_name]
    packed = source_frame(format)
    with published(key, format, packed, color) as frame:
        tensors = {to: frame.to_tensor(format=to) for to in OUTPUTS}
        host_gray = frame.to_ndarray(format="gray")
    for to in ("rgb24", "bgr24", "rgba", "bgra"):
        tensor = tensors[to]
        assert tensor.dtype == torch.uint8 and tensor.device.type == "cpu" and tensor.is_contiguous()
        assert max_error(tensor.numpy(), ffmpeg_accurate(packed, format, color, to)) <= 2, to
    assert max_error(tensors["gray"].numpy(), host_gray) <= 1


@pytest.mark.parametrize("format", ["rgb24", "bgr24", "rgba", "bgra", "gray8"])
def test_to_tensor_of_rgb_and_gray_equals_the_host_conversion(format, key):
    with published(key, format, source_frame(format), cuframes.ColorInfo()) as frame:
        for to in OUTPUTS:
            assert max_error(frame.to_tensor(format=to).numpy(), frame.to_ndarray(format=to)) <= 1, to


def test_to_tensor_fills_the_callers_tensor(key):
    with published(key, "nv12", source_frame("nv12"), cuframes.ColorInfo.BT709) as frame:
        out = torch.zeros((H, W, 3), dtype=torch.uint8)
        assert frame.to_tensor("rgb24", out=out) is out
        assert torch.equal(out, frame.to_tensor("rgb24"))
        with pytest.raises(cuframes.FormatError, match=r"\(48, 64, 4\)"):
            frame.to_tensor("rgba", out=out)
        with pytest.raises(cuframes.FormatError, match="uint8"):
            frame.to_tensor("rgb24", out=torch.zeros((H, W, 3), dtype=torch.float32))
        with pytest.raises(cuframes.InvalidArgumentError, match="contiguous"):
            frame.to_tensor("rgb24", out=torch.zeros((W, H, 3), dtype=torch.uint8).transpose(0, 1))
        with pytest.raises(cuframes.InvalidArgumentError, match="rgb24"):
            frame.to_tensor("hsv")
