"""Quick publish-to-subscriber latency check, with the copy floor measured in the same run.

Run by scripts/gpu-check.sh on the GPU machine (cuda backend) and usable anywhere
(host backend). It measures, for one 1080p NV12 stream:

- borrow:    publish (after the producer's stream sync) -> a subscriber holds a zero-copy view;
- read_into: publish -> the frame is in the subscriber's own buffer, copy complete;
- publish:   what ``WritableFrame.publish()`` costs the producer (sync included);
- copy_to:   the copy alone, repeated on a frame the subscriber holds (back to back);
- floor:     one device-to-device copy of the same bytes plus a stream sync, in-process
             (a host memcpy on the host backend), back to back.

The subscriber runs in its own process and sleeps on the futex between frames (the
producer publishes every ~1 ms). Latencies are taken with CLOCK_MONOTONIC in the
subscriber against the timestamp the producer stamped at publish, so they include
the Python facade's overhead on both sides: they are what a Python user sees.

This is the quick check; the full harness with the peers is issue 4's work.

    python bench/quick.py [--backend cuda|host] [--frames 3000] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

import cuframes

WIDTH, HEIGHT = 1920, 1080
SOURCE_BUFFERS = 4  # rotated so that L2 hits do not flatter the copies
COPY_ITERATIONS = 2000


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50": pick(0.50), "p99": pick(0.99), "p999": pick(0.999), "n": len(ordered)}


def subscriber_main(key: str, directory: str, mode: str, frames: int, backend: str, results: Any) -> None:
    """Child process: collects `frames` latencies (µs) in `mode`."""
    try:
        dst = None
        stream = None
        with cuframes.Subscriber(key, dir=directory, connect_timeout=30) as sub:
            if mode == "read_into":
                if backend == "cuda":
                    import torch

                    dst = torch.empty(sub.packed_size, dtype=torch.uint8, device=f"cuda:{sub.device}")
                    stream = torch.cuda.Stream(device=sub.device)
                else:
                    dst = np.empty(sub.packed_size, dtype=np.uint8)
            results.put(("ready", None))
            latencies: list[float] = []
            missed = 0
            while len(latencies) < frames:
                if mode == "borrow":
                    frame = sub.next(timeout=10)
                    now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
                    latencies.append((now - frame.timestamp_ns) / 1e3)
                    missed += frame.missed
                    frame.release()
                else:
                    info = sub.read_into(dst, stream=stream, timeout=10)
                    now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
                    latencies.append((now - info.timestamp_ns) / 1e3)
                    missed += info.missed
            copy_us: list[float] = []
            if mode == "read_into":
                # The copy alone, back to back on a held frame: what read_into adds
                # over the wake-up, comparable with the in-process floor.
                with sub.next(timeout=10) as frame:
                    for _ in range(COPY_ITERATIONS):
                        start = time.perf_counter_ns()
                        frame.copy_to(dst, stream=stream)
                        copy_us.append((time.perf_counter_ns() - start) / 1e3)
            results.put(("done", {"latencies": latencies, "missed": missed, "copy_us": copy_us}))
    except BaseException as error:  # reported to the parent, which fails the run
        results.put(("error", f"{type(error).__name__}: {error}"))


def measure_floor(backend: str, nbytes: int, iterations: int = 2000) -> dict[str, float]:
    """One copy of a packed frame plus a sync, in-process: the physical floor for read_into."""
    samples: list[float] = []
    if backend == "cuda":
        import torch

        sources = [torch.randint(0, 255, (nbytes,), dtype=torch.uint8, device="cuda") for _ in range(SOURCE_BUFFERS)]
        targets = [torch.empty_like(sources[0]) for _ in range(SOURCE_BUFFERS)]
        stream = torch.cuda.Stream()
        for i in range(iterations + 100):
            start = time.perf_counter_ns()
            with torch.cuda.stream(stream):
                targets[i % SOURCE_BUFFERS].copy_(sources[(i + 1) % SOURCE_BUFFERS], non_blocking=True)
            stream.synchronize()
            if i >= 100:
                samples.append((time.perf_counter_ns() - start) / 1e3)
    else:
        sources = [np.random.randint(0, 255, nbytes, dtype=np.uint8) for _ in range(SOURCE_BUFFERS)]
        targets = [np.empty_like(sources[0]) for _ in range(SOURCE_BUFFERS)]
        for i in range(iterations + 100):
            start = time.perf_counter_ns()
            np.copyto(targets[i % SOURCE_BUFFERS], sources[(i + 1) % SOURCE_BUFFERS])
            if i >= 100:
                samples.append((time.perf_counter_ns() - start) / 1e3)
    return percentiles(samples)


def run_mode(mode: str, backend: str, frames: int, directory: str) -> dict[str, Any]:
    key = f"bench-{mode}-{os.getpid()}"
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    sources: list[Any]
    stream = None
    with cuframes.Publisher(key, WIDTH, HEIGHT, "nv12", backend=backend, dir=directory, slots=10) as pub:
        if backend == "cuda":
            import torch

            sources = [torch.randint(0, 255, (pub.packed_size,), dtype=torch.uint8, device=f"cuda:{pub.device}")
                       for _ in range(SOURCE_BUFFERS)]
            stream = torch.cuda.Stream(device=pub.device)
        else:
            sources = [np.random.randint(0, 255, pub.packed_size, dtype=np.uint8) for _ in range(SOURCE_BUFFERS)]
        child = ctx.Process(target=subscriber_main, args=(key, directory, mode, frames, backend, results), daemon=True)
        child.start()
        try:
            kind, payload = results.get(timeout=60)
            if kind != "ready":
                raise RuntimeError(f"subscriber failed to start: {payload}")
            publish_us: list[float] = []
            outcome = None
            i = 0
            deadline = time.monotonic() + 120
            while outcome is None and time.monotonic() < deadline:
                frame = pub.acquire(pts=i, stream=stream)
                frame.copy_from(sources[i % SOURCE_BUFFERS], stream=stream)
                start = time.perf_counter_ns()
                frame.publish()
                publish_us.append((time.perf_counter_ns() - start) / 1e3)
                i += 1
                time.sleep(0.001)  # the subscriber goes back to sleep between frames
                if not results.empty():
                    outcome = results.get()
            if outcome is None:
                raise RuntimeError(f"{mode}: subscriber did not finish in time")
            kind, payload = outcome
            if kind != "done":
                raise RuntimeError(f"{mode}: subscriber failed: {payload}")
        finally:
            child.join(timeout=10)
            if child.is_alive():
                child.kill()
                child.join(timeout=5)
    # The first frames include the subscriber's warm-up (imports, first-touch): drop 10%.
    latencies = payload["latencies"][len(payload["latencies"]) // 10:]
    result = {"latency_us": percentiles(latencies), "publish_us": percentiles(publish_us[len(publish_us) // 10:]),
              "missed": payload["missed"], "published": i}
    if payload["copy_us"]:
        result["copy_only_us"] = percentiles(payload["copy_us"][100:])
    return result


def device_description(backend: str) -> dict[str, str]:
    info = {"host": platform.node(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "backend": backend}
    if backend == "cuda":
        try:
            query = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                                   capture_output=True, text=True, timeout=20, check=True)
            name, driver = [part.strip() for part in query.stdout.splitlines()[0].split(",")]
            info.update(device=name, driver=driver)
        except (OSError, subprocess.SubprocessError, ValueError, IndexError) as error:
            info.update(device=f"unknown ({error})")
    return info


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["cuda", "host"],
                        default="cuda" if cuframes.cuda_available() else "host")
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--json", default=None, help="where to write the results (default: bench/results/)")
    args = parser.parse_args()

    packed = WIDTH * HEIGHT * 3 // 2
    report: dict[str, Any] = {"meta": device_description(args.backend), "frame": f"{WIDTH}x{HEIGHT} nv12",
                              "packed_bytes": packed}
    with tempfile.TemporaryDirectory(prefix="cuframes-bench-") as directory:
        report["floor_us"] = measure_floor(args.backend, packed)
        report["borrow"] = run_mode("borrow", args.backend, args.frames, directory)
        report["read_into"] = run_mode("read_into", args.backend, args.frames, directory)

    floor = report["floor_us"]["p50"]
    report["read_into_over_floor_p50"] = report["read_into"]["latency_us"]["p50"] / floor
    report["copy_to_over_floor_p50"] = report["read_into"]["copy_only_us"]["p50"] / floor
    paths = [args.json] if args.json else [os.path.join(os.path.dirname(__file__), "results",
                                                         f"quick-{args.backend}.json")]
    if os.environ.get("OUT"):
        paths.append(os.path.join(os.environ["OUT"], f"quick-{args.backend}.json"))
    for path in paths:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as out:
            json.dump(report, out, indent=2)

    meta = report["meta"]
    print(f"quick bench: {meta.get('device', meta['host'])} driver {meta.get('driver', '-')} "
          f"backend {args.backend}, {WIDTH}x{HEIGHT} NV12, {args.frames} frames per mode")
    row = "{:<34} {:>9} {:>9} {:>9}"
    print(row.format("publish -> subscriber (us)", "p50", "p99", "p99.9"))
    for name in ("borrow", "read_into"):
        lat = report[name]["latency_us"]
        print(row.format(f"{name} (sleeping, missed {report[name]['missed']})", f"{lat['p50']:.1f}",
                         f"{lat['p99']:.1f}", f"{lat['p999']:.1f}"))
    pub = report["borrow"]["publish_us"]
    print(row.format("producer publish() incl. sync", f"{pub['p50']:.1f}", f"{pub['p99']:.1f}", f"{pub['p999']:.1f}"))
    copy_only = report["read_into"]["copy_only_us"]
    print(row.format("copy out of a held frame (copy_to)", f"{copy_only['p50']:.1f}", f"{copy_only['p99']:.1f}",
                     f"{copy_only['p999']:.1f}"))
    print(row.format("floor: copy + sync, in-process", f"{floor:.1f}", f"{report['floor_us']['p99']:.1f}",
                     f"{report['floor_us']['p999']:.1f}"))
    print(f"read_into p50 / floor p50 = {report['read_into_over_floor_p50']:.2f}; "
          f"copy_to p50 / floor p50 = {report['copy_to_over_floor_p50']:.2f}")
    print(f"results: {', '.join(paths)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
