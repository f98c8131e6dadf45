#!/usr/bin/env bash
# Runs on the GPU machine (offline; its python3 already has pybind11,
# scikit-build-core, cmake, numpy, pytest, torch, cupy and cuda-bindings):
# installs this checkout, then runs the GPU tests, the full suite on the cuda
# backend and the quick benchmark (scripts/gpu-carry.sh fills, here, what it carries:
# PyAV and an ffmpeg). Everything goes to $OUT/gpu-check.log when
# $OUT is set; a short summary is printed last. Exits non-zero if a step failed.
# Knobs for a short device session: GPU_CHECK_SUITE ("skip" or test paths), GPU_CHECK_BENCH
# (skip, or bench/run.py sections to run at full size instead of the quick run),
# GPU_CHECK_SKIP_IDLE=1, GPU_CHECK_NVR=skip. Carried folders it uses when present: .whl (PyAV,
# PyNvVideoCodec), .gpu-carry/nvrtc (CUDA 11.8's NVRTC for GStreamer's cudaconvert),
# .gpu-carry/ffmpeg (scripts/gpu-carry.sh), .gpu-carry/gst and .gpu-carry/gst-1.26
# (scripts/gst-gpu-bundle.sh [--gst 1.26]). The ffmpeg, the 1.26 bundle and the NVRTC fit one
# 64 MiB carry with the tree (about 60 MB); .whl and the 1.22 bundle then go in another call.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

LOG=${OUT:+$OUT/gpu-check.log}
LOG=${LOG:-/tmp/gpu-check.log}
mkdir -p "$(dirname "$LOG")"
: >"$LOG"
VENV=${CUFRAMES_GPU_VENV:-/tmp/cuframes-gpu-venv}
PY=python3
failed=0
summary=()

log() { echo "$*" | tee -a "$LOG"; }

# run_step NAME SECONDS CMD... : runs with a time limit, output to the log and the console.
run_step() {
    local name=$1 limit=$2
    shift 2
    log ""
    log "==== $name (limit ${limit}s): $*"
    local start=$SECONDS
    timeout --kill-after=15 "$limit" "$@" 2>&1 | tee -a "$LOG" | tee /tmp/gpu-check-step.out
    local rc=${PIPESTATUS[0]}
    log "==== $name: exit $rc after $((SECONDS - start))s"
    [ "$rc" -eq 124 ] && log "==== $name: TIMED OUT"
    return "$rc"
}

pytest_counts() {  # the closing line of the last pytest run
    grep -E '(passed|failed|error|skipped|deselected|no tests ran).* in [0-9.]+s' /tmp/gpu-check-step.out |
        tail -1 | sed -E 's/^=+ //; s/ =+$//'
}

device=$(timeout 30 nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
driver=$(timeout 30 nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1)
run_step "nvidia-smi" 60 nvidia-smi -L || failed=1

# Install where the machine's packages are: into python3's own virtualenv when
# it already is one (a venv made from it would not see that venv's packages),
# else into a venv with --system-site-packages, else into python3 itself.
if python3 -c 'import sys; sys.exit(0 if sys.prefix != sys.base_prefix else 1)'; then
    log "note: python3 is the virtualenv $(python3 -c 'import sys; print(sys.prefix)'); installing into it"
elif timeout 120 python3 -m venv --system-site-packages "$VENV" >>"$LOG" 2>&1; then
    PY="$VENV/bin/python"
else
    log "note: python3 -m venv failed; installing into the system python3"
fi
if run_step "pip install" 300 "$PY" -m pip install --no-build-isolation --no-deps -v .; then
    summary+=("install: ok")
else
    failed=1
    summary+=("install: FAILED")
fi
# Optional wheels carried to the offline GPU machine (.whl/, gitignored; the
# device tool's `carry`): PyNvVideoCodec for the benchmark's NVDEC section.
# An NVRTC of CUDA 12 or older (scripts/gpu-carry.sh --nvrtc) is only for GStreamer's cudaconvert
# (scripts/gst-gpu-check.sh looks in /tmp/cuframes-nvrtc): never on PYTHONPATH, where its
# nvidia/__init__.py would hide the nvidia.* packages torch loads its CUDA libraries from.
wheels=()
for wheel in .whl/*.whl .gpu-carry/nvrtc/*.whl; do
    [ -f "$wheel" ] || continue # none carried
    case $(basename "$wheel") in
        nvidia_cuda_nvrtc_cu1[0-2]-*) "$PY" -m zipfile -e "$wheel" /tmp/cuframes-nvrtc ||
            log "note: $wheel did not unpack; GStreamer keeps the machine's NVRTC" ;;
        *.whl) wheels+=("$wheel") ;;
    esac
done
if [ "${#wheels[@]}" -gt 0 ]; then
    if run_step "carried wheels" 120 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --upgrade --target /tmp/cuframes-carried "${wheels[@]}"; then
        export PYTHONPATH=/tmp/cuframes-carried${PYTHONPATH:+:$PYTHONPATH}
    else
        log "note: the carried wheels did not install; the NVDEC benchmark will say it was skipped"
    fi
fi
run_step "import" 60 "$PY" -c "import cuframes, cuframes._core as c; print(cuframes.__file__); print('cuda_available', c.cuda_available(), c.cuda_unavailable_reason())" || failed=1

# The FFmpeg input's GPU test needs the ffmpeg that scripts/build-ffmpeg.sh builds. The GPU
# machine is offline, so one built here travels with the device tool's `carry`:
# .gpu-carry/ffmpeg/bin/{ffmpeg,ffprobe} and the libraries they need in .gpu-carry/ffmpeg/lib/
# (libcuframes.so.0.1 of this tree, libx264.so.164); without it that test skips.
if [ -x .gpu-carry/ffmpeg/bin/ffmpeg ]; then
    export CUFRAMES_FFMPEG=$PWD/.gpu-carry/ffmpeg/bin/ffmpeg
    export LD_LIBRARY_PATH=$PWD/.gpu-carry/ffmpeg/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    # The machine has no ffmpeg of its own: the tests that make patterns with one use this one.
    command -v ffmpeg >/dev/null || export PATH=$PWD/.gpu-carry/ffmpeg/bin:$PATH
    log "note: the FFmpeg input's GPU test uses the carried $CUFRAMES_FFMPEG"
fi

PYTEST=("$PY" -m pytest -p no:cacheprovider)
if ! "$PY" -c "import pytest_timeout" 2>/dev/null; then
    # pyproject sets `timeout`, which only pytest-timeout knows; each step has its own limit here.
    log "note: pytest-timeout is not installed; ignoring its config option"
    PYTEST+=(-W "ignore::pytest.PytestConfigWarning")
fi

if run_step "pytest -m gpu" 300 "${PYTEST[@]}" -m gpu -v; then rc=0; else rc=$?; failed=1; fi
summary+=("pytest -m gpu: $(pytest_counts) (exit $rc)")

# The rest of the suite again, on the cuda backend (the gpu-marked tests ran
# above): the reliability, access-control, limit and leak tests included.
# Figures the tests measure (the producer-kill soak's distribution) land in
# the report file and the summary.
# GPU_CHECK_SUITE narrows it when device time is short: "skip", or the test paths to run
# (e.g. "tests/test_convert_torch.py tests/test_ffmpeg_input.py").
REPORT=/tmp/gpu-check-test-report.txt
: >"$REPORT"
suite=${GPU_CHECK_SUITE:-tests}
if [ "$suite" = skip ]; then
    summary+=("pytest rest of suite, cuda backend: skipped (GPU_CHECK_SUITE=skip)")
else
    # shellcheck disable=SC2086  # a list of test paths
    if run_step "pytest (CUFRAMES_TEST_BACKEND=cuda)" 420 env CUFRAMES_TEST_BACKEND=cuda CUFRAMES_TEST_REPORT="$REPORT" \
        "${PYTEST[@]}" -m "not gpu" -q $suite; then rc=0; else rc=$?; failed=1; fi
    summary+=("pytest $suite (not gpu), cuda backend: $(pytest_counts) (exit $rc)")
    while IFS= read -r line; do summary+=("  $line"); done <"$REPORT"
fi

# The main job, as a user would run it (cuda is the default where a GPU is usable).
if run_step "cuframes demo" 120 "$PY" -m cuframes demo --seconds 4 --subscribers 3; then rc=0; else rc=$?; failed=1; fi
summary+=("demo: $(grep -E '^(PASS|FAIL)' /tmp/gpu-check-step.out | tail -1) (exit $rc)")

bench_lines=""

# The FFmpeg input's NVR recipe (docs/ffmpeg.md): 3 consumers of one decode against 3 decodes.
# GPU_CHECK_NVR=skip leaves it out (a minute) when its figures are already in hand.
if [ -n "${CUFRAMES_FFMPEG:-}" ] && [ "${GPU_CHECK_NVR:-run}" != skip ]; then
    if run_step "bench/ffmpeg_nvr.py" 180 "$PY" bench/ffmpeg_nvr.py --seconds 10; then rc=0; else rc=$?; failed=1; fi
    nvr_lines=$(grep -E '^(setup|shared|separate|[0-9]+ consumers|  [a-z, ]+, GPU memory per process)' /tmp/gpu-check-step.out)
    bench_lines=$(printf '%s\n%s' "$bench_lines" "$nvr_lines")
fi

# The GStreamer plugin's CUDA paths, where a bundle of scripts/gst-gpu-bundle.sh was carried
# (a CUDA image has no GStreamer): five pipelines, checked frame by frame, by memory type, and
# by how cuframessrc gave out each frame (wrapped on 1.24+, copied on 1.22). Each bundle
# carried runs: .gpu-carry/gst (Debian 12's 1.22) and .gpu-carry/gst-1.26 (Debian 13's).
for bundle in gst gst-1.26; do
    [ -x ".gpu-carry/$bundle/bin/gst-launch-1.0" ] || continue
    gst_out=${OUT:-/tmp/gpu-check-out}/gst/$bundle
    mkdir -p "$gst_out"
    if run_step "GStreamer GPU pipelines ($bundle)" 200 env OUT="$gst_out" bash ".gpu-carry/$bundle/gpu_check.sh"; then rc=0; else rc=$?; failed=1; fi
    summary+=("GStreamer GPU pipelines, $(grep -E '^GStreamer: ' /tmp/gpu-check-step.out | tail -1): $(grep -E '^gst-gpu-check:' /tmp/gpu-check-step.out | tail -1) (exit $rc)")
    while IFS= read -r line; do summary+=("  $line"); done < <(grep -E '^[a-z0-9-]+: (cuframessink took|[0-9]+ frames|cuframessrc wrapped)' /tmp/gpu-check-step.out)
done

# The device tool brings back only a few files from $OUT: everything but this log and the
# benchmark's own files goes back as one archive.
if [ -n "${OUT:-}" ] && [ -d "$OUT/gst" ]; then
    tar -czf "$OUT/gpu-check-extra.tgz" -C "$OUT" gst && rm -rf "$OUT/gst"
fi

# The benchmark suite's quick mode, after the checks that decide issues (a run cut short by the
# device's time limit loses the benchmark first): cuframes against the floor and the
# alternatives, with the verdict on each target (bench/RESULTS.md has a full run).
# GPU_CHECK_BENCH=skip leaves it out; GPU_CHECK_BENCH=SECTIONS (bench/run.py --only's list,
# e.g. engines) runs those sections at full size instead, into $OUT, so that a short
# device session needs no call of their own (a whole full run is several: bench/RESULTS.md).
# GPU_CHECK_BENCH_ARGS adds bench/run.py options to that run: a rate (--regimes 25fps), the
# earlier parts to merge (--merge PATH ...). Its time limit is GPU_CHECK_BENCH_LIMIT (420 s).
case ${GPU_CHECK_BENCH:-run} in
    skip) summary+=("bench/run.py --quick: skipped (GPU_CHECK_BENCH=skip)") ;;
    run)
        if run_step "bench/run.py --quick" 300 "$PY" bench/run.py --quick; then rc=0; else rc=$?; failed=1; fi
        quick_lines=$(sed -n '/^targets:/,$p' /tmp/gpu-check-step.out | grep -v '^written:')
        bench_lines=$(printf '%s\n%s' "$bench_lines" "$quick_lines")
        summary+=("bench/run.py --quick: exit $rc")
        ;;
    *)
        # $OUT itself: bench/run.py also writes into $OUT, and the device tool returns few files.
        bench_out=${OUT:-/tmp/gpu-check-out}
        read -r -a bench_args <<<"${GPU_CHECK_BENCH_ARGS:-}"
        if run_step "bench/run.py --only $GPU_CHECK_BENCH ${bench_args[*]}" "${GPU_CHECK_BENCH_LIMIT:-420}" \
            "$PY" bench/run.py --only "$GPU_CHECK_BENCH" "${bench_args[@]}" --out "$bench_out"; then
            rc=0
        else
            rc=$?
            failed=1
        fi
        summary+=("bench/run.py --only $GPU_CHECK_BENCH: exit $rc ($(grep -E '^written:' /tmp/gpu-check-step.out | tail -1))")
        ;;
esac

# GPU_CHECK_SKIP_IDLE=1 leaves out the idle/disconnect soak (2 minutes) when device time is short.
if [ "${GPU_CHECK_SKIP_IDLE:-0}" != 1 ]; then
    if run_step "bench/idle_and_disconnect.py" 120 "$PY" bench/idle_and_disconnect.py --kills 20 --idle-seconds 5; then rc=0; else rc=$?; failed=1; fi
    idle_lines=$(grep -E '^(idle|producer SIGKILL)' /tmp/gpu-check-step.out)
    bench_lines=$(printf '%s\n%s' "$bench_lines" "$idle_lines")
fi

{
    echo ""
    echo "================ gpu-check summary ================"
    echo "device: ${device:-unknown}    driver: ${driver:-unknown}"
    for line in "${summary[@]}"; do echo "$line"; done
    echo "bench:"
    # shellcheck disable=SC2001  # indents every line of a multi-line value
    echo "$bench_lines" | sed 's/^/  /'
    echo "result: $([ "$failed" -eq 0 ] && echo PASS || echo FAIL)   (full log: $LOG)"
} | tee -a "$LOG"
exit "$failed"
