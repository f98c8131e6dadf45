"""Every object that owns something shares one lifetime (cuframes._handle.Handle):
close() is idempotent, ``with`` closes, __del__ never raises, even on an object
whose __init__ failed half-way. And a WritableFrame that is dropped hands its slot
back, so the publisher can acquire again."""

from __future__ import annotations

import ast
import gc
import warnings
from pathlib import Path

import numpy as np
import pytest

import cuframes
from cuframes._handle import Handle
from cuframes.record import Recorder


def test_every_resource_owner_is_a_handle() -> None:
    for cls in (cuframes.Publisher, cuframes.Subscriber, cuframes.PacketSubscriber, Recorder):
        assert issubclass(cls, Handle), cls
    av = pytest.importorskip("cuframes.av")
    assert issubclass(av.PacketContainer, Handle)


def test_close_is_idempotent_and_with_closes(key, backend) -> None:
    with cuframes.Publisher(key, 64, 48, "gray8", backend=backend, packet_ring_bytes=1 << 16) as pub:
        with cuframes.Subscriber(key, connect_timeout=5) as sub, cuframes.PacketSubscriber(key) as packets:
            assert not (sub.closed or packets.closed)
        assert sub.closed and packets.closed
        for handle in (sub, packets):
            handle.close()  # a second close is a no-op
            with pytest.raises(cuframes.StateError, match="is closed"):
                _ = handle.last_seq
    assert pub.closed
    pub.close()
    with pytest.raises(cuframes.StateError, match=f"publisher {key!r} is closed"):
        _ = pub.width


def test_half_made_objects_close_and_collect_without_error(cf_dir) -> None:
    with pytest.raises(cuframes.InvalidArgumentError):
        cuframes.Publisher("bad/key", 64, 48)
    with pytest.raises(cuframes.InvalidArgumentError):
        cuframes.Subscriber("bad/key")
    with pytest.raises(cuframes.InvalidArgumentError):
        Recorder("cuframes://cam", "out.mp4", segment=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an exception in __del__ would surface as a warning
        gc.collect()
    recorder = Recorder.__new__(Recorder)  # nothing set at all
    recorder.close()
    assert recorder.closed


def test_a_dropped_writable_frame_gives_its_slot_back(key, backend) -> None:
    with cuframes.Publisher(key, 64, 48, "gray8", backend=backend) as pub:
        with pytest.warns(ResourceWarning, match="dropped unpublished"):
            pub.acquire(pts=1)  # never published nor aborted
            gc.collect()
        frame = pub.acquire(pts=2)  # the slot came back: no "already acquired"
        frame.copy_from(np.zeros(pub.packed_size, np.uint8))
        assert frame.publish() == 1


def test_a_writable_frame_of_a_closed_publisher_says_so(key, backend) -> None:
    pub = cuframes.Publisher(key, 64, 48, "gray8", backend=backend)
    frame = pub.acquire()
    pub.close()
    with pytest.raises(cuframes.StateError):
        frame.copy_from(np.zeros(64 * 48, np.uint8))
    with pytest.raises(cuframes.StateError, match=f"publisher {key!r} is closed"):
        _ = frame.width


def test_frame_module_does_not_import_the_publisher() -> None:
    """frame.py <- publisher.py, one way: the writable frame talks to the core publisher."""
    source = Path(cuframes.frame.__file__).read_text()
    imported = {node.module for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom)}
    assert "publisher" not in imported
