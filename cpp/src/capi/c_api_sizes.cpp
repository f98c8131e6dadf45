#include "capi/c_api_sizes.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "capi/c_api_facts.hpp"
#include "capi/c_api_support.hpp"
#include "cuframes/packets.hpp"
#include "cuframes/publisher.hpp"
#include "cuframes/subscriber.hpp"

namespace cuframes::c_api {

namespace {

// A struct_size above this is not a struct anyone compiled: an uninitialized one.
constexpr uint32_t kMaxStructSize = 4096;

uint32_t struct_size_of(const void *sized) noexcept {
    uint32_t size;
    std::memcpy(&size, sized, sizeof(size));  // the first member of every sized struct
    return size;
}

// The output structs of ABI 0, which had no struct_size: a caller built against
// that header (tests/cpp/abi/cuframes_abi0.h) still gets exactly these bytes.
namespace abi0 {
struct Buffer {
    uint64_t data, size;
    uint32_t slot, plane_count;
    cuframes_plane planes[CUFRAMES_MAX_PLANES];
};
struct FrameInfo {
    uint64_t seq;
    int64_t pts;
    uint64_t timestamp_ns, missed, data, size;
    uint32_t slot, width, height;
    cuframes_format format;
    uint32_t plane_count;
    cuframes_plane planes[CUFRAMES_MAX_PLANES];
    const void *metadata;
    uint32_t metadata_size, reconnected;
    uint64_t epoch;
};
struct PacketInfo {
    uint64_t seq;
    int64_t pts, dts;
    uint64_t timestamp_ns, size, overruns;
    cuframes_codec codec;
    uint32_t keyframe, discontinuity, parameter_sets_prepended, reconnected;
    uint64_t epoch;
};
// The sizes that header had on x86-64 and aarch64 Linux.
static_assert(sizeof(Buffer) == 120 && offsetof(Buffer, planes) == 24, "ABI 0 cuframes_buffer");
static_assert(sizeof(FrameInfo) == 192 && offsetof(FrameInfo, metadata) == 168, "ABI 0 cuframes_frame_info");
static_assert(sizeof(PacketInfo) == 80 && offsetof(PacketInfo, epoch) == 72, "ABI 0 cuframes_packet_info");
}  // namespace abi0

}  // namespace

void fill_defaults(cuframes_publisher_options *options) noexcept {
    std::memset(options, 0, sizeof(*options));
    const PublisherOptions defaults;
    options->struct_size = sizeof(*options);
    options->width = defaults.width;
    options->height = defaults.height;
    options->format = defaults.format;
    options->slots = defaults.slots;
    options->max_subscribers = defaults.max_subscribers;
    options->max_held = defaults.max_held;
    options->backend = static_cast<cuframes_backend>(defaults.backend);
    options->device = defaults.device;
    options->socket_mode = defaults.socket_mode;
    options->socket_group = defaults.socket_group;
    options->stream_ordered = defaults.stream_ordered ? 1 : 0;
    options->packet_ring_bytes = defaults.packet_ring_bytes;
    init_publisher_facts(options);
    options->abi_version = CUFRAMES_ABI_VERSION;
}

void fill_defaults(cuframes_subscriber_options *options) noexcept {
    std::memset(options, 0, sizeof(*options));
    const SubscriberOptions defaults;
    options->struct_size = sizeof(*options);
    options->connect_timeout_ms = defaults.connect_timeout_ms;
    options->delivery = static_cast<cuframes_delivery>(defaults.delivery);
    options->reconnect = defaults.reconnect ? 1 : 0;
    options->spin_ns = defaults.spin_ns;
    options->abi_version = CUFRAMES_ABI_VERSION;
    options->notify = defaults.notify ? 1 : 0;
}

void fill_defaults(cuframes_packet_subscriber_options *options) noexcept {
    std::memset(options, 0, sizeof(*options));
    const PacketSubscriberOptions defaults;
    options->struct_size = sizeof(*options);
    options->connect_timeout_ms = defaults.connect_timeout_ms;
    options->reconnect = defaults.reconnect ? 1 : 0;
    options->abi_version = CUFRAMES_ABI_VERSION;
    options->notify = defaults.notify ? 1 : 0;
}

template <typename Options>
Options read_options(const char *function, const Options &given, size_t abi0_size, bool *abi0_outputs) {
    const size_t oldest_size = kSmallestOptionsSize<Options>;
    const uint32_t size = struct_size_of(&given);
    if (size < oldest_size || size > kMaxStructSize)
        throw_invalid(function, "options struct_size is " + std::to_string(size) + " (this library reads " +
                                    std::to_string(oldest_size) + " to " + std::to_string(sizeof(Options)) +
                                    " bytes): call the matching *_options_init() first");
    Options full;
    fill_defaults(&full);
    std::memcpy(&full, &given, std::min<size_t>(size, sizeof(Options)));
    const auto *bytes = reinterpret_cast<const unsigned char *>(&given);
    const auto is_set = [](unsigned char b) { return b != 0; };
    if (std::any_of(bytes + std::min<size_t>(size, sizeof(Options)), bytes + size, is_set))
        throw_invalid(function, "options carry " + std::to_string(size - sizeof(Options)) +
                                    " bytes of fields this library does not know, and they are not zero: the "
                                    "program was built against a newer cuframes.h (library " +
                                    std::string(cuframes_version()) +
                                    "); use a newer library or leave them at their defaults");
    *abi0_outputs = size <= abi0_size;
    if (!*abi0_outputs && full.abi_version == 0)
        throw_invalid(function, "options abi_version is 0: call the matching *_options_init() first");
    full.struct_size = sizeof(Options);
    return full;
}

template cuframes_publisher_options read_options(const char *, const cuframes_publisher_options &, size_t, bool *);
template cuframes_subscriber_options read_options(const char *, const cuframes_subscriber_options &, size_t, bool *);
template cuframes_packet_subscriber_options read_options(const char *, const cuframes_packet_subscriber_options &,
                                                         size_t, bool *);

void write_sized(const char *function, const char *init, const void *full, size_t full_size, void *out,
                 uint32_t out_size) {
    if (out_size < sizeof(uint32_t) || out_size > kMaxStructSize)
        throw_invalid(function, "the output struct's struct_size is " + std::to_string(out_size) + ": call " + init +
                                    "() on it first");
    const size_t known = std::min<size_t>(out_size, full_size);
    // The struct_size field keeps the caller's value; the rest is ours, up to it.
    auto *bytes = static_cast<unsigned char *>(out);
    std::memcpy(bytes + sizeof(uint32_t), static_cast<const unsigned char *>(full) + sizeof(uint32_t),
                known - sizeof(uint32_t));
    std::memset(bytes + known, 0, out_size - known);
}

// The ABI 0 layouts are filled field by field over zeros, so that no padding
// byte of ours reaches the caller.
void write_output(const char *function, bool abi0, const cuframes_buffer &full, cuframes_buffer *out) {
    if (!abi0) return write_sized(function, "cuframes_buffer_init", &full, sizeof(full), out, struct_size_of(out));
    abi0::Buffer old;
    std::memset(&old, 0, sizeof(old));
    old.data = full.data;
    old.size = full.size;
    old.slot = full.slot;
    old.plane_count = full.plane_count;
    std::copy(full.planes, full.planes + CUFRAMES_MAX_PLANES, old.planes);
    std::memcpy(static_cast<void *>(out), &old, sizeof(old));
}

void write_output(const char *function, bool abi0, const cuframes_frame_info &full, cuframes_frame_info *out) {
    if (!abi0) return write_sized(function, "cuframes_frame_info_init", &full, sizeof(full), out, struct_size_of(out));
    abi0::FrameInfo old;
    std::memset(&old, 0, sizeof(old));
    old.seq = full.seq;
    old.pts = full.pts;
    old.timestamp_ns = full.timestamp_ns;
    old.missed = full.missed;
    old.data = full.data;
    old.size = full.size;
    old.slot = full.slot;
    old.width = full.width;
    old.height = full.height;
    old.format = full.format;
    old.plane_count = full.plane_count;
    std::copy(full.planes, full.planes + CUFRAMES_MAX_PLANES, old.planes);
    old.metadata = full.metadata;
    old.metadata_size = full.metadata_size;
    old.reconnected = static_cast<uint32_t>(full.reconnected);
    old.epoch = full.epoch;
    std::memcpy(static_cast<void *>(out), &old, sizeof(old));
}

void write_output(const char *function, bool abi0, const cuframes_packet_info &full, cuframes_packet_info *out) {
    if (!abi0) return write_sized(function, "cuframes_packet_info_init", &full, sizeof(full), out, struct_size_of(out));
    abi0::PacketInfo old;
    std::memset(&old, 0, sizeof(old));
    old.seq = full.seq;
    old.pts = full.pts;
    old.dts = full.dts;
    old.timestamp_ns = full.timestamp_ns;
    old.size = full.size;
    old.overruns = full.overruns;
    old.codec = full.codec;
    old.keyframe = static_cast<uint32_t>(full.keyframe);
    old.discontinuity = static_cast<uint32_t>(full.discontinuity);
    old.parameter_sets_prepended = static_cast<uint32_t>(full.parameter_sets_prepended);
    old.reconnected = static_cast<uint32_t>(full.reconnected);
    old.epoch = full.epoch;
    std::memcpy(static_cast<void *>(out), &old, sizeof(old));
}

void write_output(const char *function, const cuframes_stream_facts &full, cuframes_stream_facts *out) {
    // cuframes_stream_facts has carried its size since it came (ABI 0).
    write_sized(function, "cuframes_stream_facts_init", &full, sizeof(full), out, struct_size_of(out));
}

void write_output(const char *function, const cuframes_subscriber_info &full, cuframes_subscriber_info *out) {
    write_sized(function, "cuframes_subscriber_info_init", &full, sizeof(full), out, struct_size_of(out));
}

}  // namespace cuframes::c_api
