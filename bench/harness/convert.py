"""GPU colour conversion: ``frame.to_tensor("rgb24", out=...)`` against a plain torch conversion.

Rows (section "convert"), per frame size, each the time of one NV12 frame held from a cuda
Subscriber -> RGB24 uint8 on the same GPU, CPU-timed from the call to the conversion done
(a stream sync included, as both return a finished tensor):

- ``to_tensor``: cuframes' conversion (the stream's matrix and range, bilinear chroma) into a
  tensor allocated once (``out=``);
- ``to_tensor-alloc``: the same, a new tensor each call;
- ``plain-torch``: what a user writes without it: torch.from_dlpack of the planes, nearest
  chroma (repeat_interleave), fixed BT.601 limited-range coefficients, a new tensor each call.

Needs a CUDA GPU and torch. In-process publisher and subscriber: the IPC is not what is measured.

    python -m bench.harness.convert [--quick]
"""

from __future__ import annotations

import time
from typing import Any

from .common import FRAME_SIZES, Settings, latency_row, row
from .standalone import main


def _plain_torch(torch: Any, frame: Any) -> Any:
    y_view, uv_view = frame.plane_views
    y = torch.from_dlpack(y_view).float() - 16.0
    uv = torch.from_dlpack(uv_view).float().repeat_interleave(2, 0).repeat_interleave(2, 1) - 128.0
    u, v = uv[..., 0], uv[..., 1]
    r = 1.164 * y + 1.596 * v
    g = 1.164 * y - 0.392 * u - 0.813 * v
    b = 1.164 * y + 2.017 * u
    out = torch.stack([r, g, b], dim=-1).round_().clamp_(0, 255).to(torch.uint8)
    torch.cuda.current_stream().synchronize()
    return out


def run(settings: Settings) -> list[dict[str, Any]]:
    import numpy as np
    import torch

    import cuframes

    rows: list[dict[str, Any]] = []
    samples = max(200, settings.frames // 10)
    for size in settings.sizes:
        width, height = FRAME_SIZES[size]
        key = f"bench-convert-{size}"
        try:
            with (
                cuframes.Publisher(
                    key, width, height, "nv12", backend="cuda", color=cuframes.ColorInfo.BT709, dir=settings.work_dir
                ) as pub,
                cuframes.Subscriber(key, dir=settings.work_dir) as sub,
            ):
                rng = np.random.default_rng(1)
                pub.send(rng.integers(16, 236, pub.packed_size, dtype=np.uint8))
                with sub.next(timeout=10) as frame:
                    out = torch.empty((height, width, 3), dtype=torch.uint8, device=f"cuda:{frame.device}")
                    cases = {
                        "to_tensor": lambda: frame.to_tensor("rgb24", out=out),
                        "to_tensor-alloc": lambda: frame.to_tensor("rgb24"),
                        "plain-torch": lambda: _plain_torch(torch, frame),
                    }
                    for case, convert in cases.items():
                        for _ in range(settings.warmup):
                            convert()
                        times: list[float] = []
                        for _ in range(samples):
                            start = time.perf_counter_ns()
                            convert()
                            times.append((time.perf_counter_ns() - start) / 1e3)
                        rows.append(latency_row("convert", case, "nv12->rgb24", size, times))
        except Exception as error:  # one size failing does not hide the others
            rows.append(row("convert", "convert", "nv12->rgb24", size, error=f"{type(error).__name__}: {error}"))
    return rows


if __name__ == "__main__":
    raise SystemExit(main(run))
