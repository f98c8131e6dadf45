#!/usr/bin/env bash
# Runs the numpy subscriber example the way a container would see the world:
# new PID, IPC, mount and network namespaces, its own /proc and a private,
# empty /dev/shm. It shares nothing with the producer but the socket folder,
# which is all cuframes needs.
#
#   export CUFRAMES_DIR=/tmp/cuframes-demo
#   python examples/python/publish_pattern.py --key cam0 --frames 600 &
#   sudo --preserve-env=CUFRAMES_DIR bash examples/isolation/isolated_subscriber.sh cam0 50
#
# Needs root (unshare and mount). PYTHON picks the interpreter (default python3).
set -euo pipefail
: "${CUFRAMES_DIR:?set CUFRAMES_DIR to the socket folder of the producer}"
key=${1:-cam0}
frames=${2:-50}
here=$(cd "$(dirname "$0")" && pwd)
exec unshare --pid --ipc --mount --net --fork --mount-proc \
    sh -c 'mount -t tmpfs -o size=16m tmpfs /dev/shm && exec "$@"' sh \
    "${PYTHON:-python3}" "$here/../python/subscribe_numpy.py" --key "$key" --frames "$frames"
