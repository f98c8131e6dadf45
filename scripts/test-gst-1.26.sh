#!/usr/bin/env bash
# The GStreamer plugin on GStreamer 1.26 (Debian 13's), on a Debian 12 machine whose own
# GStreamer is 1.22: scripts/gst-compat-check.sh builds the plugin against 1.26,
# scripts/gst-gpu-bundle.sh puts 1.26 with the elements the tests use into
# build/gst-1.26-runtime (run through its own C library's loader), and
# tests/test_gstreamer.py runs with that gst-launch-1.0 first on PATH. Left out: the state-cycle
# test, which drives GStreamer through PyGObject, and so the machine's 1.22.
#
#   scripts/test-gst-1.26.sh [PYTEST_ARGS...]
#
# Environment: PYTHON (an interpreter with cuframes installed, as for scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
runtime=$PWD/build/gst-1.26-runtime
PYTHON=$PYTHON bash scripts/gst-gpu-bundle.sh --gst 1.26 --test-plugins "$runtime" >&2
version=$("$runtime/bin/gst-launch-1.0" --version | sed -n 's/^GStreamer \([0-9.]*\).*/\1/p')
echo "== tests/test_gstreamer.py on GStreamer $version ($runtime)"
case $version in
    1.2[4-9]* | 1.[3-9]*) ;;
    *) echo "test-gst-1.26.sh: the bundle's gst-launch-1.0 is GStreamer '$version', not 1.24 or newer" >&2; exit 1 ;;
esac
set +e
PATH=$runtime/bin:$PATH CUFRAMES_GST_PLUGIN_PATH=$runtime/plugins CUFRAMES_TEST_GST=1 \
    "$PYTHON" -m pytest -p no:cacheprovider tests/test_gstreamer.py -k "not state_cycles" "$@"
status=$?
set -e
# 5: pytest ran no test (the caller's arguments deselected them all): this check must run them.
if [ "$status" -eq 5 ]; then
    echo "test-gst-1.26.sh: no test ran: the arguments deselected every test of tests/test_gstreamer.py" >&2
    exit 1
fi
exit "$status"
