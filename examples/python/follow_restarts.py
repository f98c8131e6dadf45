"""Follow a key across producer restarts (Subscriber(reconnect=True)).

    python examples/python/follow_restarts.py --key cam0

Restart the producer meanwhile: this subscriber carries on with the new one and
says how many frames were lost in between.
"""

import argparse

import cuframes

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--key", default="cam0")
parser.add_argument("--restarts", type=int, default=0, help="stop after following this many (0: never)")
parser.add_argument("--frames-after", type=int, default=5, help="frames to show after the last restart")
parser.add_argument("--wait", type=float, default=30.0, help="seconds to wait for a producer to (re)appear")
args = parser.parse_args()

after_last = None
with cuframes.Subscriber(args.key, connect_timeout=args.wait, reconnect=True) as sub:
    print(f"connected: {sub.width}x{sub.height} {sub.format} on {sub.backend}, epoch {sub.epoch:#x}", flush=True)
    while after_last is None or after_last < args.frames_after:
        with sub.next(timeout=args.wait) as frame:  # TimeoutError if no producer comes back in time
            if frame.reconnected:
                print(f"producer restarted: epoch {frame.epoch:#x}, {frame.missed} frames lost", flush=True)
                if sub.reconnect_count == args.restarts:
                    after_last = 0
            if after_last is not None:
                after_last += 1
                print(f"seq={frame.seq} pts={frame.pts} missed={frame.missed}", flush=True)
