"""Receive frames on the host backend as zero-copy numpy views.

python examples/python/subscribe_numpy.py --key cam0
"""

import argparse
import time

import cuframes

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--key", default="cam0")
parser.add_argument("--frames", type=int, default=0, help="stop after this many (0: until the producer stops)")
args = parser.parse_args()

with cuframes.Subscriber(args.key, connect_timeout=30) as sub:
    print(f"connected: {sub.width}x{sub.height} {sub.format} on {sub.backend}", flush=True)
    for count, frame in enumerate(sub, start=1):  # each frame is released when the loop advances
        latency_us = (time.clock_gettime_ns(time.CLOCK_MONOTONIC) - frame.timestamp_ns) / 1000
        y = frame.y if sub.backend == "host" else frame.to_numpy()[: frame.height]  # read-only numpy view on host
        print(
            f"seq={frame.seq} pts={frame.pts} missed={frame.missed} y00={int(y[0, 0])} "
            f"mean={float(y.mean()):.1f} latency_us={latency_us:.0f}",
            flush=True,
        )
        del y  # a live view keeps its frame held: drop it before the next one
        if count == args.frames:
            break
