"""Decode a stream's encoded packets with PyAV, as from any other input.

    python examples/python/decode_with_pyav.py --key cam1 [--frames 100]

``cuframes.av.open`` gives a PyAV input container over the packet ring; its
``demux()`` and ``decode()`` carry the pts the producer published, which equal
the pts of the decoded frames in the frame ring, so the two can be joined."""

from __future__ import annotations

import argparse

import cuframes.av


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--key", required=True)
    parser.add_argument(
        "--frames", type=int, default=None, help="stop after this many (default: until the producer closes)"
    )
    args = parser.parse_args()

    decoded = 0
    with cuframes.av.open(f"cuframes://{args.key}") as source:
        codec = source.streams.video[0].codec_context.name
        for frame in source.decode(video=0):
            decoded += 1
            image = frame.to_ndarray(format="rgb24")  # or frame.reformat(...), frame.to_image() ...
            print(f"frame pts={frame.pts} {frame.width}x{frame.height} {codec} mean={image.mean():.1f}")
            if args.frames is not None and decoded >= args.frames:
                break
    print(f"decoded {decoded} frames")


if __name__ == "__main__":
    main()
