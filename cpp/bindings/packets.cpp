// cuframes._core.PacketSubscriber and Packet.
#include "bindings.hpp"

#include "cuframes/packets.hpp"

namespace cuframes_py {

void register_packets(py::module_ &m) {
    py::class_<cuframes::PacketInfo>(m, "PacketInfo", "What came with one packet.")
        .def_readonly("seq", &cuframes::PacketInfo::seq)
        .def_readonly("pts", &cuframes::PacketInfo::pts)
        .def_readonly("dts", &cuframes::PacketInfo::dts)
        .def_readonly("timestamp_ns", &cuframes::PacketInfo::timestamp_ns)
        .def_property_readonly("codec", [](const cuframes::PacketInfo &i) { return cuframes::codec_name(i.codec); })
        .def_readonly("keyframe", &cuframes::PacketInfo::keyframe)
        .def_readonly("overruns", &cuframes::PacketInfo::overruns)
        .def_readonly("discontinuity", &cuframes::PacketInfo::discontinuity)
        .def_readonly("parameter_sets_prepended", &cuframes::PacketInfo::parameter_sets_prepended)
        .def_readonly("reconnected", &cuframes::PacketInfo::reconnected)
        .def_readonly("epoch", &cuframes::PacketInfo::epoch)
        .def_property_readonly(
            "time_base", [](const cuframes::PacketInfo &i) { return py::make_tuple(i.time_base.num, i.time_base.den); },
            "(num, den) of pts and dts; num 0: unknown.");

    py::class_<cuframes::PacketSubscriber>(m, "PacketSubscriber")
        .def(py::init([](const std::string &key, const std::string &dir, const py::object &connect_timeout,
                         bool reconnect, bool notify) {
                 cuframes::PacketSubscriberOptions options;
                 options.key = key;
                 options.dir = dir;
                 options.connect_timeout_ms = to_timeout_ms(connect_timeout, "timeout");
                 options.reconnect = reconnect;
                 options.notify = notify;
                 py::gil_scoped_release unlocked;
                 return std::make_unique<cuframes::PacketSubscriber>(options);
             }),
             py::arg("key"), py::arg("dir") = "", py::arg("connect_timeout") = 5.0, py::arg("reconnect") = false,
             py::arg("notify") = false)
        .def(
            "try_next",
            [](cuframes::PacketSubscriber &s) -> py::object {
                cuframes::Packet packet;
                bool taken = false;
                {
                    // It never waits for a packet, but a reconnect's handshake may wait for a wedged producer.
                    py::gil_scoped_release unlocked;
                    taken = s.try_next(packet);
                }
                if (!taken) return py::none();
                py::bytes data(reinterpret_cast<const char *>(packet.data.data()), packet.data.size());
                return py::make_tuple(data, packet.info);
            },
            "(data, info) of the next packet if one is ready now, else None; with notify, also reads the "
            "notification bytes.")
        .def_property_readonly("notify_fd", &cuframes::PacketSubscriber::notify_fd,
                               "With notify: the descriptor to poll (readable: call try_next); -1 without.")
        .def(
            "next",
            [](cuframes::PacketSubscriber &s, const py::object &timeout) {
                int timeout_ms = to_timeout_ms(timeout, "timeout");
                cuframes::Packet packet;
                {
                    py::gil_scoped_release unlocked;
                    packet = s.next(timeout_ms);
                }
                py::bytes data(reinterpret_cast<const char *>(packet.data.data()), packet.data.size());
                return py::make_tuple(data, packet.info);
            },
            py::arg("timeout") = py::none(), "(data: bytes, info: PacketInfo) of the next packet.")
        .def("close",
             [](cuframes::PacketSubscriber &s) {
                 py::gil_scoped_release unlocked;
                 s.close();
             })
        .def_property_readonly("closed", &cuframes::PacketSubscriber::closed)
        .def_property_readonly("key", &cuframes::PacketSubscriber::key)
        .def_property_readonly("socket_path", &cuframes::PacketSubscriber::socket_path)
        .def_property_readonly("ring_bytes", &cuframes::PacketSubscriber::ring_bytes)
        .def_property_readonly("last_seq", &cuframes::PacketSubscriber::last_seq)
        .def_property_readonly("overruns_total", &cuframes::PacketSubscriber::overruns_total)
        .def_property_readonly("epoch", &cuframes::PacketSubscriber::epoch)
        .def_property_readonly("facts", [](const cuframes::PacketSubscriber &s) { return facts_tuple(s.facts()); })
        .def_property_readonly("reconnect", &cuframes::PacketSubscriber::reconnect)
        .def_property_readonly("reconnect_count", &cuframes::PacketSubscriber::reconnect_count);
}

}  // namespace cuframes_py
