"""Fan-out: one producer, many subscriber processes, 1080p NV12 on the cuda backend.

- ``max-rate``: the producer publishes as fast as it can (copy from a rotating source,
  sync, publish) to 1, 4, 16 or 64 sleeping subscribers that borrow every frame they
  get and release it. Reported: frames/s published and delivered per subscriber,
  publish() latency under load, and the producer's overhead over the sync (acquire +
  ring + wake-up), which should not grow with the subscriber count: as
  Publisher.last_timing reports it (``overhead_us``) and on the caller's clock
  (``overhead_caller_us``: acquire() + publish() after the producer's own stream sync).
- ``25fps``: the producer publishes at 25 fps to 64 subscribers (16 with --quick) in
  sequential delivery. Each frame carries its sequence number in its first and last
  8 bytes; every subscriber reads both (a device-to-host copy of 8 bytes each, the
  second after holding the frame 2 ms) and counts a frame torn if they disagree with
  the frame's pts. Reported: torn and missed frames, CPU per subscriber, and the producer's
  overhead at 25 fps with 64 subscribers (judged like the max-rate one: the CPUs are idle
  between frames here, so it is the real rate's figure). The 66 slots make this no tear
  test (a slot comes back every 2.6 s against a 2 ms hold): bench/harness/tear.py is one.
"""

from __future__ import annotations

import os
import struct
import time
from typing import Any

from .common import FRAME_SIZES, SOURCE_BUFFERS, Children, PublishTimes, Settings, percentiles, reporting_errors, row

SIZE = "1080p"


class _DeviceReader:
    """Reads a few bytes of device memory through the driver API (cuda.bindings,
    light to import: 64 subscribers cannot each afford torch)."""

    def __init__(self, ordinal: int) -> None:
        from cuda.bindings import driver

        self._driver = driver
        self._check(driver.cuInit(0), "cuInit")
        device = self._check(driver.cuDeviceGet(ordinal), "cuDeviceGet")
        self._context = self._check(driver.cuDevicePrimaryCtxRetain(device), "cuDevicePrimaryCtxRetain")
        self._device = device
        self._check(driver.cuCtxSetCurrent(self._context), "cuCtxSetCurrent")

    def _check(self, result: Any, what: str) -> Any:
        err, *rest = result if isinstance(result, tuple) else (result,)
        if int(err) != 0:
            raise RuntimeError(f"{what} failed: {err}")
        return rest[0] if len(rest) == 1 else rest

    def int64_at(self, address: int) -> int:
        import numpy as np

        out = np.zeros(1, dtype=np.int64)
        self._check(self._driver.cuMemcpyDtoH(out.ctypes.data, address, 8), "cuMemcpyDtoH")
        return int(out[0])

    def words(self, address: int, count: int, stride: int) -> Any:
        """``count`` 32-bit words, ``stride`` bytes apart from ``address`` (one 2D copy), as numpy."""
        import numpy as np

        drv = self._driver
        out = np.zeros(count, dtype=np.uint32)
        copy = drv.CUDA_MEMCPY2D()
        copy.srcMemoryType = drv.CUmemorytype.CU_MEMORYTYPE_DEVICE
        copy.srcDevice = address
        copy.srcPitch = stride
        copy.dstMemoryType = drv.CUmemorytype.CU_MEMORYTYPE_HOST
        copy.dstHost = out.ctypes.data
        copy.dstPitch = 4
        copy.WidthInBytes = 4
        copy.Height = count
        self._check(drv.cuMemcpy2D(copy), "cuMemcpy2D")
        return out

    def set_words(self, address: int, count: int, stride: int, value: int) -> None:
        """Sets ``count`` 32-bit words ``stride`` bytes apart to ``value``, complete on return."""
        self._check(self._driver.cuMemsetD2D32(address, stride, value, 1, count), "cuMemsetD2D32")
        self._check(self._driver.cuCtxSynchronize(), "cuCtxSynchronize")

    def close(self) -> None:
        self._driver.cuDevicePrimaryCtxRelease(self._device)


def subscriber_main(results: Any, key: str, directory: str, seconds: float, check_torn: bool) -> None:
    """Child: borrows frames for `seconds` after the first; reports counts and CPU."""
    with reporting_errors(results):
        import cuframes

        delivery = "sequential" if check_torn else "latest"
        with cuframes.Subscriber(key, dir=directory, connect_timeout=60, delivery=delivery) as sub:
            reader = _DeviceReader(sub.device) if check_torn else None
            results.put(("ready", None))
            received = missed = torn = 0
            first = sub.next(timeout=30)
            first.release()
            cpu0, wall0 = time.process_time(), time.monotonic()
            end = wall0 + seconds
            while time.monotonic() < end:
                try:
                    frame = sub.next(timeout=max(0.001, end - time.monotonic()))
                except cuframes.TimeoutError:
                    break
                except cuframes.DisconnectedError:
                    break
                received += 1
                missed += frame.missed
                if reader is not None:
                    iface = frame.__cuda_array_interface__  # the whole frame, Y rows then UV rows
                    base = iface["data"][0]
                    rows, cols = iface["shape"][0], iface["shape"][1]
                    pitch = iface["strides"][0] if iface.get("strides") else cols
                    head = reader.int64_at(base)
                    time.sleep(0.002)  # held: the producer must not write this slot meanwhile
                    tail = reader.int64_at(base + (rows - 1) * pitch + cols - 8)
                    if head != frame.pts or tail != frame.pts:
                        torn += 1
                frame.release()
            cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
            if reader is not None:
                reader.close()
            results.put(
                (
                    "done",
                    {
                        "received": received,
                        "missed": missed,
                        "torn": torn,
                        "checked": check_torn,
                        "cpu_percent": 100 * cpu / wall,
                        "wall": wall,
                    },
                )
            )


def run_fanout(settings: Settings, subscribers: int, fps: float | None, seconds: float, torch: Any) -> list[dict]:
    import cuframes

    width, height = FRAME_SIZES[SIZE]
    check_torn = fps is not None
    key = f"fan-{subscribers}-{'max' if fps is None else int(fps)}-{os.getpid()}"
    case = "max-rate" if fps is None else f"{fps:g}fps"
    # Every subscriber may hold one frame; two more slots let the producer always find a free one.
    with (
        cuframes.Publisher(
            key,
            width,
            height,
            "nv12",
            backend="cuda",
            dir=settings.work_dir,
            slots=max(8, subscribers + 2),
            max_subscribers=subscribers,
            max_held=1,
        ) as pub,
        Children() as children,
    ):
        sources = [
            torch.randint(0, 255, (pub.packed_size,), dtype=torch.uint8, device=f"cuda:{pub.device}")
            for _ in range(SOURCE_BUFFERS)
        ]
        stream = torch.cuda.Stream(device=pub.device)
        # At 25 fps half the subscribers check every frame for tearing (two small
        # device-to-host copies a frame, which cost CPU of their own); the other
        # half only borrow and release: their CPU is what a subscriber costs.
        for index in range(subscribers):
            children.start(subscriber_main, key, settings.work_dir, seconds, check_torn and index % 2 == 0)
        for _ in range(subscribers):
            children.expect("ready", timeout=120)
        times = PublishTimes()
        done: list[dict] = []
        i = 0
        start = time.monotonic()
        next_at = start
        deadline = start + seconds + 60
        while len(done) < subscribers:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{case} x{subscribers}: only {len(done)} subscribers finished")
            i += 1
            frame, acquire_us = times.acquire(pub, pts=i, stream=stream)
            frame.copy_from(sources[i % SOURCE_BUFFERS], stream=stream)
            if check_torn:
                with torch.cuda.stream(stream):
                    stamp = torch.tensor(list(struct.pack("<q", i)), dtype=torch.uint8).to(
                        sources[0].device, non_blocking=False
                    )
                    view = torch.from_dlpack(frame)
                    view[0, :8].copy_(stamp)
                    view[-1, -8:].copy_(stamp)
                    del view
            times.publish(pub, frame, synced_by=stream, acquire_call_us=acquire_us)
            if fps is not None:
                next_at += 1.0 / fps
                time.sleep(max(0.0, next_at - time.monotonic()))
            while not children.results.empty():
                kind, payload = children.results.get()
                if kind != "done":
                    raise RuntimeError(f"{case} x{subscribers}: subscriber failed: {payload}")
                done.append(payload)
        elapsed = time.monotonic() - start
    received = [d["received"] for d in done]
    fields = dict(
        subscribers=subscribers,
        published=i,
        published_fps=i / elapsed,
        delivered_fps_mean=sum(d["received"] / d["wall"] for d in done) / len(done),
        delivered_fps_min=min(d["received"] / d["wall"] for d in done),
        received_min=min(received),
        missed=sum(d["missed"] for d in done),
        torn=sum(d["torn"] for d in done) if check_torn else None,
        checked_for_tearing=sum(1 for d in done if d["checked"]),
        cpu_percent_per_subscriber=percentiles(
            [d["cpu_percent"] for d in done if not d["checked"]] or [d["cpu_percent"] for d in done]
        ),
        cpu_percent_per_checking_subscriber=percentiles([d["cpu_percent"] for d in done if d["checked"]]),
    )
    skip = min(len(times.call_us) // 10, 100)
    return [
        row(
            "fanout",
            "cuframes",
            case,
            SIZE,
            publish_latency_us=percentiles(times.call_us[skip:]),
            overhead_us=percentiles(times.overhead_us[skip:]),
            overhead_caller_us=percentiles(times.caller_us[skip:]),
            acquire_us=percentiles(times.acquire_us[skip:]),
            wake_us=percentiles(times.wake_us[skip:]),
            **fields,
        )
    ]


def run(settings: Settings) -> list[dict[str, Any]]:
    import torch

    rows: list[dict[str, Any]] = []
    counts = (1, 16) if settings.quick else (1, 4, 16, 64)
    seconds = 2.0 if settings.quick else 4.0
    plan = [(n, None, seconds) for n in counts] + [
        (16 if settings.quick else 64, 25.0, 4.0 if settings.quick else 10.0)
    ]
    for subscribers, fps, duration in plan:
        try:
            rows += run_fanout(settings, subscribers, fps, duration, torch)
        except Exception as error:  # report and go on with the next configuration
            rows.append(
                row(
                    "fanout",
                    "cuframes",
                    "max-rate" if fps is None else f"{fps:g}fps",
                    SIZE,
                    subscribers=subscribers,
                    error=f"{type(error).__name__}: {error}",
                )
            )
    return rows


if __name__ == "__main__":
    from .standalone import main

    main(run)
