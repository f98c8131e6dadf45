"""No leaks: whatever a subscriber or a producer takes (descriptors, memfds,
mappings, memory, GPU memory) it gives back, after a thousand subscribers, a
clean close, or a failed attempt.

Usage is read from /proc: descriptors (/proc/<pid>/fd), memfds among them
(links to "/memfd:..."), mappings (lines of /proc/<pid>/maps) and resident
memory (VmRSS). Baselines are taken after a warm-up, so that what a process
sets up once (the CUDA driver, a cached thread stack, lazily imported code)
does not count as a leak.
"""

from __future__ import annotations

import gc
import inspect
import json
import os
import shutil
import signal
import socket
import time

import numpy as np
import pytest

import cuframes

W, H, FORMAT = 320, 180, "nv12"
CYCLES = 1000
WARM_UP_CYCLES = 20
# Resident memory may move a little without anything leaking: the allocator
# keeps freed blocks, numpy and pybind11 cache small objects, and a report
# line or an exception object lands on a fresh page. A leak of what a
# subscriber maps (ten 86 KiB slots per cycle) or of any per-cycle buffer
# would exceed this many times over after a thousand cycles.
RSS_SLACK_KIB = 4096
# cuMemGetInfo counts the whole device. Every difference seen on an H100 was
# exactly 0 (the primary contexts are held throughout, see
# retain_primary_context); a leaked VMM slot is at least 2 MiB (the
# allocation granularity), so a few leaked slots, or one Publisher's ten,
# exceed this.
GPU_SLACK_BYTES = 4 << 20
SETTLE_S = 2.0  # a departed subscriber is dropped asynchronously


# Functions that child processes need too travel as source (inspect.getsource),
# hence the imports inside them.


def frame_pattern(seq: int, size: int):
    """The bytes of frame `seq`: each depends on its position and on seq."""
    import numpy as np

    return ((np.arange(size, dtype=np.uint64) * 31 + seq * 7) % 251).astype(np.uint8)


def usage(pid: int | str = "self") -> dict[str, int]:
    """Descriptors, memfds, mappings and resident memory (KiB) of a process."""
    import os

    fds = os.listdir(f"/proc/{pid}/fd")
    memfds = 0
    for fd in fds:
        try:
            memfds += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("/memfd:")
        except OSError:  # closed meanwhile (or the listing's own descriptor)
            pass
    with open(f"/proc/{pid}/maps") as maps:
        mappings = sum(1 for _ in maps)
    with open(f"/proc/{pid}/status") as status:
        rss_kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return {"fds": len(fds), "memfds": memfds, "maps": mappings, "rss_kib": rss_kib}


def retain_primary_context(device: int = 0):
    """Retains the GPU's primary context; returns the function that releases
    it, or None without cuda-python. While it is retained, the retain and
    release of each Publisher and Subscriber never create or destroy it: a
    context created anew costs the driver host memory that would look like a
    leak, and one destroyed would hide a leak inside it."""
    try:
        from cuda.bindings import driver
    except ImportError:
        return None
    (result,) = driver.cuInit(0)
    assert result == driver.CUresult.CUDA_SUCCESS, result
    result, dev = driver.cuDeviceGet(device)
    assert result == driver.CUresult.CUDA_SUCCESS, result
    result, _context = driver.cuDevicePrimaryCtxRetain(dev)
    assert result == driver.CUresult.CUDA_SUCCESS, result
    return lambda: driver.cuDevicePrimaryCtxRelease(dev)


def gpu_free_bytes(device: int = 0) -> int:
    """Free memory of the GPU (cuMemGetInfo; needs cuda-python), device-wide."""
    from cuda.bindings import driver

    def check(result):
        assert result[0] == driver.CUresult.CUDA_SUCCESS, result
        return result[1:]

    check(driver.cuInit(0))
    (dev,) = check(driver.cuDeviceGet(device))
    (context,) = check(driver.cuDevicePrimaryCtxRetain(dev))
    try:
        check(driver.cuCtxPushCurrent(context))
        try:
            free, _total = check(driver.cuMemGetInfo())
        finally:
            check(driver.cuCtxPopCurrent())
    finally:
        check(driver.cuDevicePrimaryCtxRelease(dev))
    return int(free)


def own_usage() -> dict[str, int]:
    gc.collect()
    return usage()


EVERYTHING = ("fds", "memfds", "maps", "rss_kib")


# Under a sanitizer (scripts/sanitize.sh sets CUFRAMES_SANITIZER), memory is
# held in the runtime's quarantine and shadow mappings grow on their own:
# only descriptors and memfds say anything there. ASan's own leak checker
# covers memory in the C++ tests.
SANITIZED = bool(os.environ.get("CUFRAMES_SANITIZER"))


def is_back(now: dict[str, int], baseline: dict[str, int], what=EVERYTHING) -> bool:
    if SANITIZED:
        what = tuple(k for k in what if k in ("fds", "memfds"))
    return all(now[k] <= baseline[k] + RSS_SLACK_KIB if k == "rss_kib" else now[k] == baseline[k] for k in what)


def settled(measure, baseline: dict[str, int], what=EVERYTHING, timeout: float = SETTLE_S) -> dict[str, int]:
    """Measures until usage is back to the baseline (resident memory within
    RSS_SLACK_KIB of it) or the time is up; returns the last measurement."""
    deadline = time.monotonic() + timeout
    while True:
        now = measure()
        if is_back(now, baseline, what) or time.monotonic() >= deadline:
            return now
        time.sleep(0.05)


def assert_back_to(now: dict[str, int], baseline: dict[str, int], who: str, what=EVERYTHING) -> None:
    assert is_back(now, baseline, what), f"{who}: {what} went from {baseline} to {now}"


def assert_gpu_memory_back(free: int, baseline: int, who: str) -> None:
    print(f"GPU free memory {who}: {(free - baseline) / 2**20:+.1f} MiB")
    assert free >= baseline - GPU_SLACK_BYTES, f"GPU free memory {who} fell by {(baseline - free) / 2**20:.1f} MiB"


@pytest.fixture
def gpu_memory(backend):
    """On the cuda backend with cuda-python: gpu_free_bytes, with the primary
    context retained by this process meanwhile (see retain_primary_context).
    Otherwise None, and the GPU memory part of a test is skipped."""
    release = retain_primary_context() if backend == "cuda" else None
    if release is None:
        yield None
        return
    try:
        yield gpu_free_bytes
    finally:
        release()


# Publishes frame_pattern(seq) at about 200 frames a second until killed.
# SIGUSR1: prints a report (subscriber_count and, on cuda, the GPU's free memory).
PRODUCER = (
    inspect.getsource(frame_pattern)
    + inspect.getsource(gpu_free_bytes)
    + f"""
try:
    import cuda.bindings
    have_cuda_python = True
except ImportError:
    have_cuda_python = False
import json, signal, sys, time
import cuframes

key, backend = sys.argv[1], sys.argv[2]
requests = []
signal.signal(signal.SIGUSR1, lambda *_: requests.append(1))
with cuframes.Publisher(key, {W}, {H}, "{FORMAT}", backend=backend) as pub:
    print(json.dumps({{"event": "ready"}}), flush=True)
    while True:
        seq = pub.last_seq + 1
        pub.send(frame_pattern(seq, pub.packed_size), pts=seq)
        if requests:
            requests.clear()
            print(json.dumps({{"event": "report", "subscribers": pub.subscriber_count,
                              "gpu_free": gpu_free_bytes() if backend == "cuda" and have_cuda_python else None}}),
                  flush=True)
        time.sleep(0.005)
"""
)


def producer_report(children, producer) -> dict:
    os.kill(producer.pid, signal.SIGUSR1)
    return json.loads(children.read_line(producer, '{"event": "report"', timeout=10))


def report_once_alone(children, producer, timeout: float = 10.0) -> dict:
    """A report once the producer counts no subscriber, or the last one after ``timeout``:
    it sees a departure on its server thread, a moment after the subscriber closed (under
    ASan on a loaded machine, after the test's next report)."""
    deadline = time.monotonic() + timeout
    while True:
        report = producer_report(children, producer)
        if report["subscribers"] == 0 or time.monotonic() >= deadline:
            return report
        time.sleep(0.05)


def test_a_thousand_subscribers_leave_nothing_behind_on_either_side(key, backend, children, gpu_memory) -> None:
    producer = children.spawn(PRODUCER, key, backend)
    children.read_line(producer, '{"event": "ready"')

    def cycle() -> None:
        with cuframes.Subscriber(key, connect_timeout=10) as sub, sub.next(timeout=10) as frame:
            assert frame.pts == frame.seq
            assert np.array_equal(frame.to_numpy().reshape(-1), frame_pattern(frame.seq, frame.packed_size))

    for _ in range(WARM_UP_CYCLES):
        cycle()
    assert report_once_alone(children, producer)["subscribers"] == 0  # also loads what a report needs
    own_baseline = own_usage()
    producer_baseline = usage(producer.pid)
    gpu_baseline = gpu_memory() if gpu_memory else None
    producer_gpu_baseline = producer_report(children, producer)["gpu_free"]

    started = time.monotonic()
    for _ in range(CYCLES):
        cycle()
    elapsed = time.monotonic() - started

    assert_back_to(settled(own_usage, own_baseline), own_baseline, "the subscriber process")
    assert_back_to(settled(lambda: usage(producer.pid), producer_baseline), producer_baseline, "the producer")
    report = report_once_alone(children, producer)
    assert report["subscribers"] == 0
    if gpu_baseline is not None:
        assert_gpu_memory_back(gpu_memory(), gpu_baseline, "seen by the subscriber")
    if producer_gpu_baseline is not None:
        assert_gpu_memory_back(report["gpu_free"], producer_gpu_baseline, "seen by the producer")
    print(f"{CYCLES} subscriber cycles in {elapsed:.1f} s")


# One producer process through three lifetimes of a Publisher, each serving
# subscribers and then closed cleanly while they are still attached. argv:
# key, backend. Prints its usage (and what the socket folder holds) before the
# first Publisher and after each close, as JSON lines. Each SIGUSR1 moves it
# on: create a Publisher and publish, then close it and report, and so on.
CLOSING_PRODUCER = (
    inspect.getsource(frame_pattern)
    + inspect.getsource(usage)
    + inspect.getsource(retain_primary_context)
    + f"""
import gc, json, os, signal, sys, threading, time
import numpy as np
import cuframes

key, backend = sys.argv[1], sys.argv[2]
go = threading.Event()
signal.signal(signal.SIGUSR1, lambda *_: go.set())

def report(event, **extra):
    gc.collect()
    folder = sorted(os.listdir(os.environ["CUFRAMES_DIR"]))
    print(json.dumps({{"event": event, "folder": folder, "context_held": context_held, **usage(), **extra}}),
          flush=True)

# What a process sets up once is not a leak: the stacks (and malloc arenas)
# of a publisher's two threads, server and waker, which glibc keeps for the
# next threads once the kernel has let the old ones go, and, on cuda, the
# driver and the primary context (held for the whole run, see
# retain_primary_context) and what the first Publisher initialises in them.
# So one publisher comes and goes before the baseline: each later one must
# give back everything.
threads = sorted(os.listdir("/proc/self/task"))
worker = threading.Thread(target=lambda: None)
worker.start()
worker.join()
while sorted(os.listdir("/proc/self/task")) != threads:  # join() returns before the thread is gone
    time.sleep(0.001)
context_held = backend == "cuda" and retain_primary_context() is not None
with cuframes.Publisher(key + "-warm-up", {W}, {H}, "{FORMAT}", backend=backend) as warm_up, \
        cuframes.Subscriber(key + "-warm-up") as one, cuframes.Subscriber(key + "-warm-up") as two:
    for _ in range(3):  # two subscribers: the waker thread runs too
        warm_up.send(frame_pattern(warm_up.last_seq + 1, warm_up.packed_size))
        one.next(timeout=10).release()
        two.next(timeout=10).release()
# Our threads are gone once the list is back to what it was, or, on cuda,
# where the driver keeps threads of its own, once it stops changing.
deadline, settled, last = time.monotonic() + 5, time.monotonic(), None
while sorted(os.listdir("/proc/self/task")) != threads and time.monotonic() < deadline:
    now = sorted(os.listdir("/proc/self/task"))
    if now != last:
        last, settled = now, time.monotonic()
    elif time.monotonic() - settled > 0.5:
        break
    time.sleep(0.005)
report("baseline")
for round in range(3):
    go.wait()
    go.clear()
    pub = cuframes.Publisher(key, {W}, {H}, "{FORMAT}", backend=backend)
    print(json.dumps({{"event": "serving", "round": round}}), flush=True)
    while not go.is_set():
        seq = pub.last_seq + 1
        pub.send(frame_pattern(seq, pub.packed_size), pts=seq)
        time.sleep(0.005)
    go.clear()
    pub.close()
    del pub
    report("closed", round=round)
"""
)


def assert_disconnected(sub: cuframes.Subscriber) -> None:
    """Frames published before the close are still delivered, then DisconnectedError."""
    for _ in range(sub.slot_count + 1):
        try:
            sub.next(timeout=10).release()
        except cuframes.DisconnectedError:
            return
    pytest.fail("the subscriber never learned that the producer closed")


def test_a_closed_publisher_gives_back_everything_it_took(key, backend, children, cf_dir, gpu_memory) -> None:
    producer = children.spawn(CLOSING_PRODUCER, key, backend)
    baseline = json.loads(children.read_line(producer, '{"event": "baseline"'))
    assert baseline["folder"] == []
    # Device-wide, so the producer's too; this process holds its own context
    # already (gpu_memory), so its subscribers create none after this.
    gpu_baseline = gpu_memory() if gpu_memory else None
    for round in range(3):
        os.kill(producer.pid, signal.SIGUSR1)
        children.read_line(producer, '{"event": "serving"')
        # Attached when it closes: one idle, one holding a frame.
        with (
            cuframes.Subscriber(key, connect_timeout=10) as idle,
            cuframes.Subscriber(key, connect_timeout=10) as holding,
        ):
            frame = holding.next(timeout=10)
            os.kill(producer.pid, signal.SIGUSR1)
            after = json.loads(children.read_line(producer, '{"event": "closed"'))
            assert after["round"] == round
            assert_disconnected(idle)
            assert np.array_equal(frame.to_numpy().reshape(-1), frame_pattern(frame.seq, frame.packed_size))
            frame.release()
        who = f"the producer after close #{round + 1}"
        assert after["folder"] == [], f"{who}: no socket and no lock file may stay behind"
        if backend == "cuda" and not after["context_held"]:
            # Without cuda-python the context is destroyed at each close and
            # created anew by the next Publisher, which costs the driver some
            # host memory each time: resident memory says nothing then.
            assert_back_to(after, baseline, who, ("fds", "memfds", "maps"))
        else:
            assert_back_to(after, baseline, who)
        if gpu_baseline is not None:
            # Only now: subscribers keep the slots of a closed producer alive
            # until they let go (held frames stay readable).
            assert_gpu_memory_back(gpu_memory(), gpu_baseline, f"after close #{round + 1} and its subscribers")
    assert children.wait(producer).returncode == 0
    assert list(cf_dir.iterdir()) == []


# ---------------------------------------------------------------------------
# Failed attempts

ATTEMPTS = 100


def assert_failures_leak_nothing(attempt, error_type: type[cuframes.Error]) -> None:
    """Runs `attempt` (which must raise `error_type`) ATTEMPTS times in this process."""
    with pytest.raises(error_type):  # warm-up: whatever the first failure loads
        attempt()
    baseline = own_usage()
    for _ in range(ATTEMPTS):
        with pytest.raises(error_type):
            attempt()
    assert_back_to(settled(own_usage, baseline), baseline, f"after {ATTEMPTS} {error_type.__name__}s")


def test_subscribers_that_find_no_producer_leak_nothing(key, cf_dir) -> None:
    assert_failures_leak_nothing(lambda: cuframes.Subscriber(key, connect_timeout=0), cuframes.NotFoundError)
    # A dead producer's socket file (connect: ECONNREFUSED) fails the same way.
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    stale.bind(str(cf_dir / f"{key}.sock"))
    stale.close()
    assert_failures_leak_nothing(lambda: cuframes.Subscriber(key, connect_timeout=0), cuframes.NotFoundError)


def test_subscribers_refused_at_max_subscribers_leak_nothing(key, backend) -> None:
    # The producer is in this process too: its side of each refusal must go as well.
    with (
        cuframes.Publisher(key, W, H, FORMAT, backend=backend, max_subscribers=1) as pub,
        cuframes.Subscriber(key) as served,
    ):
        # connect_timeout=0: one refusal each (a LimitError is otherwise tried again for the timeout).
        assert_failures_leak_nothing(lambda: cuframes.Subscriber(key, connect_timeout=0), cuframes.LimitError)
        assert pub.send(frame_pattern(1, pub.packed_size), pts=1) == 1
        with served.next(timeout=5) as frame:
            assert frame.seq == 1
        assert pub.subscriber_count == 1


OTHER_UID, OTHER_GID = 4343, 4545

# As another uid: ATTEMPTS refused subscriptions; prints the usage around them.
REFUSED_SUBSCRIBER = (
    inspect.getsource(usage)
    + """
import gc, json, sys
import cuframes

def attempt():
    try:
        cuframes.Subscriber(sys.argv[1], connect_timeout=5)
    except cuframes.PermissionDeniedError:
        return
    raise AssertionError("the subscriber was not refused")

attempt()  # warm-up: whatever the first failure loads
gc.collect()
before = usage()
for _ in range(int(sys.argv[2])):
    attempt()
gc.collect()
print(json.dumps({"before": before, "after": usage()}), flush=True)
"""
)


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv to subscribe as another uid"
)
def test_subscribers_refused_by_credentials_leak_nothing(key, backend, children, cf_dir) -> None:
    os.chmod(cf_dir, 0o755)
    as_other = ["setpriv", "--reuid", str(OTHER_UID), "--regid", str(OTHER_GID), "--clear-groups"]
    probe = children.run("import cuframes", prefix=as_other, timeout=60)
    if probe.returncode != 0:
        pytest.skip(f"another uid cannot import cuframes from this interpreter: {probe.stderr[-300:]}")
    # Mode 0666 lets the other uid connect; the credential check refuses it.
    with cuframes.Publisher(key, W, H, FORMAT, backend=backend, mode=0o666, allowed_uids=[OTHER_UID + 1]) as pub:
        baseline = own_usage()
        result = children.run(REFUSED_SUBSCRIBER, key, str(ATTEMPTS), prefix=as_other)
        assert result.returncode == 0, result.stdout + result.stderr
        report = json.loads(result.stdout.splitlines()[-1])
        assert_back_to(report["after"], report["before"], f"the subscriber after {ATTEMPTS} refusals")
        # Only descriptors here: running the child starts threads in this
        # process (its output readers), whose stacks glibc may keep mapped.
        assert_back_to(
            settled(own_usage, baseline, ("fds", "memfds")),
            baseline,
            f"the producer after {ATTEMPTS} refusals",
            ("fds", "memfds"),
        )
        assert pub.subscriber_count == 0
