"""One default socket folder for every user: a producer and a subscriber of different
uids, neither of them told where to look, find each other; the folder is sticky and
world-writable like /tmp, and a folder anyone could tamper with is refused."""

from __future__ import annotations

import os
import shutil
import stat

import pytest
from test_access_control import ALLOWED_UID, OTHER_GID, OTHER_UID, as_user, outcome

import cuframes

SHARED = "/tmp/cuframes"

as_root_with_setpriv = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv to act as other uids"
)

# A producer as another user, in the default folder, open to everyone (mode 0o666).
PRODUCER = """
import sys, time, numpy as np, cuframes
with cuframes.Publisher(sys.argv[1], 64, 48, backend="host", mode=0o666) as pub:
    print("up", pub.socket_path, flush=True)
    for seq in range(1, 6000):
        pub.send(np.full(pub.packed_size, 7, np.uint8), pts=seq)
        time.sleep(0.01)
"""

# A subscriber as another user, told no folder.
SUBSCRIBE = """
import json, sys, cuframes
try:
    with cuframes.Subscriber(sys.argv[1], connect_timeout=20) as sub:
        frame = sub.next(timeout=20)
        print(json.dumps({"ok": True, "first_byte": int(frame.to_numpy().reshape(-1)[0])}))
except cuframes.Error as error:
    print(json.dumps({"ok": False, "type": type(error).__name__, "message": str(error)}))
"""


@pytest.fixture
def default_folder(cf_dir, children, monkeypatch, key):
    """No CUFRAMES_DIR (the tests' own folder is not used): the default applies, for
    this process and its children; skips when another uid cannot run this Python.
    Removes what the key left in the shared folder (a killed producer's lock file)."""
    monkeypatch.delenv("CUFRAMES_DIR")
    probe = children.run("import cuframes", prefix=as_user(OTHER_UID, OTHER_GID), timeout=60)
    if probe.returncode != 0:
        pytest.skip(f"another uid cannot import cuframes from this interpreter: {probe.stderr[-300:]}")
    yield SHARED
    children.cleanup()
    for suffix in (".sock", ".lock"):
        try:
            os.unlink(os.path.join(SHARED, key + suffix))
        except FileNotFoundError:
            pass


@as_root_with_setpriv
def test_every_user_has_the_same_default_folder(default_folder, children):
    assert cuframes.default_dir() == SHARED
    other = children.run("import cuframes; print(cuframes.default_dir())", prefix=as_user(OTHER_UID, OTHER_GID))
    assert other.stdout.strip() == SHARED, other.stderr


@as_root_with_setpriv
@pytest.mark.parametrize("producer_uid", [0, ALLOWED_UID], ids=["root-producer", "non-root-producer"])
def test_users_meet_in_the_default_folder(default_folder, children, key, producer_uid):
    producer = children.spawn(PRODUCER, key, prefix=as_user(producer_uid, OTHER_GID) if producer_uid else None)
    socket_path = children.read_line(producer, "up").split()[1]
    assert os.path.dirname(socket_path) == SHARED
    folder = os.stat(SHARED)
    assert stat.S_IMODE(folder.st_mode) == 0o1777, oct(folder.st_mode)  # sticky and open, like /tmp
    assert os.stat(socket_path).st_uid == producer_uid
    subscriber = children.run(SUBSCRIBE, key, prefix=as_user(OTHER_UID, OTHER_GID))
    assert outcome(subscriber) == {"ok": True, "first_byte": 7}


def test_a_folder_anyone_may_write_without_the_sticky_bit_is_refused(tmp_path, key):
    folder = tmp_path / "open"
    folder.mkdir()
    folder.chmod(0o777)  # anyone could remove or replace the producer's socket
    with pytest.raises(cuframes.PermissionDeniedError, match=r"chmod \+t"):
        cuframes.Publisher(key, 64, 48, backend="host", dir=str(folder))
    assert list(folder.iterdir()) == []
    folder.chmod(0o1777)
    with cuframes.Publisher(key, 64, 48, backend="host", dir=str(folder)) as pub:
        assert os.path.dirname(pub.socket_path) == str(folder)


CLI = "import sys; from cuframes.cli import main; sys.argv[0] = 'cuframes'; main()"


def test_info_says_where_it_looks(children, cf_dir, monkeypatch):
    info = children.run(CLI, "info")
    assert info.returncode == 0, info.stderr
    assert (
        f"socket folder: {cf_dir} (from CUFRAMES_DIR; mode 0700, owner uid {os.getuid()}, 0 socket(s))" in info.stdout
    )
    monkeypatch.delenv("CUFRAMES_DIR")
    info = children.run(CLI, "info")
    assert f"socket folder: {SHARED} (the default, the same for every user" in info.stdout, info.stdout
