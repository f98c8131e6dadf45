#!/usr/bin/env bash
# The multi-process tests on a loaded machine: pytest pinned to one CPU core
# beside a busy loop on that same core, so every process of a test (producers,
# subscribers, the test itself) gets a share of a core that something else
# wants too. This is where races and timing assumptions show up.
#
#   bash scripts/stress-test.sh [REPEATS] [-- pytest args...]
#
# REPEATS (default 1): how many times the selection runs; every run is
# counted, a failure does not stop the next run. pytest args replace the
# default selection (the test files below) and must name the tests to run,
# e.g. -- tests/test_packets.py -k restart
#
# pytest runs from a scratch folder outside the checkout, so this also checks
# that the tests pass from any working directory. The busy loop is started
# here and always killed on exit (Ctrl-C included). Prints a summary: each
# run's verdict and pytest line, and every test that failed with the runs it
# failed in; exits non-zero if any run failed.
#
# Environment: PYTHON (an interpreter with cuframes[test] installed, default
# python3), STRESS_CPU (the core, default the first one this process may use),
# STRESS_LOGS (default build/stress-logs).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD

usage() { echo "usage: bash scripts/stress-test.sh [REPEATS] [-- pytest args...]" >&2; exit 2; }
die() { echo "stress-test.sh: $*" >&2; exit 1; }

REPEATS=1
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
    [[ $1 =~ ^[1-9][0-9]*$ ]] || usage
    REPEATS=$1
    shift
fi
if [ $# -gt 0 ]; then
    [ "$1" = "--" ] || usage
    shift
fi

# The tests that start processes (producers, subscribers, the CLI, examples) or
# race threads against each other's timing.
SELECTION=(
    test_multiprocess.py test_reliability.py test_lifecycle.py test_delivery.py test_wait_and_timing.py
    test_packets.py test_packet_tools.py test_examples.py test_c_examples.py test_leaks.py
    test_access_control.py test_hostile_peers.py test_resource_limits.py test_demo.py
    test_publish_cli.py test_cat.py test_inspect_cli.py test_docs.py test_restarts.py test_limits.py
    test_stalled.py test_cli_pipes.py test_default_dir.py test_stream_facts.py test_stream_facts_sources.py
    test_record.py test_cat_formats.py test_ffmpeg_input.py test_aio.py test_gstreamer.py
    test_serve.py test_relay.py test_bench_method.py test_bench_peers.py
)
if [ $# -gt 0 ]; then
    PYTEST_ARGS=("$@")
    # Paths given relative to the checkout still work from the scratch folder.
    for i in "${!PYTEST_ARGS[@]}"; do
        arg=${PYTEST_ARGS[$i]}
        if [[ $arg != /* ]] && [ -e "${arg%%::*}" ]; then PYTEST_ARGS[i]=$ROOT/$arg; fi
    done
else
    PYTEST_ARGS=("${SELECTION[@]/#/$ROOT/tests/}")
fi

PYTHON=${PYTHON:-python3}
command -v taskset >/dev/null || die "needs taskset (Debian: apt-get install util-linux)"
"$PYTHON" -c 'import cuframes, pytest' 2>/dev/null ||
    die "$PYTHON cannot import cuframes and pytest: pip install '.[test]' first (or set PYTHON)"
CPU=${STRESS_CPU:-$(taskset -pc $$ | sed -E 's/.*: *//; s/[-,].*//')}
LOGS=${STRESS_LOGS:-$ROOT/build/stress-logs}
rm -rf "$LOGS"
mkdir -p "$LOGS"
SCRATCH=$(mktemp -d /tmp/cf-stress-XXXXXX)

busy=""
cleanup() {
    # The busy loop is ours: kill it by its pid, whatever ended the script.
    if [ -n "$busy" ]; then kill "$busy" 2>/dev/null; wait "$busy" 2>/dev/null; fi
    rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

taskset -c "$CPU" sh -c 'while :; do :; done' &
busy=$!
echo "stress-test.sh: $REPEATS run(s) pinned to CPU $CPU beside a busy loop (pid $busy), from $SCRATCH; logs in $LOGS"

started=$SECONDS
failed_runs=0
summaries=()
for run in $(seq "$REPEATS"); do
    echo
    echo "==== stress run $run of $REPEATS"
    log=$LOGS/run-$run.log
    run_start=$SECONDS
    (cd "$SCRATCH" && taskset -c "$CPU" "$PYTHON" -m pytest -p no:cacheprovider -q -rfE "${PYTEST_ARGS[@]}") 2>&1 |
        tee "$log"
    status=${PIPESTATUS[0]}
    line=$(grep -E '^=* ?[0-9]+ (passed|failed|error).* in [0-9.]+s' "$log" | tail -1 | sed -E 's/^=+ //; s/ =+$//')
    if [ "$status" -eq 0 ]; then verdict=ok; else verdict="FAILED (exit $status)"; failed_runs=$((failed_runs + 1)); fi
    summaries+=("$(printf 'run %-3s %-16s %s (%d s)' "$run" "$verdict" "${line:-no pytest summary}" $((SECONDS - run_start)))")
done

echo
echo "==== stress-test.sh: summary ($((SECONDS - started)) s, CPU $CPU shared with a busy loop)"
printf '%s\n' "${summaries[@]}"
echo "$((REPEATS - failed_runs)) of $REPEATS run(s) passed"
if [ "$failed_runs" -gt 0 ]; then
    echo "failed tests (runs failed in):"
    # Test ids as pytest printed them from the scratch folder: ../../<checkout>/tests/...
    grep -hoE '^(FAILED|ERROR) [^ ]+' "$LOGS"/run-*.log | sed -E "s#^(FAILED|ERROR) (\.\./)*${ROOT#/}/#\1 #" |
        sort | uniq -c | sort -rn | sed -E 's/^ *([0-9]+) (FAILED|ERROR) /  \1x \2 /'
    exit 1
fi
