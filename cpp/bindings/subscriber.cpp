// cuframes._core.Subscriber, FrameLease and FrameInfo.
#include "bindings.hpp"

#include <cmath>

#include "cuframes/subscriber.hpp"

namespace cuframes_py {

namespace {

// The Python FrameLease: one reference to the core lease. release() drops it;
// plane views and DLPack exports hold their own references.
struct HeldFrame {
    std::shared_ptr<cuframes::FrameLease> lease;

    const cuframes::FrameLease &get() const {
        if (!lease) throw_status(CUFRAMES_ERR_STATE, "frame was released");
        return *lease;
    }
};

// Seconds (None: until the timeout) to the core's nanoseconds (-1: until the timeout).
int64_t to_spin_ns(const py::object &seconds) {
    if (seconds.is_none()) return -1;
    const double s = seconds.cast<double>();
    if (std::isnan(s) || s < 0)
        throw_status(CUFRAMES_ERR_INVALID_ARGUMENT, "spin must be None (spin until the timeout) or >= 0 seconds, got " +
                                                        std::string(py::repr(seconds)));
    return s >= 9.2e9 ? -1 : static_cast<int64_t>(s * 1e9);
}

cuframes::MemoryKind memory_kind(bool is_device) {
    return is_device ? cuframes::MemoryKind::Device : cuframes::MemoryKind::Host;
}

}  // namespace

void register_subscriber(py::module_ &m) {
    py::class_<cuframes::FrameInfo>(m, "FrameInfo", "What read_into copied.")
        .def_readonly("seq", &cuframes::FrameInfo::seq)
        .def_readonly("pts", &cuframes::FrameInfo::pts)
        .def_readonly("timestamp_ns", &cuframes::FrameInfo::timestamp_ns, "CLOCK_MONOTONIC at publish.")
        .def_readonly("missed", &cuframes::FrameInfo::missed, "Frames skipped just before this one.")
        .def_readonly("slot", &cuframes::FrameInfo::slot)
        .def_readonly("epoch", &cuframes::FrameInfo::epoch, "Random id of the producer instance that published it.")
        .def_readonly("reconnected", &cuframes::FrameInfo::reconnected, "First frame from a restarted producer.")
        .def("__repr__", [](const cuframes::FrameInfo &i) {
            return "<cuframes._core.FrameInfo seq=" + std::to_string(i.seq) + " pts=" + std::to_string(i.pts) +
                   " missed=" + std::to_string(i.missed) + ">";
        });

    py::class_<HeldFrame>(m, "FrameLease", "A frame held zero-copy; the producer will not write its slot meanwhile.")
        .def_property_readonly("seq", [](const HeldFrame &f) { return f.get().info().seq; })
        .def_property_readonly("pts", [](const HeldFrame &f) { return f.get().info().pts; })
        .def_property_readonly("timestamp_ns", [](const HeldFrame &f) { return f.get().info().timestamp_ns; })
        .def_property_readonly("missed", [](const HeldFrame &f) { return f.get().info().missed; })
        .def_property_readonly("slot", [](const HeldFrame &f) { return f.get().info().slot; })
        .def_property_readonly("epoch", [](const HeldFrame &f) { return f.get().info().epoch; })
        .def_property_readonly("reconnected", [](const HeldFrame &f) { return f.get().info().reconnected; })
        .def_property_readonly(
            "facts", [](const HeldFrame &f) { return facts_tuple(f.get().facts()); },
            "Stream facts of the producer that published it (a tuple of ten ints).")
        .def_property_readonly("data", [](const HeldFrame &f) { return f.get().info().data; })
        .def_property_readonly("size", [](const HeldFrame &f) { return f.get().info().size; })
        .def_property_readonly("metadata", [](const HeldFrame &f) { return py::bytes(f.get().metadata()); })
        .def_property_readonly("format",
                               [](const HeldFrame &f) { return cuframes::format_name(f.get().layout().format); })
        .def_property_readonly("width", [](const HeldFrame &f) { return f.get().layout().width; })
        .def_property_readonly("height", [](const HeldFrame &f) { return f.get().layout().height; })
        .def_property_readonly("packed_size", [](const HeldFrame &f) { return f.get().layout().packed_bytes; })
        .def_property_readonly("backend", [](const HeldFrame &f) { return cuframes::backend_name(f.get().backend()); })
        .def_property_readonly("device", [](const HeldFrame &f) { return f.get().device(); })
        .def_property_readonly("released", [](const HeldFrame &f) { return !f.lease; })
        .def_property_readonly("planes",
                               [](const HeldFrame &f) {
                                   const cuframes::FrameLease &l = f.get();
                                   return make_plane_views(l.layout(), l.info().data, f.lease, nullptr, true,
                                                           l.backend(), l.device());
                               })
        .def(
            "view",
            [](const HeldFrame &f) {
                const cuframes::FrameLease &l = f.get();
                return make_frame_view(l.layout(), l.info().data, f.lease, nullptr, true, l.backend(), l.device());
            },
            "The whole frame as one read-only array (one-plane formats, NV12, P010).")
        .def(
            "copy_to",
            [](const HeldFrame &f, uint64_t dst_ptr, uint64_t dst_size, bool dst_is_device, uint64_t stream) {
                std::shared_ptr<cuframes::FrameLease> lease = f.lease;
                if (!lease) throw_status(CUFRAMES_ERR_STATE, "frame was released");
                py::gil_scoped_release unlocked;
                lease->copy_to(dst_ptr, dst_size, memory_kind(dst_is_device), stream);
            },
            py::arg("dst_ptr"), py::arg("dst_size"), py::arg("dst_is_device"), py::arg("stream") = 0,
            "Copies the frame packed (no row padding) into dst; complete on return.")
        .def(
            "release", [](HeldFrame &f) { f.lease.reset(); },
            "Drops this reference; live plane views and DLPack exports keep the slot held until they die.")
        .def("__repr__", [](const HeldFrame &f) {
            if (!f.lease) return std::string("<cuframes._core.FrameLease released>");
            const auto &i = f.lease->info();
            return "<cuframes._core.FrameLease seq=" + std::to_string(i.seq) + " slot=" + std::to_string(i.slot) + ">";
        });

    py::class_<cuframes::Subscriber>(m, "Subscriber")
        .def(py::init([](const std::string &key, const std::string &dir, const py::object &connect_timeout,
                         const std::string &delivery, bool reconnect, const py::object &spin, bool notify) {
                 cuframes::SubscriberOptions options;
                 options.key = key;
                 options.dir = dir;
                 options.connect_timeout_ms = to_timeout_ms(connect_timeout, "connect_timeout");
                 options.delivery = cuframes::parse_delivery(delivery);
                 options.reconnect = reconnect;
                 options.spin_ns = to_spin_ns(spin);
                 options.notify = notify;
                 py::gil_scoped_release unlocked;
                 return std::make_unique<cuframes::Subscriber>(options);
             }),
             py::arg("key"), py::arg("dir") = "", py::arg("connect_timeout") = 5.0, py::arg("delivery") = "latest",
             py::arg("reconnect") = false, py::arg("spin") = 0.0, py::arg("notify") = false)
        .def(
            "try_next",
            [](cuframes::Subscriber &s) -> py::object {
                std::shared_ptr<cuframes::FrameLease> lease;
                {
                    // It never waits for a frame, but a reconnect's handshake may wait for a wedged producer.
                    py::gil_scoped_release unlocked;
                    lease = s.try_next();
                }
                if (!lease) return py::none();
                return py::cast(HeldFrame{std::move(lease)});
            },
            "The next frame if one is ready now, else None; with notify, also reads the notification bytes.")
        .def_property_readonly("notify_fd", &cuframes::Subscriber::notify_fd,
                               "With notify: the descriptor to poll (readable: call try_next); -1 without.")
        .def(
            "next",
            [](cuframes::Subscriber &s, const py::object &timeout) {
                const int ms = to_timeout_ms(timeout, "timeout");
                std::shared_ptr<cuframes::FrameLease> lease;
                {
                    py::gil_scoped_release unlocked;
                    lease = s.next(ms);
                }
                return HeldFrame{std::move(lease)};
            },
            py::arg("timeout") = py::none(), "The next frame, held zero-copy. timeout in seconds; None waits forever.")
        .def(
            "read_into",
            [](cuframes::Subscriber &s, uint64_t dst_ptr, uint64_t dst_size, bool dst_is_device, uint64_t stream,
               const py::object &timeout) {
                const int ms = to_timeout_ms(timeout, "timeout");
                py::gil_scoped_release unlocked;
                return s.read_into(ms, dst_ptr, dst_size, memory_kind(dst_is_device), stream);
            },
            py::arg("dst_ptr"), py::arg("dst_size"), py::arg("dst_is_device"), py::arg("stream") = 0,
            py::arg("timeout") = py::none(), "Waits for the next frame and copies it packed into dst.")
        .def("close", &cuframes::Subscriber::close, py::call_guard<py::gil_scoped_release>())
        .def_property_readonly("key", &cuframes::Subscriber::key)
        .def_property_readonly("socket_path", &cuframes::Subscriber::socket_path)
        .def_property_readonly("backend",
                               [](const cuframes::Subscriber &s) { return cuframes::backend_name(s.backend()); })
        .def_property_readonly("device", &cuframes::Subscriber::device)
        .def_property_readonly("format",
                               [](const cuframes::Subscriber &s) { return cuframes::format_name(s.layout().format); })
        .def_property_readonly("width", [](const cuframes::Subscriber &s) { return s.layout().width; })
        .def_property_readonly("height", [](const cuframes::Subscriber &s) { return s.layout().height; })
        .def_property_readonly("slot_count", &cuframes::Subscriber::slot_count)
        .def_property_readonly("slot_size", &cuframes::Subscriber::slot_size)
        .def_property_readonly("packed_size", [](const cuframes::Subscriber &s) { return s.layout().packed_bytes; })
        .def_property_readonly("planes", [](const cuframes::Subscriber &s) { return plane_infos(s.layout()); })
        .def_property_readonly("max_held", &cuframes::Subscriber::max_held)
        .def_property_readonly("facts", [](const cuframes::Subscriber &s) { return facts_tuple(s.facts()); })
        .def_property_readonly("held_count", &cuframes::Subscriber::held_count)
        .def_property_readonly("last_seq", &cuframes::Subscriber::last_seq)
        .def_property_readonly("missed_total", &cuframes::Subscriber::missed_total)
        .def_property_readonly("epoch", &cuframes::Subscriber::epoch)
        .def_property_readonly("reconnect", &cuframes::Subscriber::reconnect)
        .def_property_readonly("reconnect_count", &cuframes::Subscriber::reconnect_count)
        .def_property_readonly("delivery",
                               [](const cuframes::Subscriber &s) { return cuframes::delivery_name(s.delivery()); })
        .def_property_readonly("closed", &cuframes::Subscriber::closed);
}

}  // namespace cuframes_py
