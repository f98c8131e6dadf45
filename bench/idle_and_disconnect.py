"""Two costs of a waiting subscriber: CPU while idle, and how fast it learns the producer died.

- idle CPU: a subscriber waits in next() for --idle-seconds while nothing is published;
  its process CPU time over that wall time, once through the C++ core's own wait
  (``_core.Subscriber.next``) and once through the Python facade (``Subscriber.next``,
  which waits in 1 s slices so that Ctrl-C works).
- disconnect: a producer process is SIGKILLed --kills times while a subscriber waits
  in next(); the time from the kill to DisconnectedError.

    python bench/idle_and_disconnect.py [--backend host|cuda] [--kills 20] [--idle-seconds 10]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import cuframes

PRODUCER = """
import sys, time, cuframes
pub = cuframes.Publisher(sys.argv[1], 640, 480, "nv12", backend=sys.argv[2], dir=sys.argv[3])
print("up", flush=True)
time.sleep(120)
"""


IDLE_SUBSCRIBER = """
import sys, time, cuframes
key, directory, seconds, through_core = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4] == "core"
sub = cuframes.Subscriber(key, dir=directory)
# Let the process settle first: numpy's OpenBLAS worker threads, started at import,
# busy-wait for a while (tens of ms of CPU) before they sleep; that is not ours.
time.sleep(2)
cpu, wall = time.process_time(), time.monotonic()
try:
    sub._core.next(seconds) if through_core else sub.next(timeout=seconds)
    sys.exit("a frame arrived: nothing should be published")
except cuframes.TimeoutError:
    print(100 * (time.process_time() - cpu) / (time.monotonic() - wall))
"""


def idle_cpu_percent(backend: str, directory: str, seconds: float, through_core: bool) -> float:
    """A fresh process (CUDA must not be used across fork), so its CPU time is its own."""
    key = f"idle-{'core' if through_core else 'py'}-{os.getpid()}"
    with cuframes.Publisher(key, 640, 480, "nv12", backend=backend, dir=directory):
        child = subprocess.run(
            [sys.executable, "-c", IDLE_SUBSCRIBER, key, directory, str(seconds), "core" if through_core else "facade"],
            capture_output=True,
            text=True,
            timeout=seconds + 62,
            check=True,
        )
    return float(child.stdout.strip())


def disconnect_latencies_ms(backend: str, directory: str, kills: int) -> list[float]:
    latencies = []
    for i in range(kills):
        key = f"kill-{i}-{os.getpid()}"
        producer = subprocess.Popen(
            [sys.executable, "-c", PRODUCER, key, backend, directory], stdout=subprocess.PIPE, text=True
        )
        try:
            if producer.stdout is None or producer.stdout.readline().strip() != "up":
                raise RuntimeError("the producer did not start")
            with cuframes.Subscriber(key, dir=directory) as sub:
                ended: dict[str, float] = {}

                def wait() -> None:
                    try:
                        sub.next(timeout=10)
                    except cuframes.DisconnectedError:
                        ended["at"] = time.monotonic()

                waiter = threading.Thread(target=wait)
                waiter.start()
                time.sleep(0.05)  # the waiter is asleep on the futex
                killed = time.monotonic()
                os.kill(producer.pid, signal.SIGKILL)
                waiter.join(timeout=15)
                if "at" not in ended:
                    raise RuntimeError("the subscriber never saw the producer die")
                latencies.append((ended["at"] - killed) * 1e3)
        finally:
            producer.kill()
            producer.wait(timeout=10)
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["cuda", "host"], default="cuda" if cuframes.cuda_available() else "host")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cuframes-idle-") as directory:
        core = idle_cpu_percent(args.backend, directory, args.idle_seconds, through_core=True)
        facade = idle_cpu_percent(args.backend, directory, args.idle_seconds, through_core=False)
        latencies = sorted(disconnect_latencies_ms(args.backend, directory, args.kills))
    print(
        f"idle subscriber CPU ({args.backend}, {args.idle_seconds:.0f} s): core wait {core:.3f}% of a core, "
        f"Python facade {facade:.3f}%"
    )
    print(
        f"producer SIGKILL -> DisconnectedError ({args.kills} kills): median {statistics.median(latencies):.2f} ms, "
        f"max {latencies[-1]:.2f} ms, min {latencies[0]:.2f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
