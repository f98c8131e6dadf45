"""The NVR recipe of docs/ffmpeg.md, measured: three ffmpeg consumers of one decoded camera
against three ffmpegs that each decode the camera themselves.

    python bench/ffmpeg_nvr.py [--ffmpeg build/ffmpeg/bin/ffmpeg] [--seconds 15] [--consumers 3]

Needs a GPU, nvidia-smi and an ffmpeg built by scripts/build-ffmpeg.sh with CUDA (NVDEC,
NVENC, scale_cuda) and libx264 (to make the clip). Both setups run the camera in real time
(25 fps, 1080p H.264, made here with libx264) and give each consumer the same work: scale_cuda
to 640x360 and h264_nvenc, or, on a GPU without NVENC (H100, H200), scale_cuda, a download of
the small frame and libx264 (ultrafast).

- **shared**: one decoder, `ffmpeg -hwaccel cuda -re -i clip -f rawvideo -pix_fmt nv12 -`
  (NVDEC), whose frames this script publishes under a cuframes key on the cuda backend; the
  consumers read `cuframes://KEY`. (The frames cross host memory once, in the producer only:
  cuframes has no FFmpeg output to publish from ffmpeg directly; `cuframes publish --decoder
  nvdec` is the production path, needing PyNvVideoCodec.)
- **separate**: each consumer decodes the clip itself with NVDEC (`-hwaccel cuda
  -hwaccel_output_format cuda -re -i clip`).

Reported per setup: each consumer's frames per second (its frame count over its wall time),
GPU memory in use above the idle baseline (nvidia-smi memory.used, the mean of the samples in
the steady half of the run) and the decoder's and encoder's utilization (nvidia-smi, the same
samples), and each process's own GPU memory (its CUDA context is much of it); per consumer,
its rate over the second half, its start-up time and what its log says of the cuframes input
(frames zero-copy, copied, missed) and of trouble. Also the cost of compiling scale_cuda's
kernels (cold and warm), paid before both setups, a third setup: the shared consumers with
no work at all, and, where PyNvVideoCodec and PyAV are installed, a fourth: the shared consumers
of `cuframes publish --decoder nvdec`, the one-process producer a deployment runs (the shared
setup's producer is two processes: memory that a deployment would not pay). Prints one table and writes
ffmpeg-nvr.json into $OUT when set.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

import cuframes

WIDTH, HEIGHT, FPS = 1920, 1080, 25
#: The fourth setup's name: the shared consumers of a producer that is one process.
ONE_PROCESS = "shared, one producer process"
FRAME_BYTES = WIDTH * HEIGHT * 3 // 2


def nvidia_smi(query: str) -> list[list[str]]:
    """nvidia-smi's answer to --query-QUERY: a row of fields per line, no header, no units."""
    out = subprocess.run(
        ["nvidia-smi", f"--query-{query}", "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    ).stdout
    return [[field.strip() for field in line.split(",")] for line in out.splitlines()]


def gpu_sample() -> dict[str, float]:
    fields = nvidia_smi("gpu=memory.used,utilization.decoder,utilization.encoder,utilization.gpu")[0]
    memory, decoder, encoder, gpu = (float(v) for v in fields)
    return {"memory_mib": memory, "decoder_pct": decoder, "encoder_pct": encoder, "gpu_pct": gpu}


def process_memory(roles: dict[int, str]) -> list[dict]:
    """The GPU memory of each process on the GPU (nvidia-smi's compute apps), named by its role
    where the pid is one of ours: where the memory of a setup goes (each process's CUDA context
    is a large share of it). A pid seen from another PID namespace has the role "?"."""
    try:
        rows = nvidia_smi("compute-apps=pid,used_memory")
    except (OSError, subprocess.SubprocessError):
        return []
    apps = []
    for fields in rows:
        try:
            pid, mib = (int(v) for v in fields)
        except ValueError:  # "[N/A]" where the driver does not say
            continue
        apps.append({"role": roles.get(pid, "?"), "pid": pid, "memory_mib": mib})
    return apps


class Sampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[tuple[float, dict[str, float]]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.samples.append((time.monotonic(), gpu_sample()))
            except (subprocess.SubprocessError, ValueError, IndexError):
                pass
            self.stop.wait(0.5)

    def steady_mean(self, start: float, end: float) -> dict[str, float]:
        middle = [s for t, s in self.samples if start + (end - start) / 2 <= t <= end]
        if not middle:
            return {}
        return {k: round(statistics.mean(s[k] for s in middle), 1) for k in middle[0]}


def make_clip(ffmpeg: str, path: str, seconds: float) -> None:
    subprocess.run(
        [
            ffmpeg,
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS}",
            "-t",
            str(seconds),
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-g",
            "50",
            "-pix_fmt",
            "yuv420p",
            path,
        ],
        check=True,
        timeout=300,
    )


def nvenc_usable(ffmpeg: str) -> bool:
    """Whether this GPU has NVENC: H100 and H200 have none (h264_nvenc fails with "unsupported
    device"), so their consumers encode on the CPU instead."""
    probe = subprocess.run(
        [ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=256x144:rate=25", "-frames:v", "1"]
        + ["-c:v", "h264_nvenc", "-f", "null", "-"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    return probe.returncode == 0


def consumer_cmd(ffmpeg: str, source: list[str], nvenc: bool | None) -> list[str]:
    """nvenc None: no work at all (the input alone, each frame dropped by the null muxer)."""
    # Without NVENC: scale on the GPU, download the small frame, encode it with libx264.
    work = ["-vf", "scale_cuda=640:360", "-c:v", "h264_nvenc"]
    if nvenc is None:
        work = ["-c:v", "wrapped_avframe"]
    elif not nvenc:
        work = ["-vf", "scale_cuda=640:360,hwdownload,format=nv12", "-c:v", "libx264", "-preset", "ultrafast"]
    # verbose: the cuframes input's closing line (frames zero-copy, copied, missed) and warnings.
    progress = ["-progress", "pipe:1"]
    return [ffmpeg, "-hide_banner", "-nostats", "-v", "verbose", *source, *work, "-f", "null", "-", *progress]


#: ffmpeg's -stats_period: the interval of its periodic progress reports.
REPORT_S = 0.5


def periodic_counts(progress: str) -> list[int]:
    """The frame counts of ffmpeg's periodic progress reports, one every REPORT_S (the closing
    report, written at the signal, is off that grid and left out)."""
    return [int(c) for c in re.findall(r"^frame=(\d+)\n(?:.*\n)*?progress=continue$", progress, re.M)]


def steady_fps(progress: str) -> float | None:
    """Frames per second over the second half of the run, start-up left out."""
    counts = periodic_counts(progress)
    if len(counts) < 4:
        return None
    half = len(counts) // 2
    return round((counts[-1] - counts[half]) / ((len(counts) - 1 - half) * REPORT_S), 1)


def scale_cuda_start_s(ffmpeg: str) -> float:
    """Wall time of one tiny ffmpeg run through scale_cuda. Its kernels come as PTX for an old
    architecture (FFmpeg 5.1 builds them for sm_30), which the driver compiles for this GPU when
    the module loads, unless CUDA's JIT cache (~/.nv/ComputeCache) has them: run twice, cold
    then warm, this is the compile's cost, which every consumer's start-up pays once."""
    start = time.monotonic()
    subprocess.run(
        [ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-frames:v", "2"]
        + ["-vf", "hwupload_cuda,scale_cuda=160:120", "-f", "null", "-"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return round(time.monotonic() - start, 2)


def startup_s(progress: str) -> float:
    """About how long a consumer ran before its first frame came out: its periodic reports that
    still said frame=0."""
    return REPORT_S * periodic_counts(progress).count(0)


def consumer_notes(stderr: str) -> list[str]:
    """What a consumer's log says about its input and its trouble, for the JSON: the cuframes
    input's lines (its stream, its closing count of frames zero-copy, copied and missed) and
    every warning or error."""
    keep = re.compile(r"cuframes|warning|error|fail|drop|dup", re.I)
    return [line.strip() for line in stderr.splitlines() if keep.search(line)][-8:]


def frames_of(progress: str) -> int:
    counts = re.findall(r"^frame=(\d+)", progress, re.M)
    return int(counts[-1]) if counts else 0


def wait_or_kill(proc: subprocess.Popen, timeout: float = 30) -> None:
    """Waits for a process that was asked to end; kills it after ``timeout`` seconds."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_consumers(commands: list[list[str]], seconds: float, sampler: Sampler, roles: dict[int, str]) -> dict:
    """Runs the consumers for `seconds`; roles names the setup's other processes (pid: role).
    A setup's result: each consumer's fps and notes, the GPU's steady mean, each process's memory."""
    fps, notes = [], []
    with contextlib.ExitStack() as files:
        # Output into files, not pipes read at the end: a verbose ffmpeg that filled a pipe's
        # 64 KiB would stall on its next line, and be measured slow.
        logs = [
            (files.enter_context(tempfile.TemporaryFile("w+")), files.enter_context(tempfile.TemporaryFile("w+")))
            for _ in commands
        ]
        start = time.monotonic()
        procs = [subprocess.Popen(c, stdout=out, stderr=err, text=True) for c, (out, err) in zip(commands, logs)]
        time.sleep(seconds)
        end = time.monotonic()
        processes = process_memory({**roles, **{p.pid: "consumer" for p in procs}})
        for p in procs:
            p.send_signal(signal.SIGINT)  # ffmpeg ends cleanly and prints its last progress
        for p, (out_file, err_file) in zip(procs, logs):
            wait_or_kill(p)
            out_file.seek(0)
            err_file.seek(0)
            out, err = out_file.read(), err_file.read()
            if p.returncode not in (0, 255, -2):
                raise RuntimeError(f"a consumer failed ({p.returncode}): {err[-800:]}")
            fps.append(round(frames_of(out) / (end - start), 1))
            notes.append(
                [f"second half: {steady_fps(out)} fps", f"first frame after about {startup_s(out):g} s"]
                + consumer_notes(err)
            )
    gpu = sampler.steady_mean(start, end)
    return {"consumer_fps": fps, "gpu": gpu, "consumer_notes": notes, "processes": processes}


def shared(
    ffmpeg: str, clip: str, consumers: int, seconds: float, sampler: Sampler, work: str, nvenc: bool | None
) -> dict:
    key = f"nvr{os.getpid()}"
    decoder = subprocess.Popen(
        [
            ffmpeg,
            "-v",
            "error",
            "-hwaccel",
            "cuda",
            "-re",
            "-stream_loop",
            "-1",
            "-i",
            clip,
            "-f",
            "rawvideo",
            "-pix_fmt",
            "nv12",
            "-",
        ],
        stdout=subprocess.PIPE,
    )
    stop = threading.Event()
    published = [0]
    with cuframes.Publisher(key, WIDTH, HEIGHT, "nv12", backend="cuda", dir=work, frame_rate=FPS) as pub:

        def publish() -> None:
            assert decoder.stdout is not None
            buffer = np.empty(FRAME_BYTES, np.uint8)
            view = memoryview(buffer)
            while not stop.is_set():
                got = 0
                while got < FRAME_BYTES:
                    n = decoder.stdout.readinto(view[got:])
                    if not n:
                        return
                    got += n
                pub.send(buffer, pts=published[0])
                published[0] += 1

        thread = threading.Thread(target=publish, daemon=True)
        thread.start()
        time.sleep(2)  # the decoder is up and publishing
        url = f"cuframes://{key}?dir={work}"
        try:
            commands = [consumer_cmd(ffmpeg, ["-i", url], nvenc)] * consumers
            roles = {decoder.pid: "decoder (ffmpeg)", os.getpid(): "publisher (this script)"}
            result = run_consumers(commands, seconds, sampler, roles)
        finally:
            stop.set()
            decoder.kill()
            decoder.wait()
            thread.join(timeout=10)
    return {**result, "producer_frames": published[0]}


def shared_one_process(
    ffmpeg: str, clip: str, consumers: int, seconds: float, sampler: Sampler, work: str, nvenc: bool
) -> dict:
    """The shared setup with the producer a deployment runs: `cuframes publish --decoder nvdec`,
    one process that decodes with NVDEC and publishes (PyNvVideoCodec), instead of the ffmpeg and
    the publisher of `shared`."""
    key = f"nvdec{os.getpid()}"
    command = [sys.executable, "-m", "cuframes", "publish", clip, "--key", key, "--dir", work]
    command += ["--loop", "--decoder", "nvdec", "--backend", "cuda"]
    with tempfile.TemporaryFile("w+") as log:
        producer = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            socket_path = os.path.join(work, f"{key}.sock")
            deadline = time.monotonic() + 60
            while not os.path.exists(socket_path):
                if producer.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"cuframes publish --decoder nvdec did not start: {log.read()[-800:]}")
                time.sleep(0.1)
            time.sleep(2)  # decoding and publishing
            commands = [consumer_cmd(ffmpeg, ["-i", f"cuframes://{key}?dir={work}"], nvenc)] * consumers
            roles = {producer.pid: "producer (cuframes publish --decoder nvdec)"}
            return run_consumers(commands, seconds, sampler, roles)
        finally:
            producer.send_signal(signal.SIGINT)
            wait_or_kill(producer)


def separate(ffmpeg: str, clip: str, consumers: int, seconds: float, sampler: Sampler, nvenc: bool) -> dict:
    source = ["-hwaccel", "cuda", "-hwaccel_output_format", "cuda", "-re", "-stream_loop", "-1", "-i", clip]
    return run_consumers([consumer_cmd(ffmpeg, source, nvenc)] * consumers, seconds, sampler, {})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ffmpeg", default=os.environ.get("CUFRAMES_FFMPEG", "build/ffmpeg/bin/ffmpeg"))
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--consumers", type=int, default=3)
    args = parser.parse_args()
    if not cuframes.cuda_available():
        print(f"ffmpeg_nvr: needs a GPU ({cuframes.cuda_unavailable_reason()})", file=sys.stderr)
        return 2
    sampler = Sampler()
    sampler.start()
    with tempfile.TemporaryDirectory(prefix="cuframes-nvr-") as work:
        clip = os.path.join(work, "camera.mp4")
        make_clip(args.ffmpeg, clip, 20)
        time.sleep(2)
        idle = gpu_sample()
        nvenc = nvenc_usable(args.ffmpeg)
        # Every setup starts with the compiled kernels cached: the first run through scale_cuda
        # (cold) would otherwise charge the compile to whichever setup came first.
        cold, warm = scale_cuda_start_s(args.ffmpeg), scale_cuda_start_s(args.ffmpeg)
        result = {
            "scale_cuda_start_s": {"cold": cold, "warm": warm},
            "idle": idle,
            "encoder": "h264_nvenc" if nvenc else "libx264 (this GPU has no NVENC)",
            "shared": shared(args.ffmpeg, clip, args.consumers, args.seconds, sampler, work, nvenc),
        }
        time.sleep(2)
        result["separate"] = separate(args.ffmpeg, clip, args.consumers, args.seconds, sampler, nvenc)
        # The input alone, no filter and no encoder: whether a slow shared consumer is slow in
        # the input or in the work after it (an H200's shared consumers ran at 0.6-5.8 fps).
        time.sleep(2)
        result["shared, input only"] = shared(args.ffmpeg, clip, args.consumers, args.seconds, sampler, work, None)
        # `cuframes publish --decoder nvdec` demuxes with PyAV and decodes with PyNvVideoCodec.
        missing = [name for name in ("PyNvVideoCodec", "av") if importlib.util.find_spec(name) is None]
        if not missing:
            time.sleep(2)
            result[ONE_PROCESS] = shared_one_process(
                args.ffmpeg, clip, args.consumers, args.seconds, sampler, work, nvenc
            )
        else:
            print(f"ffmpeg_nvr: {ONE_PROCESS!r} skipped: needs {' and '.join(missing)}", file=sys.stderr)
    sampler.stop.set()
    print(
        f"{args.consumers} consumers (scale_cuda 640x360 + {result['encoder']}) of one 1080p25 H.264 camera, "
        f"{args.seconds:g} s:"
    )
    start = result["scale_cuda_start_s"]
    print(f"setup: one ffmpeg through scale_cuda takes {start['cold']} s cold, {start['warm']} s warm")
    print("setup     consumer fps          GPU memory above idle   decoder %   encoder %   GPU %")
    setups = [name for name in ("shared", "separate", "shared, input only", ONE_PROCESS) if name in result]
    for name in setups:
        r = result[name]
        gpu = r["gpu"]
        above = gpu.get("memory_mib", float("nan")) - idle["memory_mib"]
        nan = float("nan")
        decoder, encoder, busy = (gpu.get(k, nan) for k in ("decoder_pct", "encoder_pct", "gpu_pct"))
        print(
            f"{name:9s} {str(r['consumer_fps']):21s} {above:8.0f} MiB            {decoder:6.1f}"
            f"      {encoder:6.1f}   {busy:5.1f}"
        )
    for name in setups:
        each = ", ".join(f"{a['role']} {a['memory_mib']} MiB" for a in result[name]["processes"])
        print(f"  {name}, GPU memory per process: {each or 'not reported'}")
    for name in setups:
        for index, notes in enumerate(result[name]["consumer_notes"]):
            for line in notes:
                print(f"  {name}, consumer {index}: {line}")
    if os.environ.get("OUT"):
        with open(os.path.join(os.environ["OUT"], "ffmpeg-nvr.json"), "w") as f:
            json.dump(result, f, indent=1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
