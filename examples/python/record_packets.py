"""Record a camera's own encoded stream, without re-encoding: the NVR side.

    python examples/python/record_packets.py --key cam1 --out cam1.h264 [--packets 250]

Writes an Annex-B elementary stream that starts at a keyframe with its
parameter sets; ``ffmpeg -f h264 -i cam1.h264 -c copy cam1.mp4`` muxes it.
The producer needs a packet ring (``Publisher(..., packet_ring_bytes=8 << 20)``,
or ``cuframes publish SOURCE --key cam1``). No GPU is needed here, even when the
frames are on the cuda backend."""

from __future__ import annotations

import argparse

import cuframes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--key", required=True)
    parser.add_argument("--out", required=True, help="output file (Annex-B H.264/H.265)")
    parser.add_argument(
        "--packets", type=int, default=None, help="stop after this many (default: until the producer closes)"
    )
    args = parser.parse_args()

    written = keyframes = lost = 0
    with cuframes.PacketSubscriber(args.key, connect_timeout=10.0) as packets, open(args.out, "wb") as out:
        for packet in packets:  # ends when the producer closes
            if packet.overruns:
                # We fell more than the ring behind; the stream resumes at a keyframe.
                lost += packet.overruns
            out.write(packet.data)
            written += 1
            keyframes += packet.keyframe
            if args.packets is not None and written >= args.packets:
                break
    print(f"recorded {written} {packet.codec} packets ({keyframes} keyframes, {lost} lost) to {args.out}")


if __name__ == "__main__":
    main()
