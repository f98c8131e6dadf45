// The core's own tables, exported so that Python keeps no copy of them:
// DEFAULTS (a default-constructed PublisherOptions, the defaults that
// cuframes_publisher_options_init hands C callers too) and CODECS (the names
// of CUFRAMES_CODEC_LIST, cuframes.h).
#include "bindings.hpp"

#include "cuframes/packets.hpp"
#include "cuframes/publisher.hpp"

namespace cuframes_py {

void register_defaults(py::module_ &m) {
    const cuframes::PublisherOptions defaults;
    py::dict d;
    d["format"] = cuframes::format_name(defaults.format);
    d["slots"] = defaults.slots;
    d["max_subscribers"] = defaults.max_subscribers;
    d["max_held"] = defaults.max_held;
    d["backend"] = cuframes::backend_name(defaults.backend);
    d["device"] = defaults.device;
    d["mode"] = defaults.socket_mode;
    d["group"] = defaults.socket_group;
    d["stream_ordered"] = defaults.stream_ordered;
    d["packet_ring_bytes"] = defaults.packet_ring_bytes;
    m.attr("DEFAULTS") = d;

    py::list codecs;
#define CUFRAMES_PY_CODEC(id, value, name) codecs.append(name);
    CUFRAMES_CODEC_LIST(CUFRAMES_PY_CODEC)
#undef CUFRAMES_PY_CODEC
    m.attr("CODECS") = py::tuple(codecs);
}

}  // namespace cuframes_py
