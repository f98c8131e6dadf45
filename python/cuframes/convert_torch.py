"""The torch side of frame conversions (``frame.to_tensor(format=...)``): the stream's
YUV matrix and range (:func:`cuframes.convert.yuv_to_rgb_affine`, the reading the host
side uses) applied with torch operations on the frame's own device, so a cuda frame
never leaves its GPU. torch is the optional extra ``cuframes[convert]``.

Chroma (4:2:0) is upsampled bilinearly: the result equals FFmpeg's accurate bilinear
conversion (libswscale's bilinear+accurate_rnd+full_chroma_int, as PyAV runs it) within
2 levels, sharp colour edges included (tests/test_convert_torch.py).
The host side is plain ffmpeg's default (bicubic, with a faster chroma approximation that is
up to about 4 levels off exact maths), so host and torch results agree to a few levels on
smooth pictures and may differ more at sharp colour edges.
"""

from __future__ import annotations

from typing import Any

from .convert import (
    OUTPUT_FORMATS,
    YUV_BITS,
    luma_scale_offset,
    luma_weights,
    output_format,
    resolve_color,
    yuv_to_rgb_affine,
)
from .errors import FormatError, InvalidArgumentError
from .stream_facts import ColorInfo

__all__ = ["convert_planes"]

# An RGB-family format -> where R, G and B are among its channels (in the output, an opaque alpha
# follows for rgba/bgra; in a source, its alpha is left out).
_RGB_ORDER = {"rgb24": (0, 1, 2), "bgr24": (2, 1, 0), "rgba": (0, 1, 2), "bgra": (2, 1, 0)}
# p010 keeps its 10 bits in the high bits of each 16-bit sample.
_P010_SHIFT = 64.0


def _torch() -> Any:
    try:
        import torch
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "frame.to_tensor needs torch: pip install 'cuframes[convert]' (or torch itself)", name="torch"
        ) from None
    return torch


def _upsample_chroma(torch: Any, c: Any) -> Any:
    """(2, h/2, w/2) float chroma -> (2, h, w), bilinear (what FFmpeg's accurate bilinear scaler does)."""
    return torch.nn.functional.interpolate(c.unsqueeze(0), scale_factor=2, mode="bilinear", align_corners=False)[0]


def _yuv_planes(torch: Any, planes: list[Any], format: str) -> tuple[Any, Any]:
    """Luma (h, w) and chroma (2, h/2, w/2) as float32 codes of YUV_BITS[format] bits."""
    y = planes[0].to(torch.float32)
    if format == "i420":
        chroma = torch.stack([planes[1].to(torch.float32), planes[2].to(torch.float32)])
    else:  # nv12, p010: one interleaved (h/2, w/2, 2) plane
        chroma = planes[1].to(torch.float32).permute(2, 0, 1)
    if format == "p010":
        y, chroma = torch.floor(y / _P010_SHIFT), torch.floor(chroma / _P010_SHIFT)
    return y, chroma


def _to_bytes(torch: Any, unit: Any) -> Any:
    """Values in 0..1 -> uint8, rounded to nearest."""
    return torch.round(unit * 255.0).clamp_(0.0, 255.0).to(torch.uint8)


def _convert(torch: Any, planes: list[Any], format: str, color: ColorInfo | None, to: str) -> Any:
    resolved = resolve_color(color)
    if format in YUV_BITS:
        y, chroma = _yuv_planes(torch, planes, format)
        m, offset = (
            torch.as_tensor(a, dtype=torch.float32, device=y.device)
            for a in yuv_to_rgb_affine(resolved, YUV_BITS[format])
        )
        if to == "gray":  # full-range luma
            scale, luma_offset = luma_scale_offset(resolved, YUV_BITS[format])
            return _to_bytes(torch, y * scale + luma_offset)
        yuv = torch.cat([y.unsqueeze(0), _upsample_chroma(torch, chroma)])
        rgb = torch.einsum("ij,jhw->hwi", m, yuv) + offset
    elif format == "gray8":
        gray = planes[0].to(torch.float32) / 255.0
        if to == "gray":
            return _to_bytes(torch, gray)
        rgb = gray.unsqueeze(-1).expand(*gray.shape, 3)
    else:
        rgb = planes[0][..., list(_RGB_ORDER[format])].to(torch.float32) / 255.0
        if to == "gray":
            return _to_bytes(
                torch, rgb @ torch.as_tensor(luma_weights(resolved), dtype=torch.float32, device=rgb.device)
            )
    out = _to_bytes(torch, rgb[..., list(_RGB_ORDER[to])])
    if OUTPUT_FORMATS[to] == 4:
        out = torch.cat([out, torch.full_like(out[..., :1], 255)], dim=-1)
    return out


def convert_planes(
    views: list[Any], format: str, width: int, height: int, color: ColorInfo | None, to: str, *, out: Any = None
) -> Any:
    """A frame's planes (DLPack exporters: PlaneViews) converted to ``to`` as a uint8 tensor on
    their device, written into ``out`` when given. Complete on return."""
    torch = _torch()
    to = output_format(to)
    channels = OUTPUT_FORMATS[to]
    shape = (height, width) if channels == 1 else (height, width, channels)
    planes = [torch.from_dlpack(view) for view in views]
    device = planes[0].device
    if out is not None:
        if not isinstance(out, torch.Tensor):
            raise InvalidArgumentError(f"out must be a torch.Tensor, got {type(out).__name__}")
        if tuple(out.shape) != shape or out.dtype != torch.uint8 or out.device != device:
            raise FormatError(
                f"out must be a uint8 tensor of shape {shape} on {device} for {to}, got "
                f"{out.dtype} {tuple(out.shape)} on {out.device}"
            )
        if not out.is_contiguous():
            raise InvalidArgumentError("out is not contiguous; pass a contiguous tensor")
    result = _convert(torch, planes, format, color, to)
    if out is None:
        out = result.contiguous()
    else:
        out.copy_(result)
    if device.type == "cuda":
        # The frame's slot is read by kernels in flight: finish them before the caller may release it.
        torch.cuda.current_stream(device).synchronize()
    del planes
    return out
