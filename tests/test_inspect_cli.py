"""`cuframes ls`, `stat`, `snapshot` and `bench`: what each prints (table, JSON,
Prometheus), how it names streams (keys, cuframes:// URLs, --dir), and that every
expected failure is one red `error:` line on stderr with a non-zero exit, never a
traceback. The observer functions are stood in for with monkeypatch; one test per
command runs against a real producer (those for ls and stat once the core has the
observer handshake)."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_invoke import invoke_cli
from click.testing import Result
from test_status_render import busy_stream, camera_stream, quiet_stream

import cuframes
from cuframes.cli import inspect as cli_inspect
from cuframes.cli.inspect import bench, find_bench_harness, ls, snapshot, stat
from cuframes.status import KeyEntry

prometheus_parser = pytest.importorskip("prometheus_client.parser")

REPO = Path(__file__).resolve().parents[1]

needs_observer = pytest.mark.skipif(
    not (hasattr(cuframes, "stat") and hasattr(cuframes, "list_streams")), reason="observer handshake not built yet"
)


def invoke(command, args: list[str]) -> Result:
    return invoke_cli(command, args, catch_exceptions=False)


def assert_clean_error(result: Result, *fragments: str) -> None:
    """Exit 1, one `error:` line on stderr naming each fragment, nothing on stdout, no traceback."""
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in result.stderr.replace("\n", ""), result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""


class FakeObserver:
    """Stands in for cuframes.stat / cuframes.list_streams: returns (or raises) each result in turn,
    repeating the last one, and records the calls."""

    def __init__(self, *results) -> None:
        self.results = list(results)
        self.calls: list[tuple[tuple, dict]] = []

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        result = self.results.pop(0) if len(self.results) > 1 else self.results[0]
        if isinstance(result, BaseException):
            raise result
        return result


@pytest.fixture
def fake_stat(monkeypatch):
    def install(*results) -> FakeObserver:
        observer = FakeObserver(*results)
        monkeypatch.setattr(cuframes, "stat", observer, raising=False)
        return observer

    return install


@pytest.fixture
def fake_list_streams(monkeypatch):
    def install(*results) -> FakeObserver:
        observer = FakeObserver(*results)
        monkeypatch.setattr(cuframes, "list_streams", observer, raising=False)
        return observer

    return install


def stop_watch_after(monkeypatch, sleeps: int) -> list[float]:
    """Makes a --watch loop end as Ctrl-C would, on its ``sleeps``-th wait."""
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) >= sleeps:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli_inspect, "_sleep", sleep)
    return waits


# --- every command ---
@pytest.mark.parametrize("command", [ls, stat, snapshot, bench])
def test_every_command_has_help(command):
    result = invoke(command, ["--help"])
    assert result.exit_code == 0 and "Usage:" in result.output
    if command is not bench:
        assert "--dir" in result.output


# --- stat ---
def test_stat_prints_the_table(fake_stat):
    observer = fake_stat(busy_stream())
    result = invoke(stat, ["cam1"])
    assert result.exit_code == 0, result.output
    assert "cam1" in result.stdout and "nv12 1920x1080" in result.stdout and "latency" in result.stdout
    assert observer.calls == [(("cam1",), {"dir": None, "timeout": 2.0})]


def test_stat_json(fake_stat):
    fake_stat(busy_stream())
    result = invoke(stat, ["cam1", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == json.loads(json.dumps(busy_stream().to_dict()))


def test_stat_prometheus(fake_stat):
    fake_stat(busy_stream())
    result = invoke(stat, ["cam1", "--prometheus"])
    assert result.exit_code == 0
    found = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in prometheus_parser.text_string_to_metric_families(result.stdout)
        for s in family.samples
    }
    assert found[("cuframes_up", (("key", "cam1"),))] == 1
    assert found[("cuframes_latest_seq", (("key", "cam1"),))] == 12345


@pytest.mark.parametrize(
    "args, key, folder",
    [
        (["cuframes://cam1?dir=/run/shared"], "cam1", "/run/shared"),
        (["cam1", "--dir", "/run/shared"], "cam1", "/run/shared"),
        (["cuframes://cam1?dir=/run/shared", "--dir", "/run/shared/"], "cam1", "/run/shared/"),
    ],
)
def test_stat_takes_keys_urls_and_dir(fake_stat, args, key, folder):
    observer = fake_stat(busy_stream())
    assert invoke(stat, [*args, "--timeout", "0.5"]).exit_code == 0
    assert observer.calls == [((key,), {"dir": folder, "timeout": 0.5})]


def test_stat_refuses_two_different_folders(fake_stat):
    observer = fake_stat(busy_stream())
    result = invoke(stat, ["cuframes://cam1?dir=/run/a", "--dir", "/run/b"])
    assert_clean_error(result, "/run/a", "/run/b")
    assert observer.calls == []


@pytest.mark.parametrize(
    "error",
    [
        cuframes.NotFoundError("no producer for 'cam1' in /run/cuframes"),
        cuframes.DisconnectedError("the producer of 'cam1' closed"),
        cuframes.TimeoutError("'cam1' did not answer within 2 s"),
        cuframes.PermissionDeniedError("permission denied: /run/cuframes/cam1.sock [mode 0600]"),
    ],
)
def test_stat_failures_are_one_red_line(fake_stat, error):
    fake_stat(error)
    assert_clean_error(invoke(stat, ["cam1"]), str(error))  # "[mode 0600]" printed as written, not as markup


def test_stat_of_a_bad_key_or_url(fake_stat):
    fake_stat(busy_stream())
    assert_clean_error(invoke(stat, ["bad key"]), "contains a character")
    assert_clean_error(invoke(stat, ["http://cam1"]), "not a cuframes URL")


def test_stat_without_an_observer_in_the_core(monkeypatch):
    monkeypatch.delattr(cuframes, "stat", raising=False)
    assert_clean_error(invoke(stat, ["cam1"]), "cannot observe streams")


@pytest.mark.parametrize(
    "args, complaint",
    [
        (["--json", "--prometheus"], "not both"),
        (["--watch", "--prometheus"], "--watch"),
        (["--interval", "2"], "--interval goes with --watch"),
    ],
)
def test_stat_refuses_options_that_do_not_go_together(fake_stat, args, complaint):
    observer = fake_stat(busy_stream())
    result = invoke(stat, ["cam1", *args])
    assert result.exit_code == 2 and complaint in result.output
    assert observer.calls == []


def test_stat_watch_refreshes_until_ctrl_c(fake_stat, monkeypatch):
    later = dataclasses.replace(busy_stream(), latest_seq=99999)
    observer = fake_stat(busy_stream(), later)
    waits = stop_watch_after(monkeypatch, sleeps=2)
    result = invoke(stat, ["cam1", "--watch", "--interval", "0.25"])
    assert result.exit_code == 0, result.output  # Ctrl-C is how a watch ends
    assert len(observer.calls) == 2 and waits == [0.25, 0.25]
    assert "seq 99999" in result.stdout and "Ctrl-C to stop" in result.stdout


def test_stat_watch_shows_errors_and_keeps_watching(fake_stat, monkeypatch):
    observer = fake_stat(busy_stream(), cuframes.DisconnectedError("the producer of 'cam1' closed"))
    stop_watch_after(monkeypatch, sleeps=3)
    result = invoke(stat, ["cam1", "--watch"])
    assert result.exit_code == 0
    assert len(observer.calls) == 3
    # Not a terminal here: each refresh is printed, and the error goes to stderr as one line.
    assert result.stdout.count("Ctrl-C to stop") == 1
    assert "error: the producer of 'cam1' closed\n" in result.stderr


def test_stat_watch_fails_at_once_when_the_first_look_fails(fake_stat, monkeypatch):
    fake_stat(cuframes.NotFoundError("no producer for 'cam9'"))
    waits = stop_watch_after(monkeypatch, sleeps=5)
    assert_clean_error(invoke(stat, ["cam9", "--watch"]), "cam9")
    assert waits == []


def test_stat_watch_json_prints_one_line_each_time(fake_stat, monkeypatch):
    fake_stat(busy_stream(), quiet_stream("cam1"), cuframes.DisconnectedError("gone"))
    stop_watch_after(monkeypatch, sleeps=3)
    result = invoke(stat, ["cam1", "--watch", "--json"])
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["state"] for line in lines] == ["running", "closed"]
    assert "error: gone" in result.stderr


def test_stat_prometheus_without_prometheus_client_says_what_to_install(fake_stat, monkeypatch):
    fake_stat(busy_stream())
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # makes its import fail
    assert_clean_error(invoke(stat, ["cam1", "--prometheus"]), "pip install prometheus-client")


def prometheus_samples(text: str) -> dict:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in prometheus_parser.text_string_to_metric_families(text)
        for s in family.samples
    }


def test_stat_shows_the_stream_facts_in_every_output(fake_stat):
    fake_stat(camera_stream())  # each call answers it
    text = invoke(stat, ["cam1"]).stdout
    assert "time base 1/90000" in text and "30000/1001 fps nominal" in text and "matrix bt709" in text
    assert json.loads(invoke(stat, ["cam1", "--json"]).stdout)["facts"]["frame_rate"] == "30000/1001"
    found = prometheus_samples(invoke(stat, ["cam1", "--prometheus"]).stdout)
    labels = (
        ("color_matrix", "bt709"),
        ("color_primaries", "bt709"),
        ("color_range", "tv"),
        ("color_transfer", "bt709"),
        ("frame_rate", "30000/1001"),
        ("key", "cam1"),
        ("sample_aspect_ratio", "4/3"),
        ("time_base", "1/90000"),
    )
    assert found[("cuframes_stream_facts_info", labels)] == 1


# --- ls ---
ENTRIES = [
    KeyEntry("old", "/run/cuframes/old.sock", None, "stale socket: no producer"),
    KeyEntry("cam1", "/run/cuframes/cam1.sock", busy_stream(), ""),
    KeyEntry("idle", "/run/cuframes/idle.sock", quiet_stream(), ""),
]


def test_ls_prints_one_row_per_key_sorted(fake_list_streams):
    observer = fake_list_streams(ENTRIES)
    result = invoke(ls, [])
    assert result.exit_code == 0, result.output
    rows = result.stdout.split("───")[-1].splitlines()
    assert [line.split()[0] for line in rows if line.startswith("  ") and line[2] != " "] == ["cam1", "idle", "old"]
    assert "stalesocket:noproducer" in "".join(result.stdout.split())  # folded on an 80-column terminal
    assert observer.calls == [((), {"dir": None, "timeout": 0.0})]


def test_ls_json(fake_list_streams):
    observer = fake_list_streams(ENTRIES)
    result = invoke(ls, ["--json", "--dir", "/run/shared", "--timeout", "0.3"])
    assert result.exit_code == 0
    listed = json.loads(result.stdout)
    assert [e["key"] for e in listed] == ["cam1", "idle", "old"]
    assert listed[0]["status"]["format"] == "nv12" and listed[2] == ENTRIES[0].to_dict()
    assert observer.calls == [((), {"dir": "/run/shared", "timeout": 0.3})]


def test_ls_prometheus_marks_keys_nobody_answers_on_as_down(fake_list_streams):
    fake_list_streams(ENTRIES)
    result = invoke(ls, ["--prometheus"])
    assert result.exit_code == 0
    up = {
        s.labels["key"]: s.value
        for family in prometheus_parser.text_string_to_metric_families(result.stdout)
        for s in family.samples
        if s.name == "cuframes_up"
    }
    assert up == {"cam1": 1, "idle": 1, "old": 0}


def test_ls_of_an_empty_folder(fake_list_streams):
    fake_list_streams([])
    result = invoke(ls, ["--dir", "/run/empty"])
    assert result.exit_code == 0 and "no streams in /run/empty" in result.stdout
    assert json.loads(invoke(ls, ["--json"]).stdout) == []


def test_ls_failure_is_one_red_line(fake_list_streams):
    fake_list_streams(cuframes.NotFoundError("no socket folder /run/nowhere"))
    assert_clean_error(invoke(ls, ["--dir", "/run/nowhere"]), "/run/nowhere")


def test_ls_without_an_observer_in_the_core(monkeypatch):
    monkeypatch.delattr(cuframes, "list_streams", raising=False)
    assert_clean_error(invoke(ls, []), "cannot observe streams")


# --- snapshot (failures; the success is the end-to-end test below) ---
def test_snapshot_of_a_missing_key_fails_clearly(key, tmp_path):
    assert_clean_error(invoke(snapshot, [key, str(tmp_path / "out.png"), "--timeout", "0.2"]), key)
    assert os.listdir(tmp_path) == []


def test_snapshot_checks_the_extension_before_connecting(key, tmp_path):
    # No producer exists: the complaint must be about the file name, not the key.
    assert_clean_error(invoke(snapshot, [key, str(tmp_path / "out.gif")]), "out.gif", ".png")


def test_snapshot_without_pyav_says_what_to_install(key, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # makes its import fail
    monkeypatch.delitem(sys.modules, "cuframes.snapshot", raising=False)
    assert_clean_error(invoke(snapshot, [key, str(tmp_path / "out.png")]), "pip install av")


# --- bench ---
FAKE_HARNESS = """
import json, os, sys
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "ran.json"), "w") as f:
    json.dump({"args": sys.argv[1:], "python": sys.executable, "cwd": os.getcwd()}, f)
sys.exit(int(os.environ.get("FAKE_BENCH_EXIT", "0")))
"""


def make_checkout(root: Path, project: str = "cuframes") -> Path:
    (root / "bench").mkdir(parents=True)
    (root / "pyproject.toml").write_text(f'[project]\nname = "{project}"\nversion = "0"\n')
    (root / "bench" / "run.py").write_text(FAKE_HARNESS)
    return root / "bench" / "run.py"


def test_find_bench_harness_walks_up_to_a_cuframes_checkout(tmp_path):
    harness = make_checkout(tmp_path / "src")
    (tmp_path / "src" / "docs" / "deep").mkdir(parents=True)
    assert find_bench_harness([tmp_path / "src" / "docs" / "deep"]) == harness
    assert find_bench_harness([tmp_path]) is None


def test_find_bench_harness_ignores_other_projects(tmp_path):
    make_checkout(tmp_path / "other", project="not-cuframes")
    assert find_bench_harness([tmp_path / "other"]) is None


def test_bench_passes_its_arguments_through(tmp_path, monkeypatch):
    harness = make_checkout(tmp_path / "src")
    (tmp_path / "src" / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "src" / "sub")
    monkeypatch.setenv("FAKE_BENCH_EXIT", "3")
    result = invoke(bench, ["--quick", "--only", "floor,latency", "--out", str(tmp_path / "results"), "--", "--x"])
    assert result.exit_code == 3  # the harness's own status
    ran = json.loads((harness.parent / "ran.json").read_text())
    assert ran["args"] == ["--quick", "--only", "floor,latency", "--out", str(tmp_path / "results"), "--x"]
    assert ran["python"] == sys.executable  # this environment's Python, with cuframes in it
    assert ran["cwd"] == str(tmp_path / "src" / "sub")  # relative paths mean what the user meant
    assert str(harness) in result.stderr


def test_bench_with_source(tmp_path, monkeypatch):
    harness = make_checkout(tmp_path / "src")
    monkeypatch.chdir(tmp_path)
    assert invoke(bench, ["--source", str(tmp_path / "src")]).exit_code == 0
    assert json.loads((harness.parent / "ran.json").read_text())["args"] == []
    assert_clean_error(invoke(bench, ["--source", str(tmp_path)]), "no cuframes source checkout")


def test_bench_outside_a_checkout_says_where_the_harness_is(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli_inspect, "_default_harness_starts", lambda: [tmp_path])
    assert_clean_error(invoke(bench, ["--quick"]), "ships with the cuframes source checkout", "--source")


# --- end to end, against a real producer ---
W, H = 64, 48

PRODUCER = f"""
import sys, time, numpy as np, cuframes
key, backend, format = sys.argv[1], sys.argv[2], sys.argv[3]
with cuframes.Publisher(key, {W}, {H}, format, backend=backend) as pub:
    picture = (np.arange(pub.packed_size) % 251).astype(np.uint8)  # the same in every frame
    pub.send(picture, pts=1)
    print("up", flush=True)
    for seq in range(2, 10_000):
        pub.send(picture, pts=seq)
        time.sleep(0.01)
"""


def test_snapshot_of_a_live_producer(children, key, backend, cf_dir, tmp_path):
    av = pytest.importorskip("av")
    producer = children.spawn(PRODUCER, key, backend, "rgb24")
    children.read_line(producer, "up")
    out = tmp_path / "frame.png"
    result = invoke(snapshot, [f"cuframes://{key}?dir={cf_dir}", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.stdout.replace("\n", "") and "rgb24 64x48" in result.stdout
    with av.open(str(out)) as container:
        back = next(container.decode(video=0)).to_ndarray(format="rgb24")
    expected = (np.arange(W * H * 3) % 251).astype(np.uint8).reshape(H, W, 3)
    assert np.array_equal(back, expected)


@needs_observer
def test_stat_of_a_live_producer(children, key, backend, cf_dir):
    producer = children.spawn(PRODUCER, key, backend, "nv12")
    children.read_line(producer, "up")
    with cuframes.Subscriber(key) as sub:
        sub.next(timeout=5).release()
        result = invoke(stat, [f"cuframes://{key}?dir={cf_dir}", "--json"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    assert (status["key"], status["state"], status["backend"]) == (key, "running", backend)
    assert (status["format"], status["width"], status["height"]) == ("nv12", W, H)
    assert status["producer_pid"] in (producer.pid, 0) and status["producer_uid"] == os.getuid()
    assert status["latest_seq"] >= 1
    assert [(s["role"], s["pid"]) for s in status["subscribers"]] in ([("frames", os.getpid())], [("frames", 0)])


@needs_observer
def test_ls_of_a_live_producer_and_a_stale_socket(children, key, backend, cf_dir):
    producer = children.spawn(PRODUCER, key, backend, "nv12")
    children.read_line(producer, "up")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(cf_dir / "gone.sock"))  # bound, never listened on, closed: a producer that died
    stale.close()
    result = invoke(ls, ["--dir", str(cf_dir), "--json"])
    assert result.exit_code == 0, result.output
    entries = {entry["key"]: entry for entry in json.loads(result.stdout)}
    assert set(entries) == {key, "gone"}
    assert entries[key]["status"]["format"] == "nv12" and entries[key]["error"] == ""
    assert entries["gone"]["status"] is None and entries["gone"]["error"]


def test_bench_finds_the_harness_of_this_checkout(monkeypatch, capfd):
    # An unknown section makes the real harness stop at its argument check: no benchmark runs.
    monkeypatch.chdir(REPO / "docs")
    result = invoke(bench, ["--only", "no-such-section", "--out", "/nonexistent"])
    assert result.exit_code == 2, result.output
    assert str(REPO / "bench" / "run.py") in result.stderr
    assert "unknown section(s) no-such-section" in capfd.readouterr().err


def test_ls_shows_the_stream_facts_in_every_output(fake_list_streams):
    entries = [KeyEntry("cam1", "/run/cuframes/cam1.sock", camera_stream(), "")]
    fake_list_streams(entries)
    text = "".join(invoke(ls, []).stdout.split())  # folded on an 80-column terminal
    assert "tb1/90000,29.97fps,bt709/tv/bt709/bt709,SAR4/3" in text
    assert json.loads(invoke(ls, ["--json"]).stdout)[0]["status"]["facts"]["time_base"] == "1/90000"
    found = prometheus_samples(invoke(ls, ["--prometheus"]).stdout)
    assert found[("cuframes_nominal_fps", (("key", "cam1"),))] == pytest.approx(30000 / 1001)
    assert any(name == "cuframes_stream_facts_info" and ("time_base", "1/90000") in labels for name, labels in found)
