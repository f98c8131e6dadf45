"""Stream facts: a custom producer states its time base, frame rate and colours
once; a subscriber reads them and gets each frame's time in seconds.

    python examples/python/stream_facts.py --key facts-demo
"""

import argparse
from fractions import Fraction

import numpy as np

import cuframes

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--key", default="facts-demo")
parser.add_argument("--frames", type=int, default=5)
parser.add_argument("--backend", choices=["auto", "cuda", "host"], default="host")
args = parser.parse_args()

W, H = 320, 240
with (
    cuframes.Publisher(
        args.key,
        W,
        H,
        "nv12",
        backend=args.backend,
        time_base=Fraction(1, 90_000),  # pts count 90 kHz ticks
        frame_rate=Fraction(30_000, 1001),  # 29.97 fps nominal
        color=cuframes.ColorInfo.BT709,  # or ColorInfo(matrix="bt601", range="tv"), or H.273 ints
        sample_aspect_ratio=1,
    ) as pub,
    cuframes.Subscriber(args.key, delivery="sequential") as sub,
):
    print(f"time base {sub.time_base}, rate {sub.frame_rate}, colour {sub.color}, aspect {sub.sample_aspect_ratio}")
    image = np.zeros(pub.packed_size, np.uint8)
    for n in range(args.frames):
        pub.send(image, pts=n * 3003)  # one frame at 29.97 fps, in 1/90000
        with sub.next(timeout=5) as frame:
            print(f"pts={frame.pts} time={frame.time:.4f} s")
