"""Who may subscribe: the socket's mode and group, then the peer's credentials.

Subscribers run as other uids through ``setpriv`` (the tests run as root, as
CI does); a refused peer must get PermissionDeniedError and no descriptor.
The last test is the container case: new PID, IPC, mount and network
namespaces, a private /dev/shm, another uid in the allowed group.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import time

import numpy as np
import pytest
from isolation import isolated_round_trip

import cuframes

W, H = 64, 48
ALLOWED_UID, OTHER_UID = 4242, 4343
HONEST_UID = 4246  # an allowed uid that behaves
ALLOWED_GID, OTHER_GID = 4444, 4545

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv to act as other uids"
)


def as_user(uid: int, gid: int, groups: list[int] | None = None) -> list[str]:
    """A command prefix that runs the child as uid:gid with exactly `groups` besides."""
    group_args = ["--groups", ",".join(map(str, groups))] if groups else ["--clear-groups"]
    return ["setpriv", "--reuid", str(uid), "--regid", str(gid), *group_args]


@pytest.fixture
def shared_dir(cf_dir, children):
    """The socket folder, open to other uids (as a folder shared between containers is),
    after checking that another uid can run this Python and import cuframes at all."""
    os.chmod(cf_dir, 0o755)
    probe = children.run("import cuframes", prefix=as_user(OTHER_UID, OTHER_GID), timeout=60)
    if probe.returncode != 0:
        pytest.skip(f"another uid cannot import cuframes from this interpreter: {probe.stderr[-300:]}")
    return cf_dir


# A subscriber as another user: prints one JSON line saying what happened.
SUBSCRIBE = """
import json, sys, numpy as np, cuframes
key = sys.argv[1]
try:
    with cuframes.Subscriber(key, connect_timeout=10) as sub:
        frame = sub.next(timeout=10)
        print(json.dumps({"ok": True, "seq": frame.seq, "sum": int(frame.to_numpy().astype(np.uint64).sum())}))
except cuframes.Error as error:
    print(json.dumps({"ok": False, "type": type(error).__name__, "message": str(error)}))
"""

# The handshake by hand, to see exactly what a refused peer receives. A refused
# peer is answered at accept, before its hello: the hello may find the socket
# closed already, and the reject waiting.
RAW_HANDSHAKE = """
import json, socket, struct, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
sock.settimeout(10)
sock.connect(sys.argv[1])
try:
    sock.send(struct.pack("<IHHII", 0x4D524643, 1, 1, 16, 0) + struct.pack("<IIQ", 1, 0, 0))
except BrokenPipeError:
    pass
message, fds, _flags, _addr = socket.recv_fds(sock, 1024, 64)
kind = struct.unpack_from("<IHHII", message)[2]
status = struct.unpack_from("<I", message, 16)[0] if kind == 3 else None
print(json.dumps({"kind": kind, "status": status, "fds": len(fds)}))
"""


def outcome(result: subprocess.CompletedProcess) -> dict:
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert result.returncode == 0 and lines, result.stdout + result.stderr
    return json.loads(lines[-1])


def wait_for_subscribers(pub: cuframes.Publisher, child, count: int) -> None:
    deadline = time.monotonic() + 30
    while pub.subscriber_count < count:
        assert child.poll() is None, "".join(child.stdout) + "".join(child.stderr)
        assert time.monotonic() < deadline, "the subscriber never attached"
        time.sleep(0.01)


def publish_one(pub: cuframes.Publisher, value: int) -> int:
    pub.send(np.full(pub.packed_size, value, np.uint8), pts=value)
    return value * pub.packed_size


def test_socket_gets_the_requested_mode_and_group(key, backend, cf_dir) -> None:
    with cuframes.Publisher(key, W, H, "gray8", backend=backend, mode=0o640, group=ALLOWED_GID) as pub:
        info = os.stat(pub.socket_path)
        assert stat.S_ISSOCK(info.st_mode)
        assert stat.S_IMODE(info.st_mode) == 0o640 and info.st_gid == ALLOWED_GID


def test_unknown_user_or_group_names_are_refused(key, backend) -> None:
    with pytest.raises(cuframes.InvalidArgumentError, match="no group named"):
        cuframes.Publisher(key, W, H, "gray8", backend=backend, group="no-such-group-here")
    with pytest.raises(cuframes.InvalidArgumentError, match="no user named"):
        cuframes.Publisher(key, W, H, "gray8", backend=backend, allowed_uids=["no-such-user-here"])
    with pytest.raises(cuframes.InvalidArgumentError, match="mode"):
        cuframes.Publisher(key, W, H, "gray8", backend=backend, mode=0o1777)


def test_allowed_uid_is_served_and_others_are_refused_without_a_descriptor(key, backend, shared_dir, children) -> None:
    # Mode 0666 lets anyone connect: the credential check alone decides.
    with cuframes.Publisher(key, W, H, "gray8", backend=backend, mode=0o666, allowed_uids=[ALLOWED_UID]) as pub:
        refused_raw = outcome(children.run(RAW_HANDSHAKE, pub.socket_path, prefix=as_user(OTHER_UID, OTHER_GID)))
        assert refused_raw == {"kind": 3, "status": cuframes.PermissionDeniedError.default_status, "fds": 0}

        refused = children.spawn(SUBSCRIBE, key, prefix=as_user(OTHER_UID, OTHER_GID))
        allowed = children.spawn(SUBSCRIBE, key, prefix=as_user(ALLOWED_UID, OTHER_GID))
        refused_outcome = outcome(children.wait(refused))
        assert refused_outcome["type"] == "PermissionDeniedError"
        assert f"uid {OTHER_UID}" in refused_outcome["message"] and key in refused_outcome["message"]
        wait_for_subscribers(pub, allowed, 1)  # the allowed one is attached: publish for it
        expected = publish_one(pub, 9)
        assert outcome(children.wait(allowed)) == {"ok": True, "seq": 1, "sum": expected}


@pytest.mark.parametrize("primary", [True, False], ids=["primary-gid", "supplementary-gid"])
def test_members_of_an_allowed_group_are_served(key, backend, shared_dir, children, primary) -> None:
    user = as_user(OTHER_UID, ALLOWED_GID) if primary else as_user(OTHER_UID, OTHER_GID, [ALLOWED_GID])
    with cuframes.Publisher(
        key, W, H, "gray8", backend=backend, mode=0o660, group=ALLOWED_GID, allowed_gids=[ALLOWED_GID]
    ) as pub:
        child = children.spawn(SUBSCRIBE, key, prefix=user)
        wait_for_subscribers(pub, child, 1)
        expected = publish_one(pub, 5)
        assert outcome(children.wait(child)) == {"ok": True, "seq": 1, "sum": expected}


def test_socket_mode_refuses_before_any_handshake(key, backend, shared_dir, children) -> None:
    """Mode 0600: the kernel refuses the connect; the subscriber says what to check."""
    with cuframes.Publisher(key, W, H, "gray8", backend=backend, mode=0o600, allowed_uids=[ALLOWED_UID]) as pub:
        result = outcome(children.run(SUBSCRIBE, key, prefix=as_user(ALLOWED_UID, ALLOWED_GID)))
        assert result["type"] == "PermissionDeniedError" and "mode" in result["message"], result
        assert pub.subscriber_count == 0


def test_refused_peers_never_disturb_the_served_ones(key, backend, shared_dir, children) -> None:
    with (
        cuframes.Publisher(key, W, H, "gray8", backend=backend, mode=0o666, allowed_uids=[ALLOWED_UID]) as pub,
        cuframes.Subscriber(key) as own,
    ):  # the producer's own uid is always allowed
        for _ in range(5):
            assert outcome(children.run(SUBSCRIBE, key, prefix=as_user(OTHER_UID, OTHER_GID)))["ok"] is False
        expected = publish_one(pub, 3)
        with own.next(timeout=5) as frame:
            assert int(frame.to_numpy().astype(np.uint64).sum()) == expected
        assert pub.subscriber_count == 1


# Keeps `count` silent connections open to a socket, replacing each one the
# producer answers or drops at once: a peer that keeps reconnecting.
FLOOD = """
import select, socket, sys, time
path, count = sys.argv[1], int(sys.argv[2])
held = []
print("flooding", flush=True)
while True:
    answered = select.select(held, [], [], 0)[0] if held else []
    for sock in answered:
        sock.close()
    held = [sock for sock in held if sock not in answered]
    while len(held) < count:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sock.setblocking(False)
        try:
            sock.connect(path)
        except OSError:  # the backlog is full, for now
            sock.close()
            break
        held.append(sock)
    time.sleep(0.002)
"""


def test_floods_of_silent_connections_never_lock_out_an_allowed_subscriber(key, backend, shared_dir, children) -> None:
    """A refused uid is turned away at accept, before it holds a handshake place;
    an allowed uid holds only its share of them. An honest subscriber of another
    allowed uid connects every time within its connect_timeout."""
    with cuframes.Publisher(
        key, W, H, "gray8", backend=backend, mode=0o666, allowed_uids=[ALLOWED_UID, HONEST_UID]
    ) as pub:
        expected = publish_one(pub, 7)  # each honest subscriber joins at this frame
        floods = [
            children.spawn(FLOOD, pub.socket_path, "40", prefix=as_user(uid, OTHER_GID))
            for uid in (OTHER_UID, ALLOWED_UID)
        ]
        for flood in floods:
            children.read_line(flood, "flooding")
        time.sleep(0.5)  # the floods are in full swing
        for _ in range(10):
            result = outcome(children.run(SUBSCRIBE, key, prefix=as_user(HONEST_UID, OTHER_GID)))
            assert result == {"ok": True, "seq": 1, "sum": expected}, result  # within connect_timeout=10
        assert all(flood.poll() is None for flood in floods), "a flood stopped: it proved nothing"


def test_isolated_subscriber_under_another_uid_in_the_allowed_group(
    key, backend, shared_dir, children, frame_bytes
) -> None:
    # The namespaces are made as root, then setpriv drops to the subscriber's uid.
    with cuframes.Publisher(
        key, 320, 240, "nv12", backend=backend, mode=0o660, group=ALLOWED_GID, allowed_gids=[ALLOWED_GID]
    ) as pub:
        isolated_round_trip(pub, key, children, frame_bytes, as_user=as_user(ALLOWED_UID, OTHER_GID, [ALLOWED_GID]))
