"""A producer of real encoded packets for the multi-process tests, run as a child:

    children.spawn(PACKET_PRODUCER, KEY, BACKEND, *options)

It encodes the test pattern (tests/encoded.py), prints "up", waits until a
packet subscriber is attached, publishes every packet (and, with --frames-too,
an NV12 frame of the same pts beside each), then closes. Options: --codec,
--frames, --gop, --size WxH, --first-pts, --pause-at INDEX --pause S,
--interval S (between packets), --ring BYTES, --description TEXT, --pts-step TICKS (pts
units per frame, default 1), --time-base N/D and --frame-rate N/D (the stream facts), --early N (packets
published before waiting for a subscriber).

A subscriber is counted when its handshake ends but chooses its join keyframe a
moment later, when it maps the ring: a producer that publishes at once can be past
the first keyframe by then (a loaded machine). With --go the producer waits for a
line on stdin instead (spawn with stdin=True; send it once the subscriber exists).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from encoded import encode

import cuframes

#: The tests' folder, for children that import the tests' helpers: an absolute path, so the
#: tests run from any working directory.
TESTS_DIR = str(Path(__file__).resolve().parent)
#: What a test passes to children.spawn: runs main() with the child's arguments.
PACKET_PRODUCER = (
    f"import sys; sys.path.insert(0, {TESTS_DIR!r}); import packet_producer; packet_producer.main(sys.argv[1:])"
)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("key")
    parser.add_argument("backend")
    parser.add_argument("--codec", default="h264")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--gop", type=int, default=10)
    parser.add_argument("--size", default="160x96")
    parser.add_argument("--first-pts", type=int, default=0)
    parser.add_argument("--pause-at", type=int, default=-1)
    parser.add_argument("--pause", type=float, default=0.0)
    parser.add_argument("--interval", type=float, default=0.0)
    parser.add_argument("--ring", type=int, default=1 << 20)
    parser.add_argument("--description", default="")
    parser.add_argument("--frames-too", action="store_true")
    parser.add_argument("--pts-step", type=int, default=1)
    parser.add_argument("--time-base")
    parser.add_argument("--frame-rate")
    parser.add_argument("--go", action="store_true", help="publish after a line on stdin")
    parser.add_argument("--early", type=int, default=0, help="packets published before a subscriber is attached")
    args = parser.parse_args(argv)
    facts = {name: getattr(args, name) for name in ("time_base", "frame_rate") if getattr(args, name)}
    width, height = (int(n) for n in args.size.split("x"))
    packets, _ = encode(args.codec, frames=args.frames, gop=args.gop, width=width, height=height)
    image = np.zeros(cuframes.packed_size("nv12", width, height), np.uint8)
    with cuframes.Publisher(
        args.key,
        width,
        height,
        backend=args.backend,
        packet_ring_bytes=args.ring,
        description=args.description,
        **facts,
    ) as pub:
        print("up", flush=True)
        if args.go:
            sys.stdin.readline()

        def wait_for_a_subscriber() -> None:
            deadline = time.monotonic() + 20
            while pub.packet_subscriber_count == 0 and time.monotonic() < deadline:
                time.sleep(0.01)

        for index, packet in enumerate(packets):
            if index == args.early:
                wait_for_a_subscriber()
            if index == args.pause_at:
                time.sleep(args.pause)
            pts = args.first_pts + packet.pts * args.pts_step
            pub.publish_packet(packet.data, pts=pts, keyframe=packet.keyframe, codec=args.codec)
            if args.frames_too:
                pub.send(image, pts=pts)
            if args.interval:
                time.sleep(args.interval)
        if args.early >= len(packets):
            wait_for_a_subscriber()
        time.sleep(0.2)  # the subscribers drain the ring before the producer's end


if __name__ == "__main__":
    main(sys.argv[1:])
