#!/usr/bin/env bash
# The C++ micro-benchmarks of bench/cpp (bench/cpp/README.md says what each covers):
#   scripts/microbench.sh [--smoke] [--out DIR] [-- BENCHMARK_ARGS...]
# configures and builds build/microbench (Release, -DCUFRAMES_BUILD_BENCHMARKS=ON;
# needs Google Benchmark: apt-get install libbenchmark-dev), then runs every
# benchmark binary in turn and prints one summary line per binary.
#   --smoke     each benchmark runs once (one iteration): checks that every one
#               runs and passes its own checks, nothing about speed (.ci/run).
#   --out DIR   also writes each binary's results to DIR/<binary>.json.
#   -- ARGS     go to every binary, e.g. -- --benchmark_filter=Ring --benchmark_repetitions=5
# Exits non-zero when the build fails or any binary fails: a benchmark that
# hits an error makes its binary exit 1 (bench/cpp/bench_main.cpp).
# Environment: PYTHON (default python3: for cuda.h from the nvidia-cuda-runtime
# wheel when there is no CUDA toolkit), JOBS (build parallelism).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    echo "usage: scripts/microbench.sh [--smoke] [--out DIR] [-- BENCHMARK_ARGS...]" >&2
    exit 2
}

SMOKE=0
OUT=""
EXTRA=()
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) SMOKE=1 ;;
        --out)
            [ $# -ge 2 ] || usage
            OUT=$2
            shift
            ;;
        --out=*) OUT=${1#--out=} ;;
        --) shift; EXTRA=("$@"); break ;;
        -h | --help) usage ;;
        *) echo "error: unknown argument '$1'" >&2; usage ;;
    esac
    shift
done

PYTHON=${PYTHON:-python3}
JOBS=${JOBS:-$(nproc)}
BUILD=build/microbench
# A wedged benchmark must not hang CI: a smoke run takes seconds.
if [ "$SMOKE" -eq 1 ]; then LIMIT_S=120; else LIMIT_S=1800; fi

echo "== build ($BUILD)"
if [ ! -f "${CUDA_HOME:-/usr/local/cuda}/include/cuda.h" ]; then
    # cuda.h (headers only), as scripts/test.sh gets it.
    "$PYTHON" -m pip install nvidia-cuda-runtime
fi
cmake -S . -B "$BUILD" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCUFRAMES_BUILD_BENCHMARKS=ON \
    -DCUFRAMES_BUILD_PYTHON=OFF \
    -DCUFRAMES_BUILD_TESTS=OFF \
    -DCUFRAMES_BUILD_EXAMPLES=OFF \
    -DCUFRAMES_SANITIZE=OFF \
    -DPython_EXECUTABLE="$(command -v "$PYTHON" || echo python3)"
cmake --build "$BUILD" -j "$JOBS"

# Written by bench/cpp/CMakeLists.txt: the binaries, and the flag that runs
# each benchmark once with this version of Google Benchmark.
mapfile -t BINARIES <"$BUILD/bench/cpp/benchmarks.txt"
if [ "${#BINARIES[@]}" -eq 0 ]; then
    echo "error: $BUILD/bench/cpp/benchmarks.txt lists no benchmark binary" >&2
    exit 1
fi
ARGS=()
if [ "$SMOKE" -eq 1 ]; then ARGS+=("$(cat "$BUILD/bench/cpp/smoke_flag.txt")"); fi
if [ -n "$OUT" ]; then mkdir -p "$OUT"; fi

failed=0
summary=()
for binary in "${BINARIES[@]}"; do
    [ -n "$binary" ] || continue
    name=$(basename "$binary")
    run=("$binary" "${ARGS[@]}")
    if [ -n "$OUT" ]; then run+=("--benchmark_out=$OUT/$name.json" "--benchmark_out_format=json"); fi
    run+=("${EXTRA[@]}")
    echo "== $name"
    start=$SECONDS
    status=0
    timeout --kill-after=10 "$LIMIT_S" "${run[@]}" || status=$?
    line="$(printf '%-32s %4d s' "$name" $((SECONDS - start)))"
    if [ "$status" -eq 0 ]; then
        line="$line  ok"
    else
        failed=1
        if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
            line="$line  FAILED (timed out after ${LIMIT_S} s)"
        else
            line="$line  FAILED (exit $status)"
        fi
    fi
    summary+=("$line")
done

# The cross-process latency probe (host backend here; the GPU harness runs it
# on cuda): a sleeping and a spinning subscriber.
PROBE=$(cat "$BUILD/bench/cpp/latency_probe.txt")
PROBE_FRAMES=$([ "$SMOKE" -eq 1 ] && echo 200 || echo 10000)
for spin in 0 -1; do
    echo "== latency_probe host spin_ns=$spin (p50 p99 p99.9 max us, missed)"
    status=0
    timeout --kill-after=10 "$LIMIT_S" "$PROBE" host "$spin" "$PROBE_FRAMES" 100 300 || status=$?
    line="$(printf '%-32s        ' "latency_probe spin_ns=$spin")"
    if [ "$status" -eq 0 ]; then line="$line  ok"; else failed=1; line="$line  FAILED (exit $status)"; fi
    summary+=("$line")
done

echo "== summary$([ "$SMOKE" -eq 1 ] && echo ' (smoke: one iteration each, timings meaningless)')"
printf '%s\n' "${summary[@]}"
if [ -n "$OUT" ]; then echo "results: $OUT/<binary>.json"; fi
exit "$failed"
