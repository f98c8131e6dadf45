"""A subscriber the way a container sees the world, for the tests that need one.

New PID, IPC, mount and network namespaces with a private /dev/shm: only the
socket folder is shared with the producer. A new PID namespace needs its own
/proc (as every container has): without it cuInit fails with
CUDA_ERROR_OPERATING_SYSTEM.
"""

from __future__ import annotations

import os
import shutil

import pytest

import cuframes

# Receives one frame and checks every byte against frame_bytes(size, salt=6) (conftest).
SUBSCRIBER = """
import sys, numpy as np, cuframes
key, size = sys.argv[1], int(sys.argv[2])
expected = ((np.arange(size, dtype=np.uint64) * 2654435761 + 6 * 977) >> np.uint64(7)).astype(np.uint8)
with cuframes.Subscriber(key, connect_timeout=20) as sub:
    print("connected", sub.backend, flush=True)
    frame = sub.next(timeout=20)
    ok = np.array_equal(frame.to_numpy().reshape(-1), expected)
    print("frame", frame.seq, "exact" if ok else "MISMATCH", flush=True)
    sys.exit(0 if ok else 1)
"""


def isolated_round_trip(
    pub: cuframes.Publisher, key: str, children, frame_bytes, as_user: list[str] | None = None
) -> None:
    """Publishes one frame to a subscriber in new namespaces (run as `as_user`, a
    setpriv prefix, after the namespaces are set up as root) and checks it arrived bit-exact."""
    if os.geteuid() != 0:
        pytest.skip("unshare with a private /dev/shm needs root")
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    prefix = [
        "unshare",
        "--pid",
        "--ipc",
        "--mount",
        "--net",
        "--fork",
        "--mount-proc",
        "sh",
        "-c",
        'mount -t tmpfs -o size=16m tmpfs /dev/shm && exec "$@"',
        "sh",
        *(as_user or []),
    ]
    child = children.spawn(SUBSCRIBER, key, str(pub.packed_size), prefix=prefix)
    children.read_line(child, "connected", timeout=30)
    pub.send(frame_bytes(pub.packed_size, salt=6), pts=1)
    result = children.wait(child, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"connected {pub.backend}" in result.stdout and "frame 1 exact" in result.stdout
