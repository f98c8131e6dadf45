"""Bad input gets a typed error and leaves nothing behind: no socket or lock
file in the folder, no extra open file descriptor."""

from __future__ import annotations

import gc
import os

import numpy as np
import pytest

import cuframes


def open_fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


BAD_KEYS = {
    "empty": "",
    "too long": "k" * 65,
    "slash": "a/b",
    "dotdot": "a..b",
    "leading dot": ".hidden",
    "nul": "a\0b",
    "space": "a b",
}


def assert_leaves_nothing(cf_dir, make, error: type) -> None:
    make_once = lambda: pytest.raises(error, make)  # noqa: E731
    make_once()  # the first failure may load lazily initialised state (libs, caches)
    gc.collect()
    before = open_fd_count()
    for _ in range(3):
        info = make_once()
        assert str(info.value), "the error must say what was wrong"
    gc.collect()
    assert open_fd_count() == before
    assert list(cf_dir.iterdir()) == []


@pytest.mark.parametrize("bad", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_bad_keys_are_refused(bad: str, cf_dir, backend) -> None:
    assert_leaves_nothing(
        cf_dir, lambda: cuframes.Publisher(bad, 64, 48, backend=backend), cuframes.InvalidArgumentError
    )
    assert_leaves_nothing(cf_dir, lambda: cuframes.Subscriber(bad, connect_timeout=0), cuframes.InvalidArgumentError)
    with pytest.raises(ValueError):
        cuframes.validate_key(bad)


def test_longest_key_is_accepted(cf_dir, backend) -> None:
    key = "k" * 64
    cuframes.validate_key(key)
    with cuframes.Publisher(key, 64, 48, backend=backend) as pub:
        assert pub.key == key


@pytest.mark.parametrize(
    "width,height",
    [(0, 48), (64, 0), (-64, 48), (64, -2), (16386, 48), (64, 1 << 20), (1 << 40, 48), (63, 48), (64, 47)],
    ids=["w0", "h0", "w-neg", "h-neg", "w-huge", "h-huge", "w-2^40", "odd-w", "odd-h"],
)
def test_bad_dimensions_are_refused(width: int, height: int, key, cf_dir, backend) -> None:
    assert_leaves_nothing(
        cf_dir, lambda: cuframes.Publisher(key, width, height, "nv12", backend=backend), cuframes.InvalidArgumentError
    )


def test_odd_dimensions_are_fine_without_chroma_subsampling(key, backend) -> None:
    with cuframes.Publisher(key, 63, 47, "rgb24", backend=backend) as pub:
        assert (pub.width, pub.height) == (63, 47)


@pytest.mark.parametrize("fmt", ["yuv444", "", "NV12x", "h264"])
def test_unknown_format_is_refused(fmt: str, key, cf_dir, backend) -> None:
    assert_leaves_nothing(cf_dir, lambda: cuframes.Publisher(key, 64, 48, fmt, backend=backend), cuframes.FormatError)
    with pytest.raises(ValueError):
        cuframes.layout(fmt, 64, 48)


def test_format_names_are_case_insensitive(key, backend) -> None:
    with cuframes.Publisher(key, 64, 48, "NV12", backend=backend) as pub:
        assert pub.format == "nv12"


@pytest.mark.parametrize(
    "slots,max_subscribers,max_held",
    [(0, 4, 2), (9, 4, 2), (5, 2, 2), (129, 4, 2)],
    ids=["zero", "one-short", "small", "over-128"],
)
def test_too_few_or_too_many_slots_are_refused_with_the_reason(
    slots, max_subscribers, max_held, key, cf_dir, backend
) -> None:
    def make() -> cuframes.Publisher:
        return cuframes.Publisher(
            key, 64, 48, slots=slots, max_subscribers=max_subscribers, max_held=max_held, backend=backend
        )

    assert_leaves_nothing(cf_dir, make, cuframes.InvalidArgumentError)
    with pytest.raises(cuframes.InvalidArgumentError) as info:
        make()
    assert "slot" in str(info.value)


def test_smallest_slot_count_is_accepted(key, backend) -> None:
    with cuframes.Publisher(key, 64, 48, slots=3 * 2 + 2, max_subscribers=3, max_held=2, backend=backend) as pub:
        assert pub.slot_count == 8


def test_unknown_backend_is_refused(key, cf_dir) -> None:
    assert_leaves_nothing(
        cf_dir, lambda: cuframes.Publisher(key, 64, 48, backend="opencl"), cuframes.InvalidArgumentError
    )


def test_cuda_backend_without_gpu_raises_cleanly(key, cf_dir) -> None:
    if cuframes.cuda_available():
        pytest.skip("a GPU is usable here")
    assert_leaves_nothing(
        cf_dir, lambda: cuframes.Publisher(key, 64, 48, backend="cuda"), cuframes.CudaUnavailableError
    )


def test_bad_timeouts_are_refused(key, backend) -> None:
    with cuframes.Publisher(key, 64, 48, backend=backend), cuframes.Subscriber(key) as sub:
        with pytest.raises(cuframes.InvalidArgumentError):
            sub.next(timeout=-1)
    with pytest.raises(cuframes.InvalidArgumentError):
        cuframes.Subscriber(key, connect_timeout=-1)


def test_bad_streams_are_refused(key, backend) -> None:
    with cuframes.Publisher(key, 64, 48, backend=backend) as pub:
        with pytest.raises(TypeError):
            pub.send(np.zeros(pub.packed_size, np.uint8), stream="default")
        with pytest.raises(ValueError):
            pub.send(np.zeros(pub.packed_size, np.uint8), stream=-1)
        assert pub.last_seq == 0


WRONG_TYPES = {
    "key None": (lambda key, b: cuframes.Publisher(None, 64, 48, backend=b), "key must be a string"),
    "key int": (lambda key, b: cuframes.Publisher(5, 64, 48, backend=b), "key must be a string"),
    "width None": (lambda key, b: cuframes.Publisher(key, None, 48, backend=b), "width must be an integer"),
    "height float": (lambda key, b: cuframes.Publisher(key, 64, 48.5, backend=b), "height must be an integer"),
    "width bool": (lambda key, b: cuframes.Publisher(key, True, 48, backend=b), "width must be an integer"),
    "format None": (lambda key, b: cuframes.Publisher(key, 64, 48, None, backend=b), "format must be a string"),
    "slots str": (lambda key, b: cuframes.Publisher(key, 64, 48, slots="8", backend=b), "slots must be an integer"),
    "description None": (
        lambda key, b: cuframes.Publisher(key, 64, 48, description=None, backend=b),
        "description must be a string",
    ),
    "dir int": (lambda key, b: cuframes.Publisher(key, 64, 48, dir=5, backend=b), "dir must be a folder path"),
    "subscriber key None": (lambda key, b: cuframes.Subscriber(None, connect_timeout=0), "key must be a string"),
    "delivery None": (
        lambda key, b: cuframes.Subscriber(key, connect_timeout=0, delivery=None),
        "delivery must be a string",
    ),
    "packet key None": (lambda key, b: cuframes.PacketSubscriber(None, connect_timeout=0), "key must be a string"),
    "stat key None": (lambda key, b: cuframes.stat(None, timeout=0), "key must be a string"),
    "list_streams dir int": (lambda key, b: cuframes.list_streams(5), "dir must be a folder path"),
}


@pytest.mark.parametrize("make, complaint", WRONG_TYPES.values(), ids=WRONG_TYPES.keys())
def test_arguments_of_the_wrong_type_are_named(make, complaint, key, cf_dir, backend) -> None:
    # Not pybind11's "incompatible constructor arguments" with a signature dump: which argument, and what it got.
    with pytest.raises(cuframes.InvalidArgumentError, match=complaint) as caught:
        make(key, backend)
    assert "incompatible" not in str(caught.value) and "_core" not in str(caught.value)
    assert list(cf_dir.iterdir()) == []


def test_numpy_integers_are_integers(key, backend) -> None:
    with cuframes.Publisher(key, np.int64(64), np.int32(48), backend=backend, slots=np.uint8(10)) as pub:
        assert (pub.width, pub.height) == (64, 48)
