// The core's own tables, exported so that Python keeps no copy of them:
// DEFAULTS (a default-constructed PublisherOptions, the defaults that
// cuframes_publisher_options_init hands C callers too) and CODECS (every name
// codec_name() knows).
#include "bindings.hpp"

#include <cstring>

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

    // The enum starts at 1; codec_name() says "unknown" past its last value.
    py::list codecs;
    for (uint32_t value = 1; value < 64; ++value) {
        const char *name = cuframes::codec_name(static_cast<cuframes_codec>(value));
        if (std::strcmp(name, "unknown") == 0) break;
        codecs.append(name);
    }
    m.attr("CODECS") = py::tuple(codecs);
}

}  // namespace cuframes_py
