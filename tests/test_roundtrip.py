"""Single-process publish -> next round trips: pixels, pts and metadata arrive
bit-exact in every format; plane views describe the layout; host views are
read-only numpy arrays sharing the slot's memory."""

from __future__ import annotations

import numpy as np
import pytest

import cuframes

# Even sizes that are not multiples of the 256-byte pitch, so padding is exercised.
W, H = 70, 38


def planes_of(packed: np.ndarray, fmt: str) -> list[np.ndarray]:
    """Splits a packed frame into per-plane arrays shaped like Frame.planes."""
    out, offset = [], 0
    for info in cuframes.layout(fmt, W, H):
        n = info.row_bytes * info.height
        raw = packed[offset : offset + n]
        dtype = np.uint8 if info.itemsize == 1 else np.dtype("<u2")
        shape = (info.height, info.width) + ((info.channels,) if info.channels > 1 else ())
        out.append(raw.view(dtype).reshape(shape))
        offset += n
    return out


@pytest.mark.parametrize("fmt", cuframes.FORMATS)
def test_round_trip_every_format_is_bit_exact(fmt: str, key: str, backend: str, frame_bytes) -> None:
    with cuframes.Publisher(key, W, H, fmt, backend=backend) as pub, cuframes.Subscriber(key, connect_timeout=5) as sub:
        assert pub.backend == backend and sub.backend == backend
        assert (sub.format, sub.width, sub.height) == (fmt, W, H)
        assert sub.packed_size == pub.packed_size == cuframes.packed_size(fmt, W, H)
        data = frame_bytes(pub.packed_size, salt=7)
        metadata = bytes(range(256)) * 16  # the 4 KiB maximum
        seq = pub.send(data, pts=-1234567890123, metadata=metadata)
        assert seq == 1 and pub.last_seq == 1

        with sub.next(timeout=5) as frame:
            assert (frame.seq, frame.pts, frame.metadata, frame.missed) == (1, -1234567890123, metadata, 0)
            assert (frame.format, frame.width, frame.height, frame.backend) == (fmt, W, H, backend)
            copy = frame.to_numpy()
            assert copy.reshape(-1).view(np.uint8).tobytes() == data.tobytes()
            assert [p.name for p in pub.planes] == frame.plane_names
            if backend == "host":
                for got, want in zip(frame.planes, planes_of(data, fmt)):
                    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "fmt,shape,dtype",
    [
        ("nv12", (H * 3 // 2, W), np.uint8),
        ("p010", (H * 3 // 2, W), np.uint16),
        ("i420", (H * 3 // 2, W), np.uint8),
        ("rgb24", (H, W, 3), np.uint8),
        ("bgra", (H, W, 4), np.uint8),
        ("gray8", (H, W), np.uint8),
    ],
)
def test_to_numpy_has_the_natural_shape(fmt, shape, dtype, key, backend) -> None:
    with cuframes.Publisher(key, W, H, fmt, backend=backend) as pub, cuframes.Subscriber(key) as sub:
        pub.send(np.zeros(pub.packed_size, np.uint8))
        with sub.next(timeout=5) as frame:
            array = frame.to_numpy()
            assert array.shape == shape and array.dtype == dtype


def test_plane_layout_follows_the_spec(key, backend) -> None:
    with cuframes.Publisher(key, W, H, "nv12", backend=backend) as pub:
        y, uv = pub.planes
        assert (y.name, y.width, y.height, y.channels, y.itemsize) == ("y", W, H, 1, 1)
        assert (uv.name, uv.width, uv.height, uv.channels, uv.itemsize) == ("uv", W // 2, H // 2, 2, 1)
        assert y.pitch % 256 == 0 and y.pitch >= W
        assert uv.pitch == y.pitch and uv.offset == y.offset + y.pitch * H
        assert pub.packed_size == W * H * 3 // 2


def test_metadata_over_4k_is_refused(key, backend) -> None:
    with cuframes.Publisher(key, W, H, "gray8", backend=backend) as pub:
        with pytest.raises(cuframes.InvalidArgumentError):
            pub.send(np.zeros(pub.packed_size, np.uint8), metadata=b"x" * 4097)


def test_read_into_numpy(key, backend, frame_bytes) -> None:
    with cuframes.Publisher(key, W, H, "nv12", backend=backend) as pub, cuframes.Subscriber(key) as sub:
        data = frame_bytes(pub.packed_size, salt=3)
        pub.send(data, pts=99, metadata=b"meta")
        dst = np.zeros(sub.packed_size, np.uint8)
        info = sub.read_into(dst, timeout=5)
        assert (info.seq, info.pts, info.missed) == (1, 99, 0)
        np.testing.assert_array_equal(dst, data)
        assert sub.held_count == 0  # read_into does not keep the frame
        # Shaped destinations work too, as long as the byte size matches.
        pub.send(data[::-1].copy(), pts=100)
        shaped = np.zeros((H * 3 // 2, W), np.uint8)
        assert sub.read_into(shaped, timeout=5).seq == 2
        np.testing.assert_array_equal(shaped.reshape(-1), data[::-1])


def test_read_into_rejects_wrong_size_and_layout(key, backend) -> None:
    with cuframes.Publisher(key, W, H, "nv12", backend=backend) as pub, cuframes.Subscriber(key) as sub:
        with pytest.raises(cuframes.FormatError, match="bytes"):
            sub.read_into(np.zeros(pub.packed_size - 1, np.uint8), timeout=0)
        strided = np.zeros((H * 3 // 2, W * 2), np.uint8)[:, ::2]
        with pytest.raises(cuframes.InvalidArgumentError, match="contiguous"):
            sub.read_into(strided, timeout=0)
        readonly = np.zeros(pub.packed_size, np.uint8)
        readonly.flags.writeable = False
        with pytest.raises(cuframes.InvalidArgumentError, match="read-only"):
            sub.read_into(readonly, timeout=0)
        with pytest.raises(TypeError):
            sub.read_into(object(), timeout=0)


def test_copy_from_rejects_wrong_size(key, backend) -> None:
    with cuframes.Publisher(key, W, H, "nv12", backend=backend) as pub:
        with pytest.raises(cuframes.FormatError, match="packed frame"):
            with pub.frame() as f:
                f.copy_from(np.zeros(pub.packed_size + 1, np.uint8))
        assert pub.last_seq == 0  # the failed frame was aborted, not published


def test_copy_from_accepts_bytes_and_shaped_arrays(key, backend, frame_bytes) -> None:
    with cuframes.Publisher(key, W, H, "rgba", backend=backend) as pub, cuframes.Subscriber(key) as sub:
        data = frame_bytes(pub.packed_size, salt=11)
        pub.send(data.tobytes())
        with sub.next(timeout=5) as frame:
            np.testing.assert_array_equal(frame.to_numpy().reshape(-1), data)
        pub.send(data.reshape(H, W, 4))
        with sub.next(timeout=5) as frame:
            np.testing.assert_array_equal(frame.to_numpy().reshape(-1), data)


def test_host_views_are_readonly_numpy_arrays(key, host_only, frame_bytes) -> None:
    with cuframes.Publisher(key, W, H, "nv12", backend="host") as pub, cuframes.Subscriber(key) as sub:
        data = frame_bytes(pub.packed_size, salt=5)
        pub.send(data)
        with sub.next(timeout=5) as frame:
            y, uv = frame.y, frame.uv
            assert isinstance(y, np.ndarray) and isinstance(uv, np.ndarray)
            assert y.shape == (H, W) and uv.shape == (H // 2, W // 2, 2)
            assert not y.flags.writeable and not uv.flags.writeable
            with pytest.raises(ValueError):
                y[0, 0] = 1
            np.testing.assert_array_equal(y, data[: W * H].reshape(H, W))
            # The view is the slot itself, not a copy.
            assert y.__array_interface__["data"][0] == frame.planes[0].__array_interface__["data"][0]
            with pytest.raises(AttributeError):
                frame.rgb


def test_publisher_views_are_writable_numpy_arrays(key, host_only) -> None:
    with cuframes.Publisher(key, W, H, "nv12", backend="host") as pub, cuframes.Subscriber(key) as sub:
        with pub.frame(pts=5) as f:
            assert f.y.flags.writeable
            f.y[:] = 200
            f.uv[...] = 100
        assert f.state == "published" and f.seq == 1
        with pytest.raises(cuframes.StateError):
            f.y  # the slot belongs to the subscribers now
        with sub.next(timeout=5) as frame:
            assert (frame.y == 200).all() and (frame.uv == 100).all()


def test_dlpack_on_host_shares_memory(key, host_only, frame_bytes) -> None:
    with cuframes.Publisher(key, W, H, "nv12", backend="host") as pub, cuframes.Subscriber(key) as sub:
        data = frame_bytes(pub.packed_size, salt=9)
        pub.send(data)
        with sub.next(timeout=5) as frame:
            raw = frame._raw_planes()
            assert frame.__dlpack_device__() == (1, 0)
            y = np.from_dlpack(raw[0])
            assert y.__array_interface__["data"][0] == raw[0].ptr
            assert y.shape == (H, W) and y.strides == raw[0].strides
            uv = np.from_dlpack(raw[1])
            assert uv.__array_interface__["data"][0] == raw[1].ptr and uv.shape == (H // 2, W // 2, 2)
            whole = np.from_dlpack(frame)  # nv12 as one (h*3/2, w) array
            assert whole.shape == (H * 3 // 2, W)
            assert whole.__array_interface__["data"][0] == raw[0].ptr
            np.testing.assert_array_equal(whole, frame.to_numpy())
            with pytest.raises(BufferError):
                raw[0].__dlpack__(copy=True)
        # The DLPack export keeps the slot alive after the frame was released.
        np.testing.assert_array_equal(y, data[: W * H].reshape(H, W))
        del y, uv, whole


def test_i420_has_no_single_array_view(key, host_only) -> None:
    with cuframes.Publisher(key, W, H, "i420", backend="host") as pub, cuframes.Subscriber(key) as sub:
        pub.send(np.zeros(pub.packed_size, np.uint8))
        with sub.next(timeout=5) as frame:
            assert [p.shape for p in frame.planes] == [(H, W), (H // 2, W // 2), (H // 2, W // 2)]
            with pytest.raises(cuframes.FormatError):
                frame.__dlpack__()
