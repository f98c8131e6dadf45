"""Run by Debian's Python (/usr/bin/python3, which has PyGObject) for tests/test_gstreamer.py:

    /usr/bin/python3 tests/gst_cycles.py SRC_KEY SINK_KEY CYCLES MAPS_SLACK

Takes a cuframessrc pipeline (reading SRC_KEY, which a producer publishes) and a
cuframessink pipeline (publishing SINK_KEY) from NULL to PLAYING, waits for a buffer to
reach each sink, and back to NULL, CYCLES times, in this one process. Prints one JSON
line: the open descriptors and mappings after a warm-up and at the end (once the descriptors
are back to the warm count and the mappings within MAPS_SLACK of it, or after 5 s), and what the
source's pipeline answered to the latency query and how far its first buffer's
timestamp was from the running time."""

import json
import os
import sys
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

WARM_UP = 10


def counts():
    with open("/proc/self/maps") as maps:
        return len(os.listdir("/proc/self/fd")), sum(1 for _ in maps)


def first_sample(pipeline, sink_name):
    sink = pipeline.get_by_name(sink_name)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        sample = sink.get_property("last-sample")
        if sample is not None:
            return sample
        message = pipeline.get_bus().pop_filtered(Gst.MessageType.ERROR)
        if message is not None:
            raise SystemExit(f"pipeline error: {message.parse_error()}")
        time.sleep(0.005)
    raise SystemExit(f"no buffer reached {sink_name} within 20 s")


def cycle(description, sink_name, probe=None):
    pipeline = Gst.parse_launch(description)
    if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        raise SystemExit(f"{description}: could not go to PLAYING")
    sample = first_sample(pipeline, sink_name)
    if probe is not None:
        probe(pipeline, sample)
    pipeline.set_state(Gst.State.NULL)


def main():
    src_key, sink_key, cycles, maps_slack = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    Gst.init(None)
    found = {}

    def probe(pipeline, sample):
        query = Gst.Query.new_latency()
        found["latency_answered"] = pipeline.get_by_name("src").get_static_pad("src").query(query)
        live, minimum, maximum = query.parse_latency()
        found.update(live=live, min_latency_ns=minimum)
        running = pipeline.get_clock().get_time() - pipeline.get_base_time()
        found["first_pts_behind_running_time_ns"] = running - sample.get_buffer().pts

    source = f"cuframessrc key={src_key} timeout=20000 name=src ! fakesink name=out"
    sink = (
        "videotestsrc is-live=true ! video/x-raw,format=NV12,width=160,height=96,framerate=100/1"
        f" ! cuframessink key={sink_key} name=out"
    )
    for index in range(cycles):
        cycle(source, "out", probe if index == 0 else None)
        cycle(sink, "out")
        if index + 1 == WARM_UP:
            found["fds_warm"], found["maps_warm"] = counts()
    # A descriptor may close a moment after set_state(NULL) returns (a peer's hang-up noticed by
    # a thread), which a loaded machine stretches: the end count is taken once the counts come
    # back to the warm ones, or after 5 s. A leak grows with every cycle and never comes back.
    deadline = time.monotonic() + 5
    while True:
        found["fds_end"], found["maps_end"] = counts()
        settled = found["fds_end"] <= found["fds_warm"] and found["maps_end"] <= found["maps_warm"] + maps_slack
        if settled or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    print(json.dumps(found), flush=True)


if __name__ == "__main__":
    main()
