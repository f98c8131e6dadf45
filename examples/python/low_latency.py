"""The latency knobs in one place: a producer that publishes stream-ordered (it never
waits for the GPU) and a subscriber that spins instead of sleeping, with what each
frame cost printed at the end. With "latest" delivery a consumer that falls behind
(a loaded machine) skips to the newest frame: it reports how many frames it received
and skipped, and exits non-zero only on an error.

    python examples/python/low_latency.py [--frames 500] [--backend cuda|host] [--no-spin]

On the host backend stream-ordered publishing does not apply (a CPU copy is complete
when it returns), so the producer publishes normally there. See docs/performance.md.
"""

import argparse
import statistics
import sys
import threading
import time

import numpy as np

import cuframes

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--key", default="low-latency-demo")
parser.add_argument("--frames", type=int, default=500)
parser.add_argument("--backend", choices=["cuda", "host"], default="cuda" if cuframes.cuda_available() else "host")
parser.add_argument("--no-spin", action="store_true", help="sleep on the futex instead (no CPU while idle)")
args = parser.parse_args()

stream_ordered = args.backend == "cuda"
latencies_us: list[float] = []
overheads_us: list[float] = []
skipped = 0
failures: list[BaseException] = []

with cuframes.Publisher(args.key, 1920, 1080, "nv12", backend=args.backend, stream_ordered=stream_ordered) as pub:
    # spin: poll the shared sequence for up to 5 ms before sleeping; a little more
    # than the frame period keeps this subscriber spinning while frames flow.
    with cuframes.Subscriber(args.key, spin=0.0 if args.no_spin else 0.005) as sub:
        ready = threading.Event()

        def consume() -> None:
            # "latest" delivery hands out the newest frame: a consumer that falls behind
            # (a loaded machine) skips frames, counted in frame.missed, and always gets
            # the last one. So read until the last pts, not a number of frames.
            global skipped
            ready.set()
            try:
                pts = -1
                while pts < args.frames - 1:
                    with sub.next(timeout=10) as frame:
                        # The frame is complete here, whichever way it was published.
                        latencies_us.append((time.clock_gettime_ns(time.CLOCK_MONOTONIC) - frame.timestamp_ns) / 1e3)
                        skipped += frame.missed
                        pts = frame.pts
            except BaseException as error:  # re-raised by the main thread: the example fails
                failures.append(error)

        consumer = threading.Thread(target=consume)
        consumer.start()
        ready.wait()
        image = np.zeros(pub.packed_size, dtype=np.uint8)
        for pts in range(args.frames):
            image[:16] = pts % 256
            with pub.frame(pts=pts) as frame:  # published when the block ends
                frame.copy_from(image)
            overheads_us.append(pub.last_timing.overhead_ns / 1e3)
            time.sleep(0.002)
        consumer.join(timeout=30)
        if consumer.is_alive():
            sys.exit("the consumer did not receive the last frame within 30 s")
if failures:
    raise failures[0]

print(
    f"{len(latencies_us)} of {args.frames} frames received on {args.backend} ({skipped} skipped by latest "
    f"delivery), stream_ordered={stream_ordered}, spin={'off' if args.no_spin else '5 ms'}"
)
print(f"publish -> subscriber holds the frame: p50 {statistics.median(latencies_us):.1f} us")
print(f"producer overhead over the sync (acquire + ring + wake-up): p50 {statistics.median(overheads_us):.2f} us")
