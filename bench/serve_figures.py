"""The figures of docs/deployment.md, measured on loopback: `cuframes serve`'s CPU per
client, the latency it adds from the producer to a remote packet and frame, and the
bandwidth of one camera.

    python bench/serve_figures.py [--seconds 10] [--clients 1,4,8] [--bitrate 4M]

Needs ffmpeg (libx264, to make the camera: 1080p25 H.264, a keyframe a second, at
--bitrate), PyAV and cuframes-rtsp-serve (scripts/build-gst.sh; found as `cuframes
serve` finds it). The camera is a file published with `cuframes publish --loop` at its
own rate. Reported:

- CPU per client: the server's CPU time (utime + stime of cuframes-rtsp-serve) over
  --seconds with N clients (`ffmpeg -rtsp_transport tcp -i URL -c copy -f null -`),
  divided by N, in % of one core;
- latency: a PyAV client over RTSP/TCP on the same host; each packet it reads is matched
  (by its last 64 bytes) to the packet in the ring, whose CLOCK_MONOTONIC write time the
  ring gives; "frame" adds the client's decode of it (PyAV, CPU);
- bandwidth: the bytes the RTSP client read from its socket per second (the client's
  /proc/PID/io rchar), beside the packets' own bytes per second.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import cuframes
from cuframes.cli.serve import find_server_program


def make_camera(folder: str, seconds: int, bitrate: str) -> str:
    path = os.path.join(folder, "camera.mp4")
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25", "-t", str(seconds)]
        + ["-c:v", "libx264", "-preset", "veryfast", "-b:v", bitrate, "-maxrate", bitrate, "-bufsize", bitrate]
        + ["-g", "25", "-bf", "0", "-pix_fmt", "yuv420p", path],
        check=True,
    )
    return path


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def client(url: str) -> subprocess.Popen:
    return subprocess.Popen(
        ["ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i", url, "-c", "copy", "-f", "null", "-"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def sent_bytes(port: int) -> list[int]:
    """bytes_sent of each established TCP connection of the server (ss -ti)."""
    shown = subprocess.run(
        ["ss", "-tinH", "state", "established", f"( sport = :{port} )"], capture_output=True, text=True, check=True
    ).stdout
    return [int(part.split(":")[1]) for part in shown.split() if part.startswith("bytes_sent:")]


def cpu_per_client(server_pid: int, url: str, port: int, counts: list[int], seconds: float) -> None:
    idle_start = cpu_seconds(server_pid)
    time.sleep(seconds)
    idle = (cpu_seconds(server_pid) - idle_start) / seconds * 100
    print(f"server CPU with no client: {idle:.2f} % of a core")
    for count in counts:
        clients = [client(url) for _ in range(count)]
        time.sleep(3)  # all playing
        start, sent = cpu_seconds(server_pid), sum(sent_bytes(port))
        time.sleep(seconds)
        used = (cpu_seconds(server_pid) - start) / seconds * 100
        rate = (sum(sent_bytes(port)) - sent) / seconds / count
        print(
            f"{count} client(s): server {used:.1f} % of a core, {(used - idle) / count:.2f} % per client; "
            f"{rate * 8 / 1e6:.2f} Mbit/s sent to each (RTSP over TCP)"
        )
        for c in clients:
            c.terminate()
            c.wait(timeout=10)


def latency(key: str, url: str, seconds: float) -> None:
    import av

    written: dict[bytes, int] = {}
    stop = threading.Event()
    payload = [0]

    def ring() -> None:
        with cuframes.PacketSubscriber(key) as packets:
            while not stop.is_set():
                try:
                    packet = packets.next(0.5)
                except cuframes.TimeoutError:
                    continue
                written[packet.data[-64:]] = packet.timestamp_ns
                payload[0] += len(packet.data)

    watcher = threading.Thread(target=ring, daemon=True)
    watcher.start()
    time.sleep(1)
    packet_ms: list[float] = []
    received: list[bytes] = []
    payload_start, started = payload[0], time.monotonic()
    # No probing buffer: packets are handed over as they come. The first second (the GOP the
    # client joins with, sent at once) is left out.
    options = {"rtsp_transport": "tcp", "fflags": "nobuffer", "probesize": "32768", "analyzeduration": "0"}
    with av.open(url, options=options) as container:
        stream = container.streams.video[0]
        codec, extradata = stream.codec_context.name, stream.codec_context.extradata
        for packet in container.demux(stream):
            arrived = time.monotonic_ns()
            data = bytes(packet)
            sent = written.get(data[-64:])
            if sent is not None and time.monotonic() - started > 1:
                packet_ms.append((arrived - sent) / 1e6)
            received.append(data)
            if time.monotonic() - started > seconds:
                break
    rate = (payload[0] - payload_start) / (time.monotonic() - started)
    stop.set()
    watcher.join(timeout=5)
    # The client's decode of a frame, timed apart from the arrivals (a slow decoder would
    # otherwise delay the reads it follows).
    decoder = av.CodecContext.create(codec, "r")
    decoder.extradata = extradata
    decode_ms = []
    for data in received:
        begun = time.monotonic_ns()
        try:
            frames = decoder.decode(av.Packet(data))
        except av.error.InvalidDataError:
            continue  # before the first keyframe
        if frames:
            decode_ms.append((time.monotonic_ns() - begun) / 1e6)
    packet_ms.sort()
    median, p95 = statistics.median(packet_ms), packet_ms[int(len(packet_ms) * 0.95)]
    decode = statistics.median(decode_ms)
    print(f"producer -> remote packet: median {median:.1f} ms, p95 {p95:.1f} ms ({len(packet_ms)} matched)")
    print(
        f"remote decode (PyAV, CPU) of a 1080p frame: median {decode:.1f} ms; producer -> remote frame about "
        f"{median + decode:.1f} ms"
    )
    print(f"the camera's packets: {rate * 8 / 1e6:.2f} Mbit/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", default="1,4,8")
    parser.add_argument("--bitrate", default="4M")
    args = parser.parse_args()
    program = find_server_program()
    if program is None:
        sys.exit("cuframes-rtsp-serve is not built (scripts/build-gst.sh); or set CUFRAMES_RTSP_SERVE")
    counts = [int(n) for n in args.clients.split(",")]
    with tempfile.TemporaryDirectory(prefix="cf-serve-") as folder:
        os.environ["CUFRAMES_DIR"] = folder
        camera = make_camera(folder, 20, args.bitrate)
        producer = subprocess.Popen(
            [sys.executable, "-m", "cuframes", "publish", camera, "--key", "cam1", "--backend", "host", "--loop"]
            + ["--max-subscribers", str(max(counts) + 4), "--slots", str(4 * max(counts) + 16)],
            stderr=subprocess.DEVNULL,
        )
        server = subprocess.Popen(
            [program, "--port", "0", "--bind", "127.0.0.1", "--dir", folder, "cam1"], stdout=subprocess.PIPE, text=True
        )
        try:
            assert server.stdout is not None
            base = server.stdout.readline().split()[1].rstrip("/")
            while not server.stdout.readline().startswith("serving cam1"):
                pass
            url = f"{base}/cam1"
            time.sleep(2)
            print(f"camera: 1920x1080 25 fps H.264 at {args.bitrate}bit/s, a keyframe a second; {os.cpu_count()} CPUs")
            cpu_per_client(server.pid, url, int(base.rsplit(":", 1)[1]), counts, args.seconds)
            latency("cam1", url, args.seconds)
        finally:
            for proc in (server, producer):
                proc.terminate()
                proc.wait(timeout=10)


if __name__ == "__main__":
    main()
