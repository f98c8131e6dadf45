"""GPU-only behaviour (marker `gpu`): cuda round trips, zero-copy DLPack into
torch and cupy, read_into a CUDA tensor, and a subscriber in new PID/IPC/mount
namespaces (that one also runs on the host backend)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from isolation import isolated_round_trip

import cuframes

W, H = 640, 360


@pytest.fixture
def gpu_required() -> None:
    if not cuframes.cuda_available():
        pytest.skip(f"no usable GPU: {cuframes.cuda_unavailable_reason()}")


@pytest.fixture
def cuda_pub(key, gpu_required):
    with cuframes.Publisher(key, W, H, "nv12", backend="cuda") as pub:
        yield pub


@pytest.mark.gpu
def test_cuda_round_trip_is_bit_exact(cuda_pub, key, frame_bytes) -> None:
    with cuframes.Subscriber(key) as sub:
        assert cuda_pub.backend == "cuda" and sub.backend == "cuda" and sub.device >= 0
        data = frame_bytes(cuda_pub.packed_size, salt=1)
        cuda_pub.send(data, pts=5, metadata=b"gpu")
        with sub.next(timeout=5) as frame:
            assert (frame.seq, frame.pts, frame.metadata, frame.backend) == (1, 5, b"gpu", "cuda")
            np.testing.assert_array_equal(frame.to_numpy().reshape(-1), data)
            y = frame.y
            assert isinstance(y, cuframes.PlaneView) and y.device == "cuda"
            cai = y.__cuda_array_interface__
            assert cai["data"] == (y.ptr, True) and cai["shape"] == (H, W)
            assert frame.__dlpack_device__() == (2, frame.device)
            with pytest.raises(AttributeError):
                y.__array_interface__


@pytest.mark.gpu
def test_torch_from_dlpack_shares_the_pointer(cuda_pub, key, frame_bytes) -> None:
    torch = pytest.importorskip("torch")
    with cuframes.Subscriber(key) as sub:
        data = frame_bytes(cuda_pub.packed_size, salt=2)
        cuda_pub.send(data)
        with sub.next(timeout=5) as frame:
            y_view, uv_view = frame.plane_views
            y = torch.from_dlpack(y_view)
            uv = torch.from_dlpack(uv_view)
            whole = torch.from_dlpack(frame)
            assert y.is_cuda and y.data_ptr() == y_view.ptr and tuple(y.shape) == (H, W)
            assert uv.data_ptr() == uv_view.ptr and tuple(uv.shape) == (H // 2, W // 2, 2)
            assert whole.data_ptr() == y_view.ptr and tuple(whole.shape) == (H * 3 // 2, W)
            np.testing.assert_array_equal(whole.cpu().numpy().reshape(-1), data)
            del y, uv, whole


@pytest.mark.gpu
def test_cupy_from_dlpack_shares_the_pointer(cuda_pub, key, frame_bytes) -> None:
    cupy = pytest.importorskip("cupy")
    with cuframes.Subscriber(key) as sub:
        data = frame_bytes(cuda_pub.packed_size, salt=3)
        cuda_pub.send(data)
        with sub.next(timeout=5) as frame:
            y_view = frame.plane_views[0]
            y = cupy.from_dlpack(y_view)
            assert y.data.ptr == y_view.ptr and y.shape == (H, W)
            via_cai = cupy.asarray(y_view)  # __cuda_array_interface__, also zero-copy
            assert via_cai.data.ptr == y_view.ptr
            np.testing.assert_array_equal(cupy.asnumpy(y), data[: W * H].reshape(H, W))
            del y, via_cai


@pytest.mark.gpu
def test_read_into_a_torch_cuda_tensor_and_copy_from_one(cuda_pub, key, frame_bytes) -> None:
    torch = pytest.importorskip("torch")
    with cuframes.Subscriber(key) as sub:
        data = frame_bytes(cuda_pub.packed_size, salt=4)
        source = torch.from_numpy(data).cuda()
        stream = torch.cuda.Stream()
        with cuda_pub.frame(pts=9, stream=stream) as f:
            f.copy_from(source)
        dst = torch.zeros(cuda_pub.packed_size, dtype=torch.uint8, device="cuda")
        info = sub.read_into(dst, stream=stream, timeout=5)
        assert (info.seq, info.pts) == (1, 9)
        assert torch.equal(dst, source)
        cuda_pub.send(source.flip(0))
        dst_host = torch.zeros((H * 3 // 2, W), dtype=torch.uint8)
        sub.read_into(dst_host, timeout=5)
        assert torch.equal(dst_host.reshape(-1), source.flip(0).cpu())


@pytest.mark.gpu
def test_cuda_subscriber_in_new_pid_ipc_mount_namespaces(cuda_pub, key, children, frame_bytes) -> None:
    isolated_round_trip(cuda_pub, key, children, frame_bytes)


def test_subscriber_in_new_pid_ipc_mount_namespaces(key, backend, children, frame_bytes) -> None:
    with cuframes.Publisher(key, W, H, "nv12", backend=backend) as pub:
        isolated_round_trip(pub, key, children, frame_bytes)


@pytest.mark.gpu
def test_stream_ordered_publish_returns_before_the_gpu_and_subscribers_wait(key, gpu_required, frame_bytes) -> None:
    """publish() only queues the frame's completion; next() hands the frame out
    once the GPU has finished it, so its bytes are whole."""
    torch = pytest.importorskip("torch")
    import time

    with (
        cuframes.Publisher(key, W, H, "nv12", backend="cuda", stream_ordered=True) as pub,
        cuframes.Subscriber(key) as sub,
    ):
        stream = torch.cuda.Stream(device=pub.device)
        for salt in range(3):
            data = frame_bytes(pub.packed_size, salt=salt)
            source = torch.from_numpy(data).to(f"cuda:{pub.device}")
            frame = pub.acquire(pts=salt, stream=stream)
            with torch.cuda.stream(stream):
                torch.cuda._sleep(200_000_000)  # ~0.1 s of GPU time before the copy
            frame.copy_from(source, stream=stream)
            start = time.monotonic()
            frame.publish()
            returned_after = time.monotonic() - start
            assert returned_after < 0.05, f"publish() waited {returned_after * 1e3:.0f} ms for the GPU"
            with sub.next(timeout=10) as got:
                assert got.pts == salt
                np.testing.assert_array_equal(got.to_numpy().reshape(-1), data)
        assert pub.last_timing.sync_ns < 50_000_000


@pytest.mark.gpu
@pytest.mark.parametrize("format", ["nv12", "i420", "p010"])
@pytest.mark.parametrize("color_name", ["untagged", "bt709-tv", "bt601-pc"])
def test_to_tensor_on_the_gpu_equals_the_host_conversion(format, color_name, key, gpu_required) -> None:
    """frame.to_tensor on a cuda frame stays on its GPU and gives what the same conversion gives on the
    CPU (+-1) and FFmpeg's accurate conversion (+-2); out= fills a caller's CUDA tensor."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("av")
    if shutil.which("ffmpeg") is None:  # it makes the reference frames (test_convert.source_frame)
        pytest.skip("needs the ffmpeg command line (scripts/gpu-check.sh puts a carried one on PATH)")
    from test_convert import COLORS, OUTPUTS, max_error, published, source_frame
    from test_convert import H as h
    from test_convert import W as w
    from test_convert_torch import ffmpeg_accurate

    color, _ = COLORS[color_name]
    packed = source_frame(format)
    with published(key + "-host", format, packed, color) as frame:
        on_cpu = {to: frame.to_tensor(format=to).numpy() for to in OUTPUTS}
    with cuframes.Publisher(key, w, h, format, backend="cuda", color=color) as pub, cuframes.Subscriber(key) as sub:
        pub.send(packed)
        with sub.next(timeout=5) as frame:
            out = torch.empty((h, w, 3), dtype=torch.uint8, device=f"cuda:{frame.device}")
            assert frame.to_tensor("rgb24", out=out) is out
            on_gpu = {to: frame.to_tensor(format=to) for to in OUTPUTS}
            assert all(t.is_cuda and t.device.index == frame.device for t in on_gpu.values())
            assert torch.equal(out, on_gpu["rgb24"])
    for to in OUTPUTS:
        assert max_error(on_gpu[to].cpu().numpy(), on_cpu[to]) <= 1, to
        if to != "gray":
            assert max_error(on_gpu[to].cpu().numpy(), ffmpeg_accurate(packed, format, color, to)) <= 2, to
