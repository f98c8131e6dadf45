"""Stream statuses rendered for people (rich tables) and machines (JSON, Prometheus text):
every field reaches the output, unknown figures stay unknown, and the Prometheus text
parses back to the same values."""

from __future__ import annotations

import dataclasses
import io
import json
import pickle

import pytest
from rich.console import Console

from cuframes.cli.render import (
    entries_to_json,
    format_age,
    format_bytes,
    format_latency,
    render_ls_table,
    render_stat_table,
    to_json,
    to_prometheus,
)
from cuframes.status import KeyEntry, PacketStatus, StreamStatus, SubscriberStatus, stream_state
from cuframes.stream_facts import ColorInfo, StreamFacts

prometheus_parser = pytest.importorskip("prometheus_client.parser")


def busy_stream(key: str = "cam1") -> StreamStatus:
    """A stream with a frames subscriber, a packets subscriber (in another PID namespace) and a packet ring."""
    return StreamStatus(
        key=key,
        dir="/run/cuframes",
        socket_path=f"/run/cuframes/{key}.sock",
        state="running",
        backend="cuda",
        format="nv12",
        width=1920,
        height=1080,
        slot_count=8,
        max_subscribers=4,
        epoch=0xBEEF,
        producer_pid=4242,
        producer_uid=1000,
        description='rtsp://10.0.0.7/live "main"',
        latest_seq=12345,
        fps=29.97,
        age_s=0.031,
        subscribers=(
            SubscriberStatus(
                id=1, role="frames", uid=1000, pid=5151, frames_received=12000, frames_missed=3, held=1, latency_us=42.5
            ),
            SubscriberStatus(
                id=2, role="packets", uid=1001, pid=0, frames_received=800, frames_missed=0, held=0, latency_us=None
            ),
        ),
        packets=PacketStatus(
            codec="h264",
            latest_seq=801,
            bytes_written=3 * 1024 * 1024,
            keyframes=27,
            overwritten=5,
            capacity_bytes=8 * 1024 * 1024,
        ),
    )


CAMERA_FACTS = StreamFacts.of(
    time_base=(1, 90_000), frame_rate="30000/1001", color=ColorInfo.BT709, sample_aspect_ratio=(4, 3)
)


def camera_stream(key: str = "cam1") -> StreamStatus:
    """busy_stream with the facts of a 29.97 fps BT.709 camera whose pixels are 4:3."""
    return dataclasses.replace(busy_stream(key), facts=CAMERA_FACTS)


def quiet_stream(key: str = "idle") -> StreamStatus:
    """A stream that has published under two frames, with nobody watching and no packet ring."""
    return dataclasses.replace(
        busy_stream(key),
        state="closed",
        description="",
        latest_seq=1,
        fps=None,
        age_s=None,
        subscribers=(),
        packets=None,
        epoch=0,
    )


def rendered(renderable) -> str:
    console = Console(file=io.StringIO(), width=200, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


# --- the records ---
def test_to_dict_is_json_ready_and_nested():
    status = busy_stream()
    as_dict = json.loads(json.dumps(status.to_dict()))
    assert as_dict["key"] == "cam1" and as_dict["fps"] == 29.97 and as_dict["width"] == 1920
    assert as_dict["subscribers"][1] == {
        "id": 2,
        "role": "packets",
        "uid": 1001,
        "pid": 0,
        "frames_received": 800,
        "frames_missed": 0,
        "held": 0,
        "latency_us": None,
    }
    assert as_dict["packets"]["codec"] == "h264" and as_dict["packets"]["overwritten"] == 5
    assert set(as_dict) == {f.name for f in dataclasses.fields(StreamStatus)}


def test_to_dict_keeps_unknowns_as_null():
    as_dict = json.loads(json.dumps(quiet_stream().to_dict()))
    assert as_dict["fps"] is None and as_dict["age_s"] is None and as_dict["packets"] is None
    assert as_dict["subscribers"] == []


def test_records_are_frozen_and_pickle():
    status = busy_stream()
    with pytest.raises(dataclasses.FrozenInstanceError):
        status.fps = 1.0  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(status)) == status
    assert status.frame_subscriber_count == 1 and status.packet_subscriber_count == 1


def test_key_entry_to_dict():
    alive = KeyEntry("cam1", "/run/cuframes/cam1.sock", busy_stream(), "")
    dead = KeyEntry("old", "/run/cuframes/old.sock", None, "stale socket: no producer")
    assert alive.to_dict()["status"]["format"] == "nv12"
    assert dead.to_dict() == {
        "key": "old",
        "socket_path": "/run/cuframes/old.sock",
        "error": "stale socket: no producer",
        "status": None,
    }


# --- human-readable figures ---
@pytest.mark.parametrize("value, text", [(None, "-"), (0.031, "31 ms ago"), (2.5, "2.5 s ago"), (600, "10 min ago")])
def test_format_age(value, text):
    assert format_age(value) == text


@pytest.mark.parametrize("value, text", [(None, "-"), (42.5, "42 µs"), (1500.0, "1.50 ms")])
def test_format_latency(value, text):
    assert format_latency(value) == text


@pytest.mark.parametrize(
    "value, text", [(12, "12 B"), (2048, "2.0 KiB"), (3 * 1024**2, "3.0 MiB"), (5 * 1024**4, "5120.0 GiB")]
)
def test_format_bytes(value, text):
    assert format_bytes(value) == text


# --- stat table ---
def test_stat_table_shows_the_stream_and_each_subscriber():
    text = rendered(render_stat_table(busy_stream()))
    for expected in (
        "cam1",
        "running",
        "/run/cuframes/cam1.sock",
        "pid 4242, uid 1000",
        "0xbeef",
        'rtsp://10.0.0.7/live "main"',
        "nv12 1920x1080 on cuda, 8 slots",
        "seq 12345",
        "29.97 fps",
        "31 ms ago",
        "1 of 4 frames, 1 of 4 packets (the limit is per role)",
        "h264, seq 801, 3.0 MiB written, 27 keyframes",
        "5 overwritten",
        "ring 8.0 MiB",
        "5151/1000",
        "?/1001",
        "12000",
        "42 µs",
    ):
        assert expected in text, f"{expected!r} missing from:\n{text}"


def test_stat_table_of_a_quiet_stream_says_unknown_not_zero():
    text = rendered(render_stat_table(quiet_stream()))
    assert "closed" in text and "- fps" in text and "0 of 4 frames (no packet ring)" in text
    assert "packets " not in text.replace("0 packets", "")  # no ring: no packets line
    assert "latency" not in text  # no subscriber table without subscribers


def test_stat_table_counts_subscribers_against_the_limit_of_their_role():
    # 4 frame and 3 packet subscribers under max_subscribers=4: full for frames, not "7 of 4".
    subscribers = tuple(
        SubscriberStatus(
            id=i,
            role="frames" if i < 4 else "packets",
            uid=0,
            pid=i,
            frames_received=0,
            frames_missed=0,
            held=0,
            latency_us=None,
        )
        for i in range(7)
    )
    text = rendered(render_stat_table(dataclasses.replace(busy_stream(), subscribers=subscribers)))
    assert "4 of 4 frames, 3 of 4 packets (the limit is per role)" in text
    assert "7 of 4" not in text


@pytest.mark.parametrize(
    "running, latest_seq, fps, age_s, state",
    [
        (True, 500, 25.0, 0.03, "running"),
        (True, 500, 25.0, 0.9, "running"),  # under the 1 s minimum: not stalled yet
        (True, 500, 25.0, 4.0, "stalled"),  # 4 s after the last frame of a 25 fps stream
        (True, 500, 1.0, 4.0, "running"),  # a 1 fps stream: 5 intervals are 5 s
        (True, 500, 1.0, 6.0, "stalled"),
        (True, 1, None, 3.0, "stalled"),  # one frame, rate unknown: the minimum applies
        (True, 0, None, None, "waiting"),  # no frame yet
        (False, 500, 25.0, 0.03, "closed"),
    ],
)
def test_stream_state_says_stalled_when_no_frame_came_for_several_intervals(running, latest_seq, fps, age_s, state):
    assert stream_state(running, latest_seq, fps, age_s) == state


@pytest.mark.parametrize(
    "fps, nominal_fps, age_s, state",
    [
        (None, 0.5, 3.0, "running"),  # the first frame of a 0.5 fps stream: 5 nominal intervals are 10 s
        (None, 0.5, 11.0, "stalled"),
        (None, None, 3.0, "stalled"),  # nothing known: the minimum applies
        (25.0, 0.5, 3.0, "stalled"),  # a measured rate wins over the stated one
    ],
)
def test_stream_state_uses_the_nominal_rate_when_none_is_measured(fps, nominal_fps, age_s, state):
    assert stream_state(True, 1, fps, age_s, nominal_fps) == state


def test_a_stalled_stream_is_marked_in_every_output():
    stalled = dataclasses.replace(busy_stream(), state="stalled", fps=0.0, age_s=4.0)
    text = rendered(render_stat_table(stalled))
    assert "stalled" in text and "0.00 fps" in text and "4.0 s ago" in text
    assert json.loads(to_json(stalled))["state"] == "stalled"
    found = samples(to_prometheus([stalled, busy_stream("cam2")], down=["gone"]))
    assert found[("cuframes_live", (("key", "cam1"),))] == 0
    assert found[("cuframes_live", (("key", "cam2"),))] == 1
    assert found[("cuframes_live", (("key", "gone"),))] == 0
    assert found[("cuframes_fps", (("key", "cam1"),))] == 0
    assert found[("cuframes_up", (("key", "cam1"),))] == 1  # it answered: up, but not live


def test_stat_table_prints_markup_in_descriptions_literally():
    text = rendered(render_stat_table(dataclasses.replace(busy_stream(), description="[bold]cam[/bold]")))
    assert "[bold]cam[/bold]" in text


# --- ls table ---
def cell_text(table, column: str) -> list[str]:
    (found,) = [c for c in table.columns if str(c.header).replace("\n", " ") == column]
    return [str(cell) for cell in found.cells]


def test_ls_table_has_one_row_per_key_and_says_why_a_key_is_dead():
    entries = [
        KeyEntry("cam1", "/run/cuframes/cam1.sock", busy_stream(), ""),
        KeyEntry("idle", "/run/cuframes/idle.sock", quiet_stream(), ""),
        KeyEntry("old", "/run/cuframes/old.sock", None, "stale socket: no producer"),
    ]
    table = render_ls_table(entries)
    assert [str(c.header).replace("\n", " ") for c in table.columns] == [
        "key",
        "producer pid/uid",
        "description",
        "format",
        "backend",
        "subs",
        "fps",
        "stream facts",
        "state",
    ]
    assert cell_text(table, "key") == ["cam1", "idle", "old"]
    assert cell_text(table, "producer pid/uid") == ["4242/1000", "4242/1000", "-"]
    assert cell_text(table, "format") == ["nv12 1920x1080", "nv12 1920x1080", "-"]
    assert cell_text(table, "backend") == ["cuda", "cuda", "-"]
    assert cell_text(table, "subs") == ["1+1", "0+0", "-"]
    assert cell_text(table, "fps") == ["29.97", "-", "-"]
    assert cell_text(table, "state") == ["running", "closed", "stale socket: no producer"]
    assert "frames+packets" in str(table.caption)
    text = rendered(table)
    assert "stale socket: no producer" in text and 'rtsp://10.0.0.7/live "main"' in text


def test_ls_table_shows_an_error_beside_a_status():
    table = render_ls_table([KeyEntry("cam1", "/s", busy_stream(), "answered late")])
    assert cell_text(table, "state") == ["running (answered late)"]


def test_ls_table_never_truncates_a_key():
    long_key = "camera-" + "x" * 90
    text = rendered(render_ls_table([KeyEntry(long_key, "/s", busy_stream(long_key), "")]))
    assert long_key in "".join(line.split()[0] for line in text.splitlines()[3:] if line.strip())  # folded, not cut


# --- JSON ---
def test_to_json_round_trips():
    status = busy_stream()
    assert json.loads(to_json(status)) == json.loads(json.dumps(status.to_dict()))


def test_entries_to_json_lists_every_entry():
    entries = [KeyEntry("cam1", "/s1", busy_stream(), ""), KeyEntry("old", "/s2", None, "stale socket: no producer")]
    listed = json.loads(entries_to_json(entries))
    assert [e["key"] for e in listed] == ["cam1", "old"]
    assert listed[0]["status"]["latest_seq"] == 12345 and listed[1]["status"] is None


# --- Prometheus ---
def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition text, by (sample name, sorted labels)."""
    found = {}
    for family in prometheus_parser.text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def families(text: str) -> dict[str, str]:
    return {family.name: family.type for family in prometheus_parser.text_string_to_metric_families(text)}


def test_prometheus_stream_metrics_parse_back():
    found = samples(to_prometheus([busy_stream()]))
    key = (("key", "cam1"),)
    assert found[("cuframes_up", key)] == 1
    assert found[("cuframes_fps", key)] == pytest.approx(29.97)
    assert found[("cuframes_latest_seq", key)] == 12345
    assert found[("cuframes_age_seconds", key)] == pytest.approx(0.031)
    assert found[("cuframes_slots", key)] == 8
    assert found[("cuframes_max_subscribers", key)] == 4
    assert found[("cuframes_subscribers", key + (("role", "frames"),))] == 1
    assert found[("cuframes_subscribers", key + (("role", "packets"),))] == 1
    info = {labels: value for (name, labels), value in found.items() if name == "cuframes_stream_info"}
    ((labels, value),) = info.items()
    assert value == 1 and dict(labels) == {
        "key": "cam1",
        "backend": "cuda",
        "format": "nv12",
        "width": "1920",
        "height": "1080",
        "state": "running",
        "description": 'rtsp://10.0.0.7/live "main"',
    }


def test_prometheus_subscriber_metrics_are_labelled_by_key_subscriber_and_role():
    found = samples(to_prometheus([busy_stream()]))
    first = (("key", "cam1"), ("role", "frames"), ("subscriber", "1"))
    second = (("key", "cam1"), ("role", "packets"), ("subscriber", "2"))
    assert found[("cuframes_subscriber_frames_received_total", first)] == 12000
    assert found[("cuframes_subscriber_frames_missed_total", first)] == 3
    assert found[("cuframes_subscriber_held_frames", first)] == 1
    assert found[("cuframes_subscriber_latency_seconds", first)] == pytest.approx(42.5e-6)
    assert found[("cuframes_subscriber_frames_received_total", second)] == 800
    assert ("cuframes_subscriber_latency_seconds", second) not in found  # unknown: absent, not 0


def test_prometheus_packet_metrics():
    found = samples(to_prometheus([busy_stream()]))
    labels = (("codec", "h264"), ("key", "cam1"))
    assert found[("cuframes_packets_bytes_total", labels)] == 3 * 1024 * 1024
    assert found[("cuframes_packets_overwritten_total", labels)] == 5
    assert found[("cuframes_packets_keyframes_total", labels)] == 27
    assert found[("cuframes_packets_latest_seq", labels)] == 801
    assert found[("cuframes_packets_capacity_bytes", labels)] == 8 * 1024 * 1024


def test_prometheus_types():
    types = families(to_prometheus([busy_stream()]))
    assert types["cuframes_subscriber_frames_received"] == "counter"
    assert types["cuframes_packets_bytes"] == "counter"
    assert types["cuframes_fps"] == "gauge" and types["cuframes_up"] == "gauge"
    assert types["cuframes_stream_info"] == "gauge"  # an info metric, as text format 0.0.4 writes it
    assert all(name.startswith("cuframes_") for name in types)


def test_prometheus_leaves_out_what_is_unknown():
    text = to_prometheus([quiet_stream()])
    names = {name for name, _ in samples(text)}
    assert "cuframes_fps" not in names and "cuframes_age_seconds" not in names
    assert not any(name.startswith(("cuframes_packets", "cuframes_subscriber_")) for name in names)
    assert "cuframes_packets" not in text  # no empty families either


def test_prometheus_several_streams_and_keys_nobody_answers_on():
    found = samples(to_prometheus([busy_stream("a"), quiet_stream("b")], down=["c"]))
    assert found[("cuframes_up", (("key", "a"),))] == 1
    assert found[("cuframes_up", (("key", "b"),))] == 1
    assert found[("cuframes_up", (("key", "c"),))] == 0
    assert found[("cuframes_latest_seq", (("key", "b"),))] == 1


def test_prometheus_escapes_label_values():
    tricky = 'line one\nline "two" \\ three'
    found = samples(to_prometheus([dataclasses.replace(busy_stream(), description=tricky)]))
    (labels,) = [labels for name, labels in found if name == "cuframes_stream_info"]
    assert dict(labels)["description"] == tricky


def test_prometheus_of_nothing_is_empty():
    assert to_prometheus([]) == ""


def test_ls_table_prints_markup_in_keys_descriptions_and_errors_literally():
    entries = [
        KeyEntry("cam1", "/s", dataclasses.replace(busy_stream(), description="[red]x[/red]"), ""),
        KeyEntry("old", "/s2", None, "permission denied: [mode 0600]"),
    ]
    text = rendered(render_ls_table(entries))
    assert "[red]x[/red]" in text and "[mode 0600]" in text


# --- stream facts in every output ---
def test_stat_table_shows_the_stream_facts():
    text = rendered(render_stat_table(camera_stream()))
    for expected in (
        "time base 1/90000",
        "30000/1001 fps nominal (29.97)",
        "SAR 4/3",
        "matrix bt709",
        "range tv",
        "primaries bt709",
        "transfer bt709",
    ):
        assert expected in text, f"{expected!r} missing from:\n{text}"
    unknown = rendered(render_stat_table(busy_stream()))
    assert "time base -, rate unknown or variable, SAR -" in unknown and "matrix unspecified" in unknown


def test_ls_table_shows_the_stream_facts():
    table = render_ls_table(
        [
            KeyEntry("cam1", "/s", camera_stream(), ""),
            KeyEntry("idle", "/s", quiet_stream(), ""),
            KeyEntry("old", "/s", None, "stale socket: no producer"),
        ]
    )
    assert cell_text(table, "stream facts") == [
        "tb 1/90000, 29.97 fps, bt709/tv/bt709/bt709, SAR 4/3",
        "tb -, - fps, unspecified/unspecified/unspecified/unspecified, SAR -",
        "-",
    ]


def test_json_has_the_stream_facts():
    facts = json.loads(to_json(camera_stream()))["facts"]
    assert facts == {
        "time_base": "1/90000",
        "frame_rate": "30000/1001",
        "sample_aspect_ratio": "4/3",
        "color": {
            "matrix": "bt709",
            "range": "tv",
            "primaries": "bt709",
            "transfer": "bt709",
            "code_points": [1, 1, 1, 1],
        },
    }
    listed = json.loads(entries_to_json([KeyEntry("cam1", "/s", camera_stream(), "")]))
    assert listed[0]["status"]["facts"] == facts


def test_prometheus_has_the_stream_facts_as_labels_and_the_nominal_rate():
    found = samples(to_prometheus([camera_stream(), quiet_stream()]))
    facts = {
        dict(labels)["key"]: dict(labels)
        for (name, labels), value in found.items()
        if name == "cuframes_stream_facts_info" and value == 1
    }
    assert facts["cam1"] == {
        "key": "cam1",
        "time_base": "1/90000",
        "frame_rate": "30000/1001",
        "sample_aspect_ratio": "4/3",
        "color_matrix": "bt709",
        "color_range": "tv",
        "color_primaries": "bt709",
        "color_transfer": "bt709",
    }
    assert facts["idle"]["time_base"] == "" and facts["idle"]["color_matrix"] == "unspecified"
    assert found[("cuframes_nominal_fps", (("key", "cam1"),))] == pytest.approx(30000 / 1001)
    assert ("cuframes_nominal_fps", (("key", "idle"),)) not in found  # unknown: absent, not 0
    types = families(to_prometheus([camera_stream()]))
    # An info metric reads back as a gauge, as text format 0.0.4 writes it.
    assert types["cuframes_stream_facts_info"] == "gauge" and types["cuframes_nominal_fps"] == "gauge"
