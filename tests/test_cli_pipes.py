"""The command line with its output in a pipe, as `cuframes ls | grep KEY` and log
collectors see it: real processes, stdout and stderr pipes, keys and messages
longer than a terminal is wide. Nothing wraps, an error is one line, and
`stat --watch` writes each refresh as it happens."""

from __future__ import annotations

import json

import pytest
from test_inspect_cli import PRODUCER

import cuframes

needs_observer = pytest.mark.skipif(not hasattr(cuframes, "stat"), reason="observer handshake not built yet")

# Python buffers a pipe unless told otherwise; the children fixture tells it: undo that,
# so these tests see what a real pipe sees.
BUFFERED = {"PYTHONUNBUFFERED": ""}
_CLI = "import sys; from cuframes.cli import main; sys.argv[0] = 'cuframes'; main()"


@pytest.fixture
def long_key(make_key) -> str:
    return make_key("a-camera-on-the-far-side-of-the-loading-bay-")  # about 70 characters


@needs_observer
def test_ls_in_a_pipe_keeps_each_row_on_one_line(children, long_key, backend):
    producer = children.spawn(PRODUCER, long_key, backend, "nv12")
    children.read_line(producer, "up")
    done = children.wait(children.spawn_module("cuframes", "ls"))
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if long_key in line]
    assert len(rows) == 1 and "running" in rows[0] and "nv12 64x48" in rows[0], done.stdout


def test_an_error_in_a_pipe_is_one_line(children, long_key):
    done = children.wait(children.spawn_module("cuframes", "stat", long_key, "--timeout", "0"))
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and len(lines[0]) > 80, done.stderr
    assert lines[0].startswith("error: ") and long_key in lines[0]


@needs_observer
def test_stat_watch_in_a_pipe_writes_each_refresh(children, key, backend):
    producer = children.spawn(PRODUCER, key, backend, "nv12")
    children.read_line(producer, "up")
    watch = children.spawn(_CLI, "stat", key, "--watch", "--interval", "0.2", env=BUFFERED)
    for _ in range(2):  # two refreshes while it still runs, not only when it ends
        line = children.read_line(watch, "key ")
        assert key in line and "running" in line
    assert watch.poll() is None


@needs_observer
def test_stat_watch_json_in_a_pipe_writes_one_line_each_refresh(children, key, backend):
    producer = children.spawn(PRODUCER, key, backend, "nv12")
    children.read_line(producer, "up")
    watch = children.spawn(_CLI, "stat", key, "--watch", "--json", "--interval", "0.2", env=BUFFERED)
    seqs = [json.loads(children.read_line(watch, "{"))["latest_seq"] for _ in range(3)]
    assert watch.poll() is None
    assert seqs == sorted(seqs) and seqs[0] >= 1


def test_ls_of_a_folder_that_does_not_exist_yet_is_an_empty_list(children, tmp_path):
    # A monitoring job may start before the first producer creates the folder.
    missing = tmp_path / "not-yet"
    assert cuframes.list_streams(str(missing)) == []
    table = children.wait(children.spawn_module("cuframes", "ls", "--dir", str(missing)))
    assert table.returncode == 0, table.stderr
    assert f"no streams in {missing} (the folder does not exist yet)" in table.stdout
    as_json = children.wait(children.spawn_module("cuframes", "ls", "--dir", str(missing), "--json"))
    assert as_json.returncode == 0 and json.loads(as_json.stdout) == []
    prometheus = children.wait(children.spawn_module("cuframes", "ls", "--dir", str(missing), "--prometheus"))
    assert prometheus.returncode == 0 and prometheus.stderr == ""
