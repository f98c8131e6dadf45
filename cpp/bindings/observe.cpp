// cuframes._core.observe(): one look at a live producer, as plain dicts for
// the Python side (cuframes.status) to shape.
#include "bindings.hpp"

#include "cuframes/observe.hpp"
#include "cuframes/packets.hpp"

namespace cuframes_py {

namespace {

py::dict subscriber_dict(const cuframes::SubscriberObservation &s) {
    py::dict d;
    d["id"] = s.id;
    d["role"] = s.packets ? "packets" : "frames";
    d["uid"] = s.uid;
    d["pid"] = s.pid;
    d["held"] = s.held;
    d["frames_received"] = s.frames_received;
    d["frames_missed"] = s.frames_missed;
    d["latency_ns"] = s.latency_ns;
    return d;
}

py::dict observation_dict(const cuframes::StreamObservation &o) {
    py::dict d;
    d["key"] = o.key;
    d["socket_path"] = o.socket_path;
    d["running"] = o.running;
    d["backend"] = cuframes::backend_name(o.backend);
    d["format"] = cuframes::format_name(o.layout.format);
    d["width"] = o.layout.width;
    d["height"] = o.layout.height;
    d["slot_count"] = o.slot_count;
    d["max_subscribers"] = o.max_subscribers;
    d["epoch"] = o.epoch;
    d["producer_pid"] = o.producer_pid;
    d["producer_uid"] = o.producer_uid;
    d["description"] = o.description;
    d["facts"] = facts_tuple(o.facts);
    d["latest_seq"] = o.latest_seq;
    d["fps"] = o.fps;
    d["newest_timestamp_ns"] = o.newest_timestamp_ns;
    d["observed_ns"] = o.observed_ns;
    py::list subscribers;
    for (const auto &s : o.subscribers) subscribers.append(subscriber_dict(s));
    d["subscribers"] = subscribers;
    if (o.has_packets) {
        py::dict p;
        p["codec"] = o.packets.codec == 0 ? "" : cuframes::codec_name(static_cast<cuframes_codec>(o.packets.codec));
        p["latest_seq"] = o.packets.latest_seq;
        p["oldest_seq"] = o.packets.oldest_seq;
        p["bytes_written"] = o.packets.bytes_written;
        p["keyframes"] = o.packets.keyframes;
        p["capacity_bytes"] = o.packets.capacity_bytes;
        d["packets"] = p;
    } else {
        d["packets"] = py::none();
    }
    return d;
}

}  // namespace

void register_observe(py::module_ &m) {
    m.def(
        "observe",
        [](const std::string &key, const std::string &dir, const py::object &timeout) {
            int timeout_ms = to_timeout_ms(timeout, "timeout");
            cuframes::StreamObservation observation;
            {
                py::gil_scoped_release unlocked;
                observation = cuframes::observe(key, dir, timeout_ms);
            }
            return observation_dict(observation);
        },
        py::arg("key"), py::arg("dir") = "", py::arg("timeout") = 2.0,
        "One observation of the producer of `key` (a dict), without subscribing.");
}

}  // namespace cuframes_py
