// The C ABI (cuframes.h) over the C++ core. No exception crosses this
// boundary: every entry point catches, records the message for
// cuframes_last_error() and returns the matching status.
#include "cuframes/cuframes.h"

#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "capi/c_api_facts.hpp"
#include "capi/c_api_sizes.hpp"
#include "capi/c_api_support.hpp"
#include "capi/c_api_types.hpp"
#include "cuframes/error.hpp"
#include "cuframes/format.hpp"
#include "cuframes/publisher.hpp"
#include "cuframes/subscriber.hpp"
#include "cuframes/types.hpp"

struct cuframes_subscriber {
    cuframes::Subscriber subscriber;
    bool abi0_outputs;  // built against the ABI 0 header (c_api_sizes.hpp)
};

struct cuframes_frame {
    std::shared_ptr<cuframes::FrameLease> lease;
    bool abi0_outputs;  // its subscriber's
};

using namespace cuframes::c_api;

namespace {

cuframes::StreamHandle stream_handle(void *stream) noexcept {
    return static_cast<cuframes::StreamHandle>(reinterpret_cast<uintptr_t>(stream));
}

void copy_planes(const cuframes::FrameLayout &layout, uint32_t *plane_count, cuframes_plane *planes) noexcept {
    *plane_count = layout.plane_count;
    for (uint32_t i = 0; i < CUFRAMES_MAX_PLANES; ++i) {
        planes[i] = i < layout.plane_count ? layout.planes[i] : cuframes_plane{};
    }
}

void fill_info(const cuframes::FrameInfo &frame, const cuframes::FrameLayout &layout, cuframes_frame_info *info) {
    std::memset(info, 0, sizeof(*info));
    info->struct_size = sizeof(*info);
    info->seq = frame.seq;
    info->pts = frame.pts;
    info->timestamp_ns = frame.timestamp_ns;
    info->missed = frame.missed;
    info->data = frame.data;
    info->size = frame.size;
    info->slot = frame.slot;
    info->reconnected = frame.reconnected ? 1 : 0;
    info->epoch = frame.epoch;
    info->width = layout.width;
    info->height = layout.height;
    info->format = layout.format;
    copy_planes(layout, &info->plane_count, info->planes);
}

}  // namespace

extern "C" {

#define CUFRAMES_STRINGIFY(x) #x
#define CUFRAMES_VERSION_TEXT(major, minor, patch)                                                                     \
    CUFRAMES_STRINGIFY(major) "." CUFRAMES_STRINGIFY(minor) "." CUFRAMES_STRINGIFY(patch)

const char *cuframes_version(void) {
    return CUFRAMES_VERSION_TEXT(CUFRAMES_VERSION_MAJOR, CUFRAMES_VERSION_MINOR, CUFRAMES_VERSION_PATCH);
}

uint32_t cuframes_abi_version(void) { return CUFRAMES_ABI_VERSION; }

void cuframes_publisher_options_init_size(cuframes_publisher_options *options, uint32_t struct_size) {
    init_sized(options, struct_size);
}

void cuframes_subscriber_options_init_size(cuframes_subscriber_options *options, uint32_t struct_size) {
    init_sized(options, struct_size);
}

const char *cuframes_last_error(void) { return last_error_message.c_str(); }

const char *cuframes_status_name(cuframes_status status) {
    switch (raw_enum_value(status)) {
#define CUFRAMES_STATUS_NAME_CASE(name, value, description)                                                            \
    case CUFRAMES_##name: return "CUFRAMES_" #name;
        CUFRAMES_STATUS_LIST(CUFRAMES_STATUS_NAME_CASE)
#undef CUFRAMES_STATUS_NAME_CASE
    }
    return "CUFRAMES_ERR_UNKNOWN";
}

int32_t cuframes_cuda_available(void) { return cuframes::cuda_available() ? 1 : 0; }

/* ---- producer ---- */

cuframes_status cuframes_publisher_create(const cuframes_publisher_options *given, cuframes_publisher **out) {
    constexpr const char *fn = "cuframes_publisher_create";
    if (out == nullptr) {
        return null_argument(fn, "out");
    }
    *out = nullptr;
    if (given == nullptr) {
        return null_argument(fn, "options");
    }
    return guarded(fn, [&] {
        bool abi0_outputs = false;
        const cuframes_publisher_options full = read_options(fn, *given, kAbi0PublisherOptionsSize, &abi0_outputs);
        const cuframes_publisher_options *options = &full;
        if (options->key == nullptr) throw_invalid(fn, "options->key is NULL");
        const int64_t format = raw_enum_value(options->format);
        if (format < 0 || format > UINT32_MAX || !cuframes::is_known_format(static_cast<uint32_t>(format))) {
            throw cuframes::Error(CUFRAMES_ERR_FORMAT,
                                  std::string(fn) + ": unknown format value " + std::to_string(format));
        }
        const int64_t backend = raw_enum_value(options->backend);
        if (backend != CUFRAMES_BACKEND_AUTO && backend != CUFRAMES_BACKEND_HOST && backend != CUFRAMES_BACKEND_CUDA) {
            throw_invalid(fn, "unknown backend value " + std::to_string(backend));
        }
        cuframes::PublisherOptions cpp;
        cpp.key = options->key;
        cpp.dir = options->dir != nullptr ? options->dir : "";
        cpp.width = options->width;
        cpp.height = options->height;
        cpp.format = options->format;
        cpp.slots = options->slots;
        cpp.max_subscribers = options->max_subscribers;
        cpp.max_held = options->max_held;
        cpp.backend = static_cast<cuframes::Backend>(options->backend);
        cpp.device = options->device;
        cpp.socket_mode = options->socket_mode;
        cpp.socket_group = options->socket_group;
        cpp.allowed_uids = id_list(fn, "allowed_uids", options->allowed_uids, options->allowed_uid_count);
        cpp.allowed_gids = id_list(fn, "allowed_gids", options->allowed_gids, options->allowed_gid_count);
        if (options->stream_ordered != 0 && options->stream_ordered != 1)
            throw_invalid(fn, "options->stream_ordered must be 0 or 1, got " + std::to_string(options->stream_ordered));
        cpp.stream_ordered = options->stream_ordered == 1;
        cpp.packet_ring_bytes = options->packet_ring_bytes;  // range-checked by the core
        if (options->description != nullptr) cpp.description = options->description;
        cpp.facts = publisher_facts(fn, *options);
        *out = new cuframes_publisher{cuframes::Publisher(cpp), abi0_outputs, std::nullopt};
    });
}

cuframes_status cuframes_publisher_acquire(cuframes_publisher *publisher, cuframes_buffer *out) {
    constexpr const char *fn = "cuframes_publisher_acquire";
    if (publisher == nullptr) {
        return null_argument(fn, "publisher");
    }
    if (out == nullptr) {
        return null_argument(fn, "out");
    }
    return guarded(fn, [&] {
        // Check the caller's struct before a slot is taken.
        cuframes_buffer full{};
        full.struct_size = sizeof(full);
        write_output(fn, publisher->abi0_outputs, full, out);
        if (publisher->loaned)
            throw cuframes::Error(CUFRAMES_ERR_STATE, std::string(fn) + ": a slot of '" + publisher->publisher.key() +
                                                          "' is already acquired: publish or abort it first");
        cuframes::WritableFrame &frame = publisher->loaned.emplace(publisher->publisher.loan());
        full.data = frame.data();
        full.size = frame.size();
        full.slot = frame.index();
        copy_planes(publisher->publisher.layout(), &full.plane_count, full.planes);
        write_output(fn, publisher->abi0_outputs, full, out);
    });
}

cuframes_status cuframes_publisher_publish(cuframes_publisher *publisher, void *stream, int64_t pts,
                                           const void *metadata, uint32_t metadata_size, uint64_t *seq_out) {
    constexpr const char *fn = "cuframes_publisher_publish";
    if (publisher == nullptr) {
        return null_argument(fn, "publisher");
    }
    if (metadata == nullptr && metadata_size != 0) {
        return null_argument(fn, "metadata (with metadata_size > 0)");
    }
    return guarded(fn, [&] {
        if (!publisher->loaned)
            throw cuframes::Error(CUFRAMES_ERR_STATE, std::string(fn) + ": publish without an acquired slot on '" +
                                                          publisher->publisher.key() +
                                                          "' (call cuframes_publisher_acquire first)");
        // Consumed once the ring has it; still acquired when publish throws before that.
        uint64_t seq = 0;
        try {
            seq = publisher->publisher.publish(std::move(*publisher->loaned), stream_handle(stream), pts, metadata,
                                               metadata_size);
        } catch (...) {
            if (!*publisher->loaned) publisher->loaned.reset();
            throw;
        }
        publisher->loaned.reset();
        if (seq_out != nullptr) {
            *seq_out = seq;
        }
    });
}

cuframes_status cuframes_publisher_abort(cuframes_publisher *publisher) {
    constexpr const char *fn = "cuframes_publisher_abort";
    if (publisher == nullptr) {
        return null_argument(fn, "publisher");
    }
    return guarded(fn, [&] { publisher->loaned.reset(); });  // the frame hands its slot back
}

uint32_t cuframes_publisher_subscriber_count(const cuframes_publisher *publisher) {
    return publisher != nullptr ? publisher->publisher.subscriber_count() : 0;
}

void cuframes_publisher_destroy(cuframes_publisher *publisher) {
    if (publisher == nullptr) {
        return;
    }
    publisher->publisher.close();
    delete publisher;
}

/* ---- consumer ---- */

cuframes_status cuframes_subscriber_create(const cuframes_subscriber_options *given, cuframes_subscriber **out) {
    constexpr const char *fn = "cuframes_subscriber_create";
    if (out == nullptr) {
        return null_argument(fn, "out");
    }
    *out = nullptr;
    if (given == nullptr) {
        return null_argument(fn, "options");
    }
    return guarded(fn, [&] {
        bool abi0_outputs = false;
        const cuframes_subscriber_options full = read_options(fn, *given, kAbi0SubscriberOptionsSize, &abi0_outputs);
        const cuframes_subscriber_options *options = &full;
        if (options->key == nullptr) throw_invalid(fn, "options->key is NULL");
        if (options->connect_timeout_ms < -1) {
            throw_invalid(fn, "connect_timeout_ms must be -1 (forever), 0 or positive, got " +
                                  std::to_string(options->connect_timeout_ms));
        }
        cuframes::SubscriberOptions cpp;
        cpp.key = options->key;
        cpp.dir = options->dir != nullptr ? options->dir : "";
        cpp.connect_timeout_ms = options->connect_timeout_ms;
        const int64_t delivery = raw_enum_value(options->delivery);
        if (delivery != CUFRAMES_DELIVERY_LATEST && delivery != CUFRAMES_DELIVERY_SEQUENTIAL) {
            throw_invalid(fn,
                          "options->delivery must be CUFRAMES_DELIVERY_LATEST or CUFRAMES_DELIVERY_SEQUENTIAL, got " +
                              std::to_string(delivery));
        }
        cpp.delivery = static_cast<cuframes::Delivery>(delivery);
        if (options->reconnect != 0 && options->reconnect != 1)
            throw_invalid(fn, "options->reconnect must be 0 or 1, got " + std::to_string(options->reconnect));
        cpp.reconnect = options->reconnect == 1;
        cpp.spin_ns = options->spin_ns;  // range-checked by the core
        *out = new cuframes_subscriber{cuframes::Subscriber(cpp), abi0_outputs};
    });
}

cuframes_status cuframes_subscriber_next(cuframes_subscriber *subscriber, int32_t timeout_ms, cuframes_frame **out) {
    constexpr const char *fn = "cuframes_subscriber_next";
    if (out == nullptr) {
        return null_argument(fn, "out");
    }
    *out = nullptr;
    if (subscriber == nullptr) {
        return null_argument(fn, "subscriber");
    }
    return guarded(fn, [&] {
        check_timeout(fn, timeout_ms);
        // Allocate the handle first so that a failed allocation cannot strand a lease.
        auto frame = std::make_unique<cuframes_frame>();
        frame->abi0_outputs = subscriber->abi0_outputs;
        frame->lease = subscriber->subscriber.next(timeout_ms);
        *out = frame.release();
    });
}

cuframes_status cuframes_frame_get_info(const cuframes_frame *frame, cuframes_frame_info *info) {
    constexpr const char *fn = "cuframes_frame_get_info";
    if (info == nullptr) return null_argument(fn, "info");
    // Without a frame the caller's generation is unknown, so its struct is not touched.
    if (frame == nullptr) return null_argument(fn, "frame");
    return guarded(fn, [&] {
        cuframes_frame_info full{};
        full.struct_size = sizeof(full);
        const cuframes::FrameLease &lease = *frame->lease;
        fill_info(lease.info(), lease.layout(), &full);
        const std::string &metadata = lease.metadata();
        full.metadata = metadata.empty() ? nullptr : metadata.data();
        full.metadata_size = static_cast<uint32_t>(metadata.size());
        write_output(fn, frame->abi0_outputs, full, info);
    });
}

void cuframes_frame_release(cuframes_frame *frame) { delete frame; }

cuframes_status cuframes_subscriber_read_into(cuframes_subscriber *subscriber, int32_t timeout_ms, void *dst,
                                              uint64_t dst_size, void *stream, cuframes_frame_info *info) {
    constexpr const char *fn = "cuframes_subscriber_read_into";
    if (subscriber == nullptr) {
        return null_argument(fn, "subscriber");
    }
    if (dst == nullptr) {
        return null_argument(fn, "dst");
    }
    return guarded(fn, [&] {
        check_timeout(fn, timeout_ms);
        cuframes_frame_info full{};
        full.struct_size = sizeof(full);
        // Check the caller's struct before a frame is taken.
        if (info != nullptr) write_output(fn, subscriber->abi0_outputs, full, info);
        cuframes::Subscriber &sub = subscriber->subscriber;
        // A void* does not say where it points: on cuda the driver tells from
        // the address (unified addressing); on host only host memory exists.
        const cuframes::MemoryKind kind = cuframes::MemoryKind::Unknown;
        const cuframes::FrameInfo frame = sub.read_into(
            timeout_ms, static_cast<uint64_t>(reinterpret_cast<uintptr_t>(dst)), dst_size, kind, stream_handle(stream));
        if (info != nullptr) {
            fill_info(frame, sub.layout(), &full);
            // The frame is already released: its zero-copy view and metadata are gone.
            full.data = 0;
            full.metadata = nullptr;
            full.metadata_size = 0;
            write_output(fn, subscriber->abi0_outputs, full, info);
        }
    });
}

cuframes_status cuframes_subscriber_stream_facts(const cuframes_subscriber *subscriber, cuframes_stream_facts *out) {
    constexpr const char *fn = "cuframes_subscriber_stream_facts";
    if (subscriber == nullptr) return null_argument(fn, "subscriber");
    if (out == nullptr) return null_argument(fn, "out");
    return guarded(fn, [&] { write_output(fn, facts_to_c(subscriber->subscriber.facts()), out); });
}

uint64_t cuframes_subscriber_packed_size(const cuframes_subscriber *subscriber) {
    return subscriber != nullptr ? subscriber->subscriber.layout().packed_bytes : 0;
}

cuframes_backend cuframes_subscriber_backend(const cuframes_subscriber *subscriber) {
    return subscriber != nullptr ? static_cast<cuframes_backend>(subscriber->subscriber.backend())
                                 : CUFRAMES_BACKEND_AUTO;
}

void cuframes_subscriber_close(cuframes_subscriber *subscriber) {
    // Subscriber::close() may come from any thread and wakes a waiting next().
    if (subscriber != nullptr) subscriber->subscriber.close();
}

void cuframes_subscriber_destroy(cuframes_subscriber *subscriber) {
    if (subscriber == nullptr) {
        return;
    }
    subscriber->subscriber.close();
    delete subscriber;
}

}  // extern "C"
