"""The packet ring and the observer: what a recorder and a monitor cost.

- ``publish_packet``: the producer's call for a P-frame-sized (20 KB) and a
  keyframe-sized (250 KB) access unit of 1080p H.264 at camera bitrates, with a
  packet subscriber attached (so the FUTEX_WAKE is included).
- packet latency: from the producer's write (the record's timestamp) to a packet
  subscriber in another process returning it from ``next()``, asleep in between.
- ``stat()``: one observer handshake (connect, snapshot, map, read) against a
  producer with 4 frame and 4 packet subscribers, and what the producer's
  ``publish_packet`` costs while a monitor polls it in a loop (should be nothing).

Host backend, CPU only: the packet ring never touches the GPU.
"""

from __future__ import annotations

import os
import time
from typing import Any

from .common import Children, Settings, latency_row, monotonic_ns, reporting_errors, row

SIZES = {"P-frame 20 KB": 20_000, "keyframe 250 KB": 250_000}
RING = 8 << 20


def _access_unit(size: int, seq: int) -> bytes:
    body = bytes([seq & 0xFF]) * (size - 5)
    return b"\0\0\0\1\x41" + body  # a non-IDR slice NAL: Annex-B as the ring requires


def subscriber_main(results: Any, key: str, folder: str, count: int) -> None:
    with reporting_errors(results):
        import cuframes

        latencies: list[float] = []
        with cuframes.PacketSubscriber(key, dir=folder, connect_timeout=30) as packets:
            results.put(("ready", None))
            while len(latencies) < count:
                packet = packets.next(30.0)
                latencies.append((monotonic_ns() - packet.timestamp_ns) / 1e3)
        results.put(("done", latencies))


def observer_main(results: Any, key: str, folder: str, seconds: float) -> None:
    with reporting_errors(results):
        import cuframes

        looks = 0
        results.put(("ready", None))
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            cuframes.stat(key, dir=folder, timeout=5)
            looks += 1
        results.put(("done", looks))


def _warm_up(pub: Any, size: int) -> None:
    """A lap and a half of the ring: the bytes the measured packets land on have been written before."""
    for seq in range(RING * 3 // (2 * size) + 1):
        pub.publish_packet(_access_unit(size, seq), pts=seq, keyframe=False)


def _publish_times(pub: Any, size: int, count: int, period_s: float) -> list[float]:
    times = []
    for seq in range(count):
        data = _access_unit(size, seq)
        start = time.perf_counter_ns()
        pub.publish_packet(data, pts=seq, keyframe=False)
        times.append((time.perf_counter_ns() - start) / 1e3)
        time.sleep(period_s)
    return times


def run(settings: Settings) -> list[dict[str, Any]]:
    import cuframes

    rows: list[dict[str, Any]] = []
    count = settings.frames // 4 if settings.quick else settings.frames // 2
    folder = os.path.join(settings.work_dir, "packets")
    os.makedirs(folder, exist_ok=True)
    key = f"packets-{os.getpid()}"
    with cuframes.Publisher(
        key, 1920, 1080, "nv12", backend="host", dir=folder, packet_ring_bytes=RING, max_subscribers=8, slots=20
    ) as pub:
        for case, size in SIZES.items():
            with Children() as children:
                children.start(subscriber_main, key, folder, count)
                children.expect("ready", 60)
                _warm_up(pub, size)
                # The subscriber joins at a keyframe: give it one.
                pub.publish_packet(b"\0\0\0\1\x65" + bytes(size - 5), pts=-1, keyframe=True)
                publish_us = _publish_times(pub, size, count, settings.period_s * 3)
                latencies = children.expect("done", 120)
            rows.append(
                latency_row(
                    "packets",
                    "cuframes",
                    f"publish_packet {case}",
                    "-",
                    publish_us,
                    note="the producer's call, FUTEX_WAKE of 1 packet subscriber included",
                )
            )
            rows.append(
                latency_row(
                    "packets",
                    "cuframes",
                    f"packet latency {case}",
                    "-",
                    latencies,
                    note="record written -> next() returns in another process (asleep between)",
                )
            )

        # A monitor polling stat() as fast as it can, with 4 + 4 subscribers attached.
        frames = [cuframes.Subscriber(key, dir=folder) for _ in range(4)]
        packets = [cuframes.PacketSubscriber(key, dir=folder) for _ in range(4)]
        try:
            start = time.perf_counter()
            looks = 200
            for _ in range(looks):
                cuframes.stat(key, dir=folder)
            stat_ms = (time.perf_counter() - start) * 1e3 / looks
            rows.append(
                row(
                    "packets",
                    "cuframes",
                    "stat() with 4 frame + 4 packet subscribers",
                    "-",
                    value=round(stat_ms, 3),
                    unit="ms",
                    note="one observer handshake: connect, snapshot, map header and packet ring",
                )
            )
            quiet = _publish_times(pub, SIZES["P-frame 20 KB"], count // 2, settings.period_s * 3)
            with Children() as children:
                children.start(observer_main, key, folder, 5.0)
                children.expect("ready", 60)
                watched = _publish_times(pub, SIZES["P-frame 20 KB"], count // 2, settings.period_s * 3)
                polls = children.expect("done", 60)
            rows.append(latency_row("packets", "cuframes", "publish_packet 20 KB, 4+4 subscribers", "-", quiet))
            rows.append(
                latency_row(
                    "packets",
                    "cuframes",
                    "publish_packet 20 KB, while stat() polls",
                    "-",
                    watched,
                    note=f"a monitor process made {polls} stat() calls meanwhile",
                )
            )
        finally:
            for subscriber in (*frames, *packets):
                subscriber.close()
    return rows
