"""The demo's synthetic test pattern: a moving image whose pixels carry the
frame's sequence number, so a subscriber can prove every frame it gets is
whole, current and untorn.

The image is a window sliding over a wider precomputed base image (cheap to
render: one strided copy per plane). The 64-bit sequence number is stamped as
a barcode of 8x8-pixel blocks into the first rows AND the last rows of the
first plane: a frame torn between two publishes has stamps that disagree, or
rows that do not belong to the stamped frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import _core

__all__ = ["TestPattern"]

_BLOCK = 8  # pixels per barcode block side
_BITS = 64
_ONE, _ZERO, _PAD = 235, 16, 128


@dataclass(frozen=True)
class _Plane:
    offset: int  # in the packed frame
    height: int
    row_bytes: int
    width: int  # samples per row
    sample_bytes: int  # channels * itemsize
    base: np.ndarray  # (height, 2 * row_bytes) uint8


class TestPattern:
    """Renders and checks frames of one format and size."""

    __test__ = False  # not a pytest test class

    def __init__(self, format: str, width: int, height: int, *, seed: int = 0x5EED, step: int = 4) -> None:
        self.format, self.width, self.height, self.step = format, width, height, step
        rng = np.random.default_rng(seed)
        planes, offset = [], 0
        for info in _core.layout(format, width, height):
            sample_bytes = info.channels * info.itemsize
            cols = np.arange(2 * info.row_bytes, dtype=np.int64)[None, :] // sample_bytes
            rows = np.arange(info.height, dtype=np.int64)[:, None]
            # Diagonal bars to look at, plus noise so that every shift differs.
            bars = ((cols * width // max(info.width, 1) + rows) // 32 % 2) * 96
            noise = rng.integers(0, 64, size=(info.height, 2 * info.row_bytes), dtype=np.int64)
            base = (48 + bars + noise).astype(np.uint8)
            planes.append(_Plane(offset, info.height, info.row_bytes, info.width, sample_bytes, base))
            offset += info.height * info.row_bytes
        self.planes = planes
        self.packed_size = offset
        first = planes[0]
        self._block_bytes = _BLOCK * first.sample_bytes
        self._blocks_per_row = first.row_bytes // self._block_bytes
        if self._blocks_per_row == 0:
            raise ValueError(f"a {width}-pixel-wide frame is too narrow for the sequence barcode")
        self._block_rows = math.ceil(_BITS / self._blocks_per_row)
        self.stamp_rows = self._block_rows * _BLOCK
        if 2 * self.stamp_rows > first.height:
            raise ValueError(
                f"a {width}x{height} frame is too small for two sequence barcodes "
                f"({self.stamp_rows} rows each); use a larger frame"
            )

    # --- geometry ---
    def _shift_bytes(self, plane: _Plane, seq: int) -> int:
        pixels = (seq * self.step) % self.width
        return (pixels * plane.width // self.width) * plane.sample_bytes

    def _view(self, packed: np.ndarray, plane: _Plane) -> np.ndarray:
        return packed[plane.offset : plane.offset + plane.height * plane.row_bytes].reshape(
            plane.height, plane.row_bytes
        )

    def _stamp(self, seq: int) -> np.ndarray:
        bits = (seq >> np.arange(_BITS, dtype=np.uint64)) & np.uint64(1)
        cells = np.full(self._block_rows * self._blocks_per_row, _ZERO, dtype=np.uint8)
        cells[:_BITS] = np.where(bits.astype(bool), _ONE, _ZERO)
        grid = cells.reshape(self._block_rows, self._blocks_per_row)
        blocks = np.repeat(np.repeat(grid, _BLOCK, axis=0), self._block_bytes, axis=1)
        out = np.full((self.stamp_rows, self.planes[0].row_bytes), _PAD, dtype=np.uint8)
        out[:, : blocks.shape[1]] = blocks
        return out

    def _decode(self, region: np.ndarray) -> int:
        used = region[:, : self._blocks_per_row * self._block_bytes].astype(np.float32)
        means = used.reshape(self._block_rows, _BLOCK, self._blocks_per_row, self._block_bytes).mean(axis=(1, 3))
        bits = (means.reshape(-1)[:_BITS] > (_ONE + _ZERO) / 2).astype(np.uint64)
        return int((bits << np.arange(_BITS, dtype=np.uint64)).sum())

    # --- producer side ---
    def render(self, seq: int, out: np.ndarray) -> np.ndarray:
        """Draws frame ``seq`` into ``out`` (uint8, ``packed_size`` bytes) and returns it."""
        for plane in self.planes:
            shift = self._shift_bytes(plane, seq)
            np.copyto(self._view(out, plane), plane.base[:, shift : shift + plane.row_bytes])
        stamp = self._stamp(seq)
        first = self._view(out, self.planes[0])
        first[: self.stamp_rows] = stamp
        first[-self.stamp_rows :] = stamp
        return out

    def metadata(self, seq: int) -> bytes:
        return b"cuframes-demo:" + int(seq).to_bytes(8, "little")

    def pts(self, seq: int) -> int:
        return seq * 1000

    # --- subscriber side ---
    def decode_stamps(self, packed: np.ndarray) -> tuple[int, int]:
        first = self._view(packed, self.planes[0])
        return self._decode(first[: self.stamp_rows]), self._decode(first[-self.stamp_rows :])

    def check(self, seq: int, packed: np.ndarray, *, sample_rows: int = 8) -> list[str]:
        """Problems with ``packed`` as frame ``seq``; empty when it is whole and right."""
        problems = []
        stamp = self._stamp(seq)
        first = self._view(packed, self.planes[0])
        for where, region in (("top", first[: self.stamp_rows]), ("bottom", first[-self.stamp_rows :])):
            if not np.array_equal(region, stamp):
                problems.append(f"{where} barcode reads seq {self._decode(region)}, expected {seq}")
        for index, plane in enumerate(self.planes):
            view = self._view(packed, plane)
            lo, hi = (self.stamp_rows, plane.height - self.stamp_rows) if index == 0 else (0, plane.height)
            shift = self._shift_bytes(plane, seq)
            for row in np.unique(np.linspace(lo, hi - 1, num=sample_rows).astype(int)):
                if not np.array_equal(view[row], plane.base[row, shift : shift + plane.row_bytes]):
                    problems.append(f"plane {index} row {row} does not match frame {seq}")
                    break
        return problems
