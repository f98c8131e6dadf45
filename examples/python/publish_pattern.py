"""Publish a moving NV12 test pattern under a key, until Ctrl-C or --frames.

python examples/python/publish_pattern.py --key cam0
# only the group "video" (and this user) may subscribe:
python examples/python/publish_pattern.py --key cam0 --group video --allow-gid video
"""

import argparse
import time

import numpy as np

import cuframes

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--key", default="cam0")
parser.add_argument("--width", type=int, default=1280)
parser.add_argument("--height", type=int, default=720)
parser.add_argument("--fps", type=float, default=30.0)
parser.add_argument("--frames", type=int, default=0, help="stop after this many (0: run until Ctrl-C)")
parser.add_argument("--backend", choices=["auto", "cuda", "host"], default="auto")
parser.add_argument("--mode", type=lambda text: int(text, 8), default=0o660, help="socket mode, octal (default 660)")
parser.add_argument("--group", help="group (name or gid) to own the socket")
parser.add_argument("--allow-uid", action="append", default=[], help="user (name or uid) allowed to subscribe")
parser.add_argument("--allow-gid", action="append", default=[], help="group (name or gid) allowed to subscribe")
args = parser.parse_args()


def user_or_group(text: str):
    return int(text) if text.isdigit() else text


w, h = args.width, args.height
image = np.empty((h * 3 // 2, w), np.uint8)  # NV12 packed: Y rows, then interleaved UV rows
image[h:] = 128  # neutral chroma: a grey-scale pattern
ramp = np.arange(w, dtype=np.int64)

with cuframes.Publisher(
    args.key,
    w,
    h,
    "nv12",
    backend=args.backend,
    mode=args.mode,
    group=None if args.group is None else user_or_group(args.group),
    allowed_uids=[user_or_group(u) for u in args.allow_uid],
    allowed_gids=[user_or_group(g) for g in args.allow_gid],
) as pub:
    print(f"publishing {w}x{h} nv12 on {pub.backend} at {pub.socket_path}", flush=True)
    n = 0
    try:
        while args.frames == 0 or n < args.frames:
            image[:h] = ((ramp + 4 * n) % 256).astype(np.uint8)  # a ramp sliding 4 pixels a frame
            pub.send(image, pts=n)  # copies into a free slot (host or GPU) and publishes
            n += 1
            time.sleep(1.0 / args.fps)
    except KeyboardInterrupt:
        pass
    print(f"published {n} frames", flush=True)
