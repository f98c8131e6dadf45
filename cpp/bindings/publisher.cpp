// cuframes._core.Publisher and WritableSlot.
#include "bindings.hpp"

#include <mutex>
#include <optional>

#include "cuframes/packets.hpp"
#include "cuframes/publisher.hpp"

namespace cuframes_py {

namespace {

// The core publisher, the frame on loan (Python's acquire/publish/abort) and
// the liveness token of its slot. Shared so that writable plane views keep the
// slot memory mapped while they exist.
struct PublisherState : std::enable_shared_from_this<PublisherState> {
    std::unique_ptr<cuframes::Publisher> core;
    // Taken without the GIL (never the other way round): a copy into the frame
    // or its publish runs unlocked while another thread may abort or close.
    std::mutex loan_mutex;
    std::optional<cuframes::WritableFrame> loaned;
    SlotToken token;

    void invalidate_slot() {
        if (token) token->store(false, std::memory_order_release);
        token.reset();
    }
    // Drops the frame on loan (its slot goes back unpublished). Without the GIL.
    void drop_loan() {
        std::lock_guard<std::mutex> guard(loan_mutex);
        loaned.reset();
    }
};

// What a writable view keeps alive: the publisher, and the slot memory itself,
// which close() would otherwise unmap under a view that is still around.
struct SlotOwner {
    std::shared_ptr<PublisherState> state;
    std::shared_ptr<const void> memory;
};

std::shared_ptr<void> slot_owner(const std::shared_ptr<PublisherState> &state) {
    return std::make_shared<SlotOwner>(SlotOwner{state, state->core->slot_memory_owner()});
}

struct WritableSlotPy {
    uint32_t index = 0;
    uint64_t data = 0;
    uint64_t size = 0;
    std::vector<PlaneView> planes;
    std::shared_ptr<PublisherState> state;
    SlotToken token;
};

}  // namespace

void register_publisher(py::module_ &m) {
    py::class_<WritableSlotPy>(m, "WritableSlot", "A slot the producer may write into until publish() or abort().")
        .def_readonly("index", &WritableSlotPy::index)
        .def_readonly("data", &WritableSlotPy::data, "CUdeviceptr on cuda, CPU address on host.")
        .def_readonly("size", &WritableSlotPy::size)
        .def_readonly("planes", &WritableSlotPy::planes)
        .def_property_readonly("valid", [](const WritableSlotPy &s) { return s.token && s.token->load(); })
        .def(
            "view",
            [](const WritableSlotPy &s) {
                const cuframes::Publisher &p = *s.state->core;
                return make_frame_view(p.layout(), s.data, slot_owner(s.state), s.token, false, p.backend(),
                                       p.device());
            },
            "The whole frame as one writable array (one-plane formats, NV12, P010).")
        .def("__repr__", [](const WritableSlotPy &s) {
            return "<cuframes._core.WritableSlot index=" + std::to_string(s.index) + " size=" + std::to_string(s.size) +
                   ((s.token && s.token->load()) ? "" : " done") + ">";
        });

    py::class_<cuframes::PublishTiming>(m, "PublishTiming",
                                        "Where the last acquire() and publish() spent their time, in ns.")
        .def_readonly("acquire_ns", &cuframes::PublishTiming::acquire_ns, "acquire(): finding a free slot.")
        .def_readonly("sync_ns", &cuframes::PublishTiming::sync_ns, "publish(): cuStreamSynchronize (0 on host).")
        .def_readonly("ring_ns", &cuframes::PublishTiming::ring_ns, "publish(): record, ring entry, sequence update.")
        .def_readonly("wake_ns", &cuframes::PublishTiming::wake_ns, "publish(): FUTEX_WAKE of sleeping subscribers.")
        .def_property_readonly(
            "overhead_ns", [](const cuframes::PublishTiming &t) { return t.acquire_ns + t.ring_ns + t.wake_ns; },
            "What cuframes adds on top of the stream sync.")
        .def("__repr__", [](const cuframes::PublishTiming &t) {
            return "<cuframes.PublishTiming acquire_ns=" + std::to_string(t.acquire_ns) +
                   " sync_ns=" + std::to_string(t.sync_ns) + " ring_ns=" + std::to_string(t.ring_ns) +
                   " wake_ns=" + std::to_string(t.wake_ns) + ">";
        });

    // The keyword defaults are the C++ ones (as _core.DEFAULTS exports them): one place.
    const cuframes::PublisherOptions defaults;
    py::class_<PublisherState, std::shared_ptr<PublisherState>>(m, "Publisher")
        .def(py::init([](const std::string &key, const py::int_ &width, const py::int_ &height,
                         const std::string &format, const py::int_ &slots, const std::string &backend, int device,
                         const std::string &dir, const py::int_ &mode, const py::int_ &max_subscribers,
                         const py::int_ &max_held, const py::int_ &group, const std::vector<py::int_> &allowed_uids,
                         const std::vector<py::int_> &allowed_gids, bool stream_ordered,
                         const py::int_ &packet_ring_bytes, const std::string &description, const py::tuple &facts) {
                 cuframes::PublisherOptions options;
                 options.key = key;
                 options.dir = dir;
                 options.width = to_u32(width, "width");
                 options.height = to_u32(height, "height");
                 options.format = cuframes::parse_format(format);
                 options.slots = to_u32(slots, "slots");
                 options.max_subscribers = to_u32(max_subscribers, "max_subscribers");
                 options.max_held = to_u32(max_held, "max_held");
                 options.backend = cuframes::parse_backend(backend);
                 options.device = device;
                 options.socket_mode = to_u32(mode, "mode");
                 options.socket_group = group.cast<int64_t>() < 0 ? -1 : static_cast<int64_t>(to_u32(group, "group"));
                 for (const auto &uid : allowed_uids) options.allowed_uids.push_back(to_u32(uid, "allowed_uids"));
                 for (const auto &gid : allowed_gids) options.allowed_gids.push_back(to_u32(gid, "allowed_gids"));
                 options.stream_ordered = stream_ordered;
                 options.packet_ring_bytes = to_u64(packet_ring_bytes, "packet_ring_bytes");
                 options.description = description;
                 options.facts = facts_from_tuple(facts);
                 auto state = std::make_shared<PublisherState>();
                 {
                     py::gil_scoped_release unlocked;
                     state->core = std::make_unique<cuframes::Publisher>(options);
                 }
                 return state;
             }),
             py::arg("key"), py::arg("width"), py::arg("height"),
             py::arg("format") = cuframes::format_name(defaults.format), py::arg("slots") = defaults.slots,
             py::arg("backend") = cuframes::backend_name(defaults.backend), py::arg("device") = defaults.device,
             py::arg("dir") = defaults.dir, py::arg("mode") = defaults.socket_mode,
             py::arg("max_subscribers") = defaults.max_subscribers, py::arg("max_held") = defaults.max_held,
             py::arg("group") = defaults.socket_group, py::arg("allowed_uids") = std::vector<py::int_>{},
             py::arg("allowed_gids") = std::vector<py::int_>{}, py::arg("stream_ordered") = defaults.stream_ordered,
             py::arg("packet_ring_bytes") = defaults.packet_ring_bytes, py::arg("description") = defaults.description,
             py::arg("facts") = facts_tuple(defaults.facts))
        .def(
            "acquire",
            [](PublisherState &s) {
                uint32_t index = 0;
                uint64_t data = 0, size = 0;
                {
                    py::gil_scoped_release unlocked;
                    std::lock_guard<std::mutex> guard(s.loan_mutex);
                    if (s.loaned)
                        throw cuframes::Error(CUFRAMES_ERR_STATE,
                                              "a slot of '" + s.core->key() +
                                                  "' is already acquired: publish or abort it first");
                    cuframes::WritableFrame &frame = s.loaned.emplace(s.core->loan());
                    index = frame.index();
                    data = frame.data();
                    size = frame.size();
                }
                s.invalidate_slot();
                s.token = std::make_shared<std::atomic<bool>>(true);
                auto shared = s.shared_from_this();
                WritableSlotPy out;
                out.index = index;
                out.data = data;
                out.size = size;
                out.state = shared;
                out.token = s.token;
                out.planes = make_plane_views(s.core->layout(), data, slot_owner(shared), s.token, false,
                                              s.core->backend(), s.core->device());
                return out;
            },
            "A free slot to write into. Never blocks; StateError if one is already acquired.")
        .def(
            "publish",
            [](PublisherState &s, uint64_t stream, int64_t pts, const py::bytes &metadata) {
                const std::string md = metadata;
                uint64_t seq = 0;
                bool still_loaned = true;
                try {
                    py::gil_scoped_release unlocked;
                    std::lock_guard<std::mutex> guard(s.loan_mutex);
                    if (!s.loaned)
                        throw cuframes::Error(CUFRAMES_ERR_STATE,
                                              "publish without an acquired slot on '" + s.core->key() + "'");
                    try {
                        seq = s.core->publish(std::move(*s.loaned), stream, pts, md.data(),
                                              static_cast<uint32_t>(md.size()));
                    } catch (...) {
                        // Consumed once the ring had it; else still acquired.
                        if (!*s.loaned) s.loaned.reset();
                        still_loaned = s.loaned.has_value();
                        throw;
                    }
                    s.loaned.reset();
                } catch (...) {
                    if (!still_loaned) s.invalidate_slot();
                    throw;
                }
                s.invalidate_slot();
                return seq;
            },
            py::arg("stream") = 0, py::arg("pts") = 0, py::arg("metadata") = py::bytes(),
            "Synchronizes `stream`, publishes the acquired slot and returns its sequence number.")
        .def("abort",
             [](PublisherState &s) {
                 {
                     py::gil_scoped_release unlocked;
                     s.drop_loan();
                 }
                 s.invalidate_slot();
             })
        .def(
            "copy_into_acquired",
            [](PublisherState &s, uint64_t src_ptr, uint64_t src_size, bool src_is_device, uint64_t stream) {
                py::gil_scoped_release unlocked;
                std::lock_guard<std::mutex> guard(s.loan_mutex);
                if (!s.loaned)
                    throw cuframes::Error(CUFRAMES_ERR_STATE,
                                          "copy into a frame of '" + s.core->key() + "' without an acquired slot");
                s.loaned->copy_from(src_ptr, src_size,
                                    src_is_device ? cuframes::MemoryKind::Device : cuframes::MemoryKind::Host, stream);
            },
            py::arg("src_ptr"), py::arg("src_size"), py::arg("src_is_device"), py::arg("stream") = 0,
            "Copies a packed frame into the acquired slot on `stream`.")
        .def(
            "publish_packet",
            [](PublisherState &s, const py::object &data, int64_t pts, int64_t dts, const std::string &codec,
               bool keyframe) {
                ContiguousBytes bytes(data, "packet data");
                cuframes_codec parsed = cuframes::parse_codec(codec);
                py::gil_scoped_release unlocked;
                return s.core->publish_packet(bytes.data(), bytes.size(), pts, dts, parsed, keyframe);
            },
            py::arg("data"), py::arg("pts"), py::arg("dts"), py::arg("codec"), py::arg("keyframe"),
            "Appends one Annex-B access unit to the packet ring; returns its sequence number.")
        .def(
            "set_parameter_sets",
            [](PublisherState &s, const std::string &codec, const py::object &data) {
                ContiguousBytes bytes(data, "parameter sets");
                s.core->set_parameter_sets(cuframes::parse_codec(codec), bytes.data(), bytes.size());
            },
            py::arg("codec"), py::arg("data"))
        .def("close",
             [](PublisherState &s) {
                 s.invalidate_slot();
                 py::gil_scoped_release unlocked;
                 s.core->close();
                 s.drop_loan();  // after close(): nothing to hand back any more
             })
        .def_property_readonly("key", [](const PublisherState &s) { return s.core->key(); })
        .def_property_readonly("dir", [](const PublisherState &s) { return s.core->dir(); })
        .def_property_readonly("socket_path", [](const PublisherState &s) { return s.core->socket_path(); })
        .def_property_readonly("backend",
                               [](const PublisherState &s) { return cuframes::backend_name(s.core->backend()); })
        .def_property_readonly("device", [](const PublisherState &s) { return s.core->device(); })
        .def_property_readonly("format",
                               [](const PublisherState &s) { return cuframes::format_name(s.core->layout().format); })
        .def_property_readonly("width", [](const PublisherState &s) { return s.core->layout().width; })
        .def_property_readonly("height", [](const PublisherState &s) { return s.core->layout().height; })
        .def_property_readonly("slot_count", [](const PublisherState &s) { return s.core->slot_count(); })
        .def_property_readonly("slot_size", [](const PublisherState &s) { return s.core->slot_size(); })
        .def_property_readonly("packed_size", [](const PublisherState &s) { return s.core->layout().packed_bytes; })
        .def_property_readonly("planes", [](const PublisherState &s) { return plane_infos(s.core->layout()); })
        .def_property_readonly("max_subscribers", [](const PublisherState &s) { return s.core->max_subscribers(); })
        .def_property_readonly("max_held", [](const PublisherState &s) { return s.core->max_held(); })
        .def_property_readonly("facts", [](const PublisherState &s) { return facts_tuple(s.core->facts()); })
        .def_property_readonly("subscriber_count", [](const PublisherState &s) { return s.core->subscriber_count(); })
        .def_property_readonly("last_seq", [](const PublisherState &s) { return s.core->last_seq(); })
        .def_property_readonly("packet_subscriber_count",
                               [](const PublisherState &s) { return s.core->packet_subscriber_count(); })
        .def_property_readonly("packet_ring_bytes", [](const PublisherState &s) { return s.core->packet_ring_bytes(); })
        .def_property_readonly("last_packet_seq", [](const PublisherState &s) { return s.core->last_packet_seq(); })
        .def_property_readonly("last_timing", [](const PublisherState &s) { return s.core->last_timing(); })
        .def_property_readonly("has_acquired",
                               [](PublisherState &s) {
                                   py::gil_scoped_release unlocked;
                                   std::lock_guard<std::mutex> guard(s.loan_mutex);
                                   return s.loaned.has_value() && !s.core->closed();
                               })
        .def_property_readonly("closed", [](const PublisherState &s) { return s.core->closed(); });
}

}  // namespace cuframes_py
