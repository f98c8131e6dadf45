#!/usr/bin/env bash
# The fuzz command (.ci/run calls it with 30):
#   scripts/fuzz.sh [SECONDS_PER_TARGET]      (default 60)
# builds the libFuzzer targets of fuzz/ with clang, ASan and UBSan in
# build/fuzz, runs each for SECONDS_PER_TARGET seconds on a scratch copy of
# its seed corpus (build/fuzz/corpus/<target>; fuzz/corpus is never written),
# and prints one summary line per target. Exits non-zero when a target
# crashed, hung, leaked memory or descriptors, or broke an invariant: its
# reproducer is then in build/fuzz/artifacts/<target>/ and its log in
# build/fuzz/logs/<target>.log (fuzz/README.md says how to replay it).
# Environment: CC, CXX (default clang, clang++), PYTHON (default python3: for
# cuda.h from the nvidia-cuda-runtime wheel when there is no CUDA toolkit),
# JOBS (build parallelism), FUZZ_TARGETS (default: every target).
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET=${1:-60}
if ! [[ "$SECONDS_PER_TARGET" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (a whole number of seconds, default 60)" >&2
    exit 2
fi
CC=${CC:-clang}
CXX=${CXX:-clang++}
PYTHON=${PYTHON:-python3}
JOBS=${JOBS:-$(nproc)}
FUZZ_TARGETS=${FUZZ_TARGETS:-"fuzz_subscriber_handshake fuzz_producer_handshake fuzz_packet_ring"}
BUILD=build/fuzz

# Inputs longer than this cannot mean more: the largest the target reads.
max_len() {
    case "$1" in
        fuzz_subscriber_handshake) echo 19296 ;;  # kMaxInputBytes in fuzz/fake_producer.hpp
        fuzz_producer_handshake) echo 4096 ;;     # 64 operations (hostile_subscriber.hpp)
        fuzz_packet_ring) echo 8192 ;;            # 16 patches and an access unit
        *) echo 4096 ;;
    esac
}

echo "== clang and libFuzzer"
if ! command -v "$CXX" >/dev/null 2>&1; then
    echo "error: $CXX not found. Fuzzing needs clang with libFuzzer: apt-get install clang libclang-rt-14-dev" \
         "(or set CXX=/path/to/clang++ and CC=/path/to/clang)." >&2
    exit 1
fi
if ! "$CXX" --version 2>/dev/null | grep -qi clang; then
    echo "error: $CXX is not clang ($("$CXX" --version 2>/dev/null | head -n 1)); libFuzzer comes with clang." \
         "Install clang (apt-get install clang libclang-rt-14-dev) or set CXX=clang++ CC=clang." >&2
    exit 1
fi
mkdir -p "$BUILD"
probe="$BUILD/libfuzzer-probe"
if ! printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char *, unsigned long) { return 0; }\n' |
    "$CXX" -x c++ -fsanitize=fuzzer,address,undefined - -o "$probe" 2>"$probe.log"; then
    cat "$probe.log" >&2
    echo "error: $CXX cannot link a libFuzzer target: its runtime is missing. On Debian/Ubuntu install the" \
         "package matching the clang version, e.g. apt-get install libclang-rt-14-dev." >&2
    exit 1
fi
"$CXX" --version | head -n 1

echo "== build ($BUILD)"
if [ ! -f "${CUDA_HOME:-/usr/local/cuda}/include/cuda.h" ]; then
    # cuda.h (headers only), as scripts/test.sh gets it.
    "$PYTHON" -m pip install nvidia-cuda-runtime
fi
cmake -S . -B "$BUILD" \
    -DCMAKE_C_COMPILER="$CC" \
    -DCMAKE_CXX_COMPILER="$CXX" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCUFRAMES_BUILD_FUZZERS=ON \
    -DCUFRAMES_BUILD_PYTHON=OFF \
    -DCUFRAMES_BUILD_TESTS=OFF \
    -DCUFRAMES_BUILD_EXAMPLES=OFF \
    -DPython_EXECUTABLE="$(command -v "$PYTHON" || echo python3)"
# shellcheck disable=SC2086
cmake --build "$BUILD" -j "$JOBS" --target $FUZZ_TARGETS

# The targets make their folders (a socket, a lock file) in TMPDIR: a short
# path of its own, since a socket's path must fit in 108 bytes, removed at
# exit with whatever a crashed target left there.
mkdir -p "$BUILD/logs"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/cuframes-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export TMPDIR="$scratch"

# A figure from libFuzzer's -print_final_stats block.
final_stat() { sed -n "s/^stat::$1: *//p" "$2" | tail -n 1; }

failed=0
summary=()
for target in $FUZZ_TARGETS; do
    binary="$BUILD/fuzz/$target"
    corpus="$BUILD/corpus/$target"
    artifacts="$BUILD/artifacts/$target"
    log="$BUILD/logs/$target.log"
    echo "== $target: ${SECONDS_PER_TARGET}s"
    rm -rf "$corpus" "$artifacts"
    mkdir -p "$corpus" "$artifacts"
    # The checked-in seeds and regressions, plus seeds written fresh by the
    # target itself, so they always match its input format.
    if [ -d "fuzz/corpus/$target" ]; then cp -R "fuzz/corpus/$target/." "$corpus/"; fi
    CUFRAMES_FUZZ_WRITE_SEEDS="$corpus" "$binary"

    status=0
    # The outer timeout only guards against libFuzzer itself wedging.
    timeout --kill-after=30 $((SECONDS_PER_TARGET + 300)) "$binary" \
        -max_total_time="$SECONDS_PER_TARGET" \
        -timeout=10 \
        -rss_limit_mb=2048 \
        -max_len="$(max_len "$target")" \
        -dict=fuzz/cuframes.dict \
        -print_final_stats=1 \
        -artifact_prefix="$artifacts/" \
        "$corpus" >"$log" 2>&1 || status=$?

    executions=$(final_stat number_of_executed_units "$log")
    per_second=$(final_stat average_exec_per_sec "$log")
    last=$(grep -E '(INITED|DONE|NEW|REDUCE|pulse|RELOAD) +cov: ' "$log" | tail -n 1 || true)
    coverage=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    features=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    entries=$(find "$corpus" -type f | wc -l)
    crashes=$(find "$artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
    line="$target: ${executions:-?} executions (${per_second:-?}/s), cov ${coverage:-?}, ft ${features:-?}, corpus ${entries} entries, ${crashes} crashes"
    if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
        failed=1
        line="$line  FAILED (exit $status; log $log)"
        echo "---- last lines of $log" >&2
        tail -n 60 "$log" >&2
        find "$artifacts" -type f | sed 's/^/reproducer: /' >&2
    fi
    echo "$line"
    summary+=("$line")
done

echo "== summary"
printf '%s\n' "${summary[@]}"
exit "$failed"
