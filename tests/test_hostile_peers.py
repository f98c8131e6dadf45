"""Peers that break the protocol, on purpose or by being another version.

These speak the wire protocol by hand (docs/protocol.md): a 16-byte header
(magic "CFRM", version, type, body size, descriptor count), then the body.
"""

from __future__ import annotations

import errno
import mmap
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from waiting import error_when_closed_while_waiting

import cuframes

W, H = 64, 48
MAGIC = 0x4D524643
HELLO, WELCOME, REJECT, FDS = 1, 2, 3, 4
HEADER = struct.Struct("<IHHII")


def connect(cf_dir: Path, key: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.settimeout(5)
    sock.connect(str(cf_dir / f"{key}.sock"))
    return sock


VERSION = cuframes.PROTOCOL_VERSION
OTHER_VERSION = VERSION + 1
# The previous version and the next one: both refused, by either side.
OTHER_VERSIONS = [VERSION - 1, VERSION + 1]
# StreamDescription (docs/protocol.md): 32 bytes of u32 fields, slot_size, epoch,
# four planes, the device uuid, then the v4 stream facts.
STREAM_DESCRIPTION = struct.Struct("<8IQQ" + "QIIII" * 4 + "16s" + "6i4B4x")
# header_bytes, lease_page_bytes, total_fds, subscriber_id, joined_seq (v6)
WELCOME_TAIL = struct.Struct("<4IQ")
assert STREAM_DESCRIPTION.size == 192


def hello(version: int = VERSION, flags: int = 0, reserved: int = 0) -> bytes:
    # HelloBody (v5): client_version, role (0: frames), flags, reserved.
    return HEADER.pack(MAGIC, version, HELLO, 16, 0) + struct.pack("<IIII", version, 0, flags, reserved)


def read_reject(sock: socket.socket) -> tuple[int, str]:
    data = sock.recv(1024)
    magic, _version, kind, size, _fds = HEADER.unpack_from(data)
    assert (magic, kind, size) == (MAGIC, REJECT, 256)
    status, _server_version = struct.unpack_from("<II", data, 16)
    return status, data[24:].split(b"\0", 1)[0].decode()


def attach_raw(cf_dir: Path, key: str) -> tuple[socket.socket, list[int]]:
    """Runs the handshake by hand; returns the socket and every descriptor received."""
    sock = connect(cf_dir, key)
    sock.send(hello())
    welcome = sock.recv(1024)
    assert HEADER.unpack_from(welcome)[2] == WELCOME
    total = struct.unpack_from("<I", welcome, 16 + STREAM_DESCRIPTION.size + 8)[0]
    fds: list[int] = []
    while len(fds) < total:
        _msg, received, _flags, _addr = socket.recv_fds(sock, 1024, 64)
        fds.extend(received)
    return sock, fds


@pytest.mark.parametrize("other", OTHER_VERSIONS)
def test_producer_refuses_another_protocol_version_and_says_why(cf_dir, key, backend, other) -> None:
    with cuframes.Publisher(key, W, H, "gray8", backend=backend) as pub:
        with connect(cf_dir, key) as sock:
            sock.send(hello(version=other))
            status, reason = read_reject(sock)
        assert status == cuframes.VersionMismatchError.default_status
        assert f"v{VERSION}" in reason and f"v{other}" in reason
        assert pub.subscriber_count == 0


@contextmanager
def fake_producer(cf_dir: Path, key: str, version: int, body: bytes) -> Iterator[None]:
    """Answers one hello with a welcome of `version` carrying `body`, while the block runs."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    server.bind(str(cf_dir / f"{key}.sock"))
    server.listen(1)

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(1024)
            conn.send(HEADER.pack(MAGIC, version, WELCOME, len(body), 0) + body)
            time.sleep(0.5)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join(timeout=5)
        server.close()


def gray_welcome(facts: tuple[int, ...] = (0, 0, 0, 0, 0, 0, 2, 0, 2, 2)) -> bytes:
    """A welcome of a host gray8 W x H stream with 3 slots, right in all but what the test spoils."""
    plane = cuframes.layout("gray8", W, H)[0]
    planes = (plane.offset, plane.pitch, plane.width, plane.height, plane.row_bytes) + (0,) * 15
    slot_size = 1 << 16
    description = STREAM_DESCRIPTION.pack(1, 8, W, H, 1, 3, 2, 0, slot_size, 1234, *planes, bytes(16), *facts)
    return description + WELCOME_TAIL.pack(0, 4096, 5, 1, 0)


@pytest.mark.parametrize("other", OTHER_VERSIONS)
def test_subscriber_refuses_a_producer_of_another_version(cf_dir, key, other) -> None:
    """A fake producer that answers in v3 (a 176-byte welcome without facts) or in the next version."""
    body = gray_welcome()[:160] + gray_welcome()[192:] if other == 3 else gray_welcome()
    with fake_producer(cf_dir, key, other, body):
        with pytest.raises(cuframes.VersionMismatchError, match=f"v{other}.*v{VERSION}"):
            cuframes.Subscriber(key, connect_timeout=5)


@pytest.mark.parametrize(
    "facts, problem",
    [
        ((1, 0, 0, 0, 0, 0, 2, 0, 2, 2), "time_base 1/0 has a zero denominator"),
        ((0, 0, -30, 1, 0, 0, 2, 0, 2, 2), "frame_rate -30/1 is negative"),
        ((0, 0, 0, 0, 0, 0, 99, 0, 2, 2), "color_matrix 99"),
        ((0, 0, 0, 0, 0, 0, 2, 3, 2, 2), "color_range 3"),
    ],
)
def test_subscriber_refuses_bad_stream_facts(cf_dir, key, facts, problem) -> None:
    with fake_producer(cf_dir, key, VERSION, gray_welcome(facts)):
        with pytest.raises(cuframes.ProtocolError, match=f"bad stream facts: {problem}"):
            cuframes.Subscriber(key, connect_timeout=5)


@pytest.mark.parametrize(
    "message",
    [
        b"not the cuframes protocol",
        HEADER.pack(0xDEADBEEF, VERSION, HELLO, 16, 0) + bytes(16),  # bad magic
        HEADER.pack(MAGIC, VERSION, HELLO, 99, 0) + bytes(16),  # length field lies
        HEADER.pack(MAGIC, VERSION, FDS, 8, 0) + bytes(8),  # not a hello
    ],
)
def test_garbage_from_a_peer_never_disturbs_the_producer(cf_dir, key, backend, message) -> None:
    with cuframes.Publisher(key, W, H, "gray8", backend=backend) as pub, cuframes.Subscriber(key) as good:
        with connect(cf_dir, key) as bad:
            bad.send(message)
            bad.settimeout(5)
            try:
                bad.recv(1024)  # a reject or the hang-up; either way it is let go
            except OSError:
                pass
        pub.send(np.full(pub.packed_size, 7, np.uint8), pts=1)
        with good.next(timeout=5) as frame:
            assert frame.seq == 1 and (frame.to_numpy() == 7).all()
        assert pub.subscriber_count == 1


def test_hello_carrying_descriptors_is_refused(cf_dir, key, backend) -> None:
    with cuframes.Publisher(key, W, H, "gray8", backend=backend) as pub, connect(cf_dir, key) as sock:
        read_end, write_end = os.pipe()
        try:
            socket.send_fds(sock, [hello()], [read_end])
        finally:
            os.close(read_end)
            os.close(write_end)
        status, reason = read_reject(sock)
        assert status == cuframes.ProtocolError.default_status and "descriptor" in reason
        assert pub.subscriber_count == 0


@pytest.mark.parametrize(("flags", "reserved"), [(2, 0), (1 << 31, 0), (0, 1)])
def test_hello_with_unknown_flags_is_refused(cf_dir, key, backend, flags, reserved) -> None:
    """Flags a producer does not know would be promises it does not keep (bit 0, notify, it knows)."""
    with cuframes.Publisher(key, W, H, "gray8", backend=backend) as pub, connect(cf_dir, key) as sock:
        sock.send(hello(flags=flags, reserved=reserved))
        status, reason = read_reject(sock)
        assert status == cuframes.ProtocolError.default_status and "flags" in reason, reason
        assert pub.subscriber_count == 0


def test_a_silent_peer_is_dropped_and_others_are_served(cf_dir, key, backend) -> None:
    with cuframes.Publisher(key, W, H, "gray8", backend=backend) as pub, connect(cf_dir, key) as silent:
        with cuframes.Subscriber(key) as sub:  # served while the silent one waits
            pub.send(np.zeros(pub.packed_size, np.uint8))
            assert sub.next(timeout=5).seq == 1
        silent.settimeout(10)
        started = time.monotonic()
        assert silent.recv(1024) == b""  # the producer hung up on it
        assert time.monotonic() - started < 5


def test_shared_header_and_host_slots_cannot_be_mapped_writable(cf_dir, key, host_only) -> None:
    """Even by re-opening the read-only descriptors read-write through /proc."""
    with cuframes.Publisher(key, W, H, "gray8", backend="host") as pub:
        sock, fds = attach_raw(cf_dir, key)
        try:
            header, lease, slot = fds[0], fds[1], fds[2]
            for fd in (header, slot):
                with pytest.raises(PermissionError):
                    mmap.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
                reopened = os.open(f"/proc/self/fd/{fd}", os.O_RDWR)
                try:
                    with pytest.raises(PermissionError):
                        mmap.mmap(reopened, 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
                    with pytest.raises(OSError) as info:
                        os.pwrite(reopened, b"\xff" * 8, 176)
                    assert info.value.errno == errno.EPERM
                finally:
                    os.close(reopened)
            # The lease page is the subscriber's own to write.
            mmap.mmap(lease, 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE).close()
            pub.send(np.full(pub.packed_size, 3, np.uint8))  # the producer carries on
        finally:
            sock.close()
            for fd in fds:
                os.close(fd)


def test_more_slots_than_one_message_carries(key, backend) -> None:
    """100 slots: the descriptors travel in chunks of 64."""
    with cuframes.Publisher(key, W, H, "gray8", backend=backend, slots=100) as pub, cuframes.Subscriber(key) as sub:
        assert sub.slot_count == 100
        for value in range(1, 151):  # every slot used at least once
            pub.send(np.full(pub.packed_size, value % 256, np.uint8), pts=value)
            with sub.next(timeout=5) as frame:
                assert frame.pts == value and (frame.to_numpy() == value % 256).all()


def test_killed_subscriber_gives_its_frames_back(key, backend, children) -> None:
    code = """
import sys, time, cuframes
sub = cuframes.Subscriber(sys.argv[1], connect_timeout=10)
held = [sub.next(timeout=10), sub.next(timeout=10)]
print("holding", [f.slot for f in held], flush=True)
time.sleep(60)
"""
    with cuframes.Publisher(key, W, H, "gray8", backend=backend, slots=4, max_subscribers=1, max_held=2) as pub:
        child = children.spawn(code, key)
        deadline = time.monotonic() + 20
        while pub.subscriber_count == 0:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        pub.send(np.zeros(pub.packed_size, np.uint8))
        children.read_line(child, "holding", required=False, timeout=0.5)
        while not children.read_line(child, "holding", timeout=0.05, required=False):
            assert time.monotonic() < deadline, "the child never held two frames"
            pub.send(np.zeros(pub.packed_size, np.uint8))
        os.kill(child.pid, 9)
        children.wait(child)
        while pub.subscriber_count:
            assert time.monotonic() < deadline, "the producer never noticed the dead subscriber"
            time.sleep(0.01)
        # Its two slots are free again: a new subscriber (max_subscribers=1) can
        # hold two frames while the producer cycles through all four slots.
        with cuframes.Subscriber(key) as sub:
            for value in range(10):
                pub.send(np.full(pub.packed_size, value, np.uint8))
            first = sub.next(timeout=5)
            pub.send(np.full(pub.packed_size, 10, np.uint8))
            second = sub.next(timeout=5)
            for value in range(11, 20):
                pub.send(np.full(pub.packed_size, value, np.uint8))
            assert (first.to_numpy() == 9).all() and (second.to_numpy() == 10).all()
            first.release()
            second.release()


def test_close_while_another_thread_waits_in_next(key, backend) -> None:
    with cuframes.Publisher(key, W, H, "gray8", backend=backend):
        sub = cuframes.Subscriber(key)
        outcome = error_when_closed_while_waiting(sub, wait_s=10, close_after_s=0.2)
        assert len(outcome) == 1 and isinstance(outcome[0], cuframes.StateError), outcome


def test_writable_view_outlives_a_closed_publisher(key, host_only) -> None:
    pub = cuframes.Publisher(key, W, H, "gray8", backend="host")
    view = pub.acquire().gray
    pub.close()
    view[:] = 5  # still mapped: the memory goes when the view goes
    assert int(view.sum()) == 5 * W * H
    del view
