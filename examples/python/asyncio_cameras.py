"""One asyncio service reading 8 cameras in one thread (cuframes.aio).

Each camera is a task: ``async for frame in sub`` waits on the subscriber's socket with the
event loop, so 8 (or 100) cameras cost one thread and no CPU between frames. Here the
cameras are 8 publishers in this process (``--publish``, the default) so the example runs
alone; point it at real keys with ``--no-publish --keys cam1,cam2,...``.

    python examples/python/asyncio_cameras.py [--cameras 8] [--frames 25] [--backend host]
"""

import argparse
import asyncio
import threading
import time

import numpy as np

import cuframes
import cuframes.aio

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--cameras", type=int, default=8)
parser.add_argument("--keys", default="", help="comma-separated keys (default: asyncio-cam0, asyncio-cam1, ...)")
parser.add_argument("--frames", type=int, default=25, help="frames to read from each camera")
parser.add_argument("--fps", type=float, default=25.0, help="rate of the built-in cameras")
parser.add_argument("--backend", choices=["auto", "cuda", "host"], default="host")
parser.add_argument("--publish", action=argparse.BooleanOptionalAction, default=True, help="run the cameras here")
args = parser.parse_args()
keys = args.keys.split(",") if args.keys else [f"asyncio-cam{i}" for i in range(args.cameras)]


async def camera(key: str) -> tuple[str, int, int]:
    """Reads `args.frames` frames of one camera; returns (key, frames, frames missed)."""
    async with cuframes.aio.Subscriber(key, connect_timeout=10, delivery="sequential") as sub:
        taken = missed = 0
        async for frame in sub:
            missed += frame.missed
            taken += 1
            # Real work goes here: frame.to_tensor(), an inference call, an await on a queue...
            if taken == args.frames:
                break
        return key, taken, missed


async def publish(stop: asyncio.Event) -> None:
    """The built-in cameras: every 1/fps, each publishes a frame of its own grey level."""
    W, H = 320, 240
    pubs = [cuframes.Publisher(key, W, H, "gray8", backend=args.backend) for key in keys]
    try:
        pts = 0
        while not stop.is_set():
            for level, pub in enumerate(pubs):
                pub.send(np.full(W * H, level * 16, np.uint8), pts=pts)
            pts += 1
            await asyncio.sleep(1 / args.fps)
    finally:
        for pub in pubs:
            pub.close()


async def main() -> None:
    stop = asyncio.Event()
    cameras = asyncio.create_task(publish(stop)) if args.publish else None
    started = time.monotonic()
    cpu = time.process_time()
    results = await asyncio.gather(*(camera(key) for key in keys))
    elapsed, cpu = time.monotonic() - started, time.process_time() - cpu
    stop.set()
    if cameras is not None:
        await cameras
    for key, taken, missed in results:
        print(f"{key}: {taken} frames, {missed} missed")
    # The loop's thread reads every camera; the executor's threads only connected them.
    print(
        f"{len(keys)} cameras, {sum(t for _, t, _ in results)} frames in {elapsed:.2f} s, CPU {cpu:.2f} s; "
        f"Python threads: {threading.active_count()} (the loop and its connect executor)"
    )


asyncio.run(main())
