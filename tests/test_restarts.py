"""How a stream ends, and how a follower crosses a restart, in separate processes:

- a reconnecting subscriber (frames and packets) never takes a closing producer
  for its own successor: each restart is one new epoch, flagged once, and no
  frame or packet is delivered twice (issue 11, item 1: under CPU load the
  clean close of a producer used to come back as a fake restart of itself);
- iterating ends quietly only on a clean close; a producer that dies without
  closing its stream raises ProducerDiedError, a DisconnectedError (item 3).

Run them pinned to one core beside a busy loop too: that is where item 1 showed.
"""

from __future__ import annotations

import os
import signal

import pytest

import cuframes

W, H = 64, 48
# A minimal H.264 keyframe in Annex-B (SPS, PPS, IDR slice): the ring checks
# the start codes and the NAL types, not the picture.
KEYFRAME = b"\x00\x00\x00\x01\x67\x42\x00\x1e\x00\x00\x00\x01\x68\xce\x38\x80\x00\x00\x00\x01\x65" + bytes(48)

# Runs `rounds` producers one after another under one key, each closing
# cleanly after `count` frames and packets; the first waits for both followers.
RESTARTING_PRODUCER = """
import sys, time
import numpy as np, cuframes
key, backend, rounds, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
keyframe = bytes.fromhex(sys.argv[5])
for round in range(rounds):
    with cuframes.Publisher(key, 64, 48, "gray8", backend=backend, packet_ring_bytes=1 << 16) as pub:
        deadline = time.monotonic() + 30
        while round == 0 and (pub.subscriber_count == 0 or pub.packet_subscriber_count == 0):
            assert time.monotonic() < deadline, "the followers never came"
            time.sleep(0.01)
        for seq in range(1, count + 1):
            pts = round * 1000 + seq
            pub.send(np.full(pub.packed_size, seq, np.uint8), pts=pts)
            pub.publish_packet(keyframe, pts=pts, keyframe=True, codec="h264")
            time.sleep(0.01)
print("done", flush=True)
"""


# Follows the key with reconnect=True, printing "item EPOCH SEQ PTS RECONNECTED"
# for each frame or packet until the one with the last pts.
FOLLOWER = """
import sys, cuframes
key, kind, last_pts = sys.argv[1], sys.argv[2], int(sys.argv[3])
make = cuframes.Subscriber if kind == "frames" else cuframes.PacketSubscriber
with make(key, connect_timeout=30, reconnect=True) as sub:
    print("attached", flush=True)
    while True:
        item = sub.next(timeout=20)
        pts = item.pts
        print("item", item.epoch, item.seq, pts, int(item.reconnected), flush=True)
        if kind == "frames":
            item.release()
        if pts == last_pts:
            break
    print("restarts", sub.reconnect_count, flush=True)
"""


def check_followed(items: list, rounds: int, what: str) -> None:
    """Each producer once: a new epoch, flagged `reconnected` on its first item
    only, items of that producer only, nothing twice."""
    taken = [(epoch, seq) for epoch, seq, _, _ in items]
    twice = sorted({item for item in taken if taken.count(item) > 1})
    assert not twice, f"{what}s delivered twice (epoch, seq): {twice}"
    epochs = []
    for index, (epoch, _seq, pts, reconnected) in enumerate(items):
        new_producer = index == 0 or epoch != items[index - 1][0]
        if new_producer:
            epochs.append(epoch)
        assert reconnected == (new_producer and index > 0), f"{what} {index} {items[index]} wrongly flagged"
        # pts says which producer published it: each round's first item comes from that round.
        assert pts // 1000 == len(epochs) - 1, f"{what} {index} {items[index]} from another producer"
    assert len(epochs) == len(set(epochs)) == rounds, f"{what}: {rounds} producers expected, epochs {epochs}"


def test_a_follower_takes_each_restart_once_with_a_new_epoch(key, backend, children) -> None:
    rounds, count = 4, 20
    last_pts = (rounds - 1) * 1000 + count
    followers = {kind: children.spawn(FOLLOWER, key, kind, str(last_pts)) for kind in ("frames", "packets")}
    producer = children.spawn(RESTARTING_PRODUCER, key, backend, str(rounds), str(count), KEYFRAME.hex())
    for kind, follower in followers.items():
        done = children.wait(follower)
        assert done.returncode == 0, kind + ":\n" + done.stdout + done.stderr
        items = [line.split()[1:] for line in done.stdout.splitlines() if line.startswith("item ")]
        check_followed([(int(e), int(s), int(p), r == "1") for e, s, p, r in items], rounds, kind)
        assert f"restarts {rounds - 1}" in done.stdout, done.stdout
    assert children.wait(producer).returncode == 0, "".join(producer.stderr)


# A producer of frames and packets: on "publish" it publishes 3 of each and
# says "published"; on "close" it closes; else it waits to be killed.
ENDING_PRODUCER = """
import sys
import numpy as np, cuframes
key, backend, keyframe = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3])
pub = cuframes.Publisher(key, 64, 48, "gray8", backend=backend, packet_ring_bytes=1 << 16)
print("up", flush=True)
for line in sys.stdin:
    if line.strip() == "publish":
        for seq in range(1, 4):
            pub.send(np.full(pub.packed_size, seq, np.uint8), pts=seq)
            pub.publish_packet(keyframe, pts=seq, keyframe=True, codec="h264")
        print("published", flush=True)
    elif line.strip() == "close":
        pub.close()
        print("closed", flush=True)
        break
"""


@pytest.mark.parametrize("death", ["clean-close", "sigkill"])
def test_iteration_ends_quietly_only_on_a_clean_close(key, backend, children, death) -> None:
    producer = children.spawn(ENDING_PRODUCER, key, backend, KEYFRAME.hex(), stdin=True)
    children.read_line(producer, "up")
    with (
        cuframes.Subscriber(key, connect_timeout=30, delivery="sequential") as frames,
        cuframes.PacketSubscriber(key, connect_timeout=30) as packets,
    ):
        producer.send("publish")  # both have joined: they get every frame and packet
        children.read_line(producer, "published")
        if death == "clean-close":
            producer.send("close")
            children.read_line(producer, "closed")
        else:
            os.kill(producer.pid, signal.SIGKILL)
        children.wait(producer)
        outcomes = {}
        for name, stream in (("frames", frames), ("packets", packets)):
            seen = []
            try:
                for item in stream:
                    seen.append(item.pts)
                outcomes[name] = (seen, None)
            except cuframes.DisconnectedError as error:
                outcomes[name] = (seen, error)
    # Whatever was published before the end is delivered first, either way.
    assert outcomes["packets"][0] == [1, 2, 3], outcomes
    assert outcomes["frames"][0] and outcomes["frames"][0][-1] == 3, outcomes
    for name, (_, error) in outcomes.items():
        if death == "clean-close":
            assert error is None, f"{name}: a clean close must end the loop quietly, got {error!r}"
        else:
            assert isinstance(error, cuframes.ProducerDiedError), f"{name}: a killed producer must raise, got {error!r}"
            assert "died without closing the stream" in str(error)
            assert error.status == cuframes.errors.ERR_PRODUCER_DIED
