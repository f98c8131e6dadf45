// The C ABI's encoded-packet calls (cuframes.h, "encoded packets").
#include <cstring>
#include <mutex>
#include <optional>

#include "capi/c_api_facts.hpp"
#include "capi/c_api_sizes.hpp"
#include "capi/c_api_support.hpp"
#include "capi/c_api_types.hpp"
#include "cuframes/cuframes.h"
#include "cuframes/packets.hpp"

using namespace cuframes::c_api;

struct cuframes_packet_subscriber {
    cuframes::PacketSubscriber subscriber;
    bool abi0_outputs;  // built against the ABI 0 header (c_api_sizes.hpp)
    // Callers of next() on several threads take turns (cuframes.h, "Threads"),
    // as in the C++ API; it guards `pending`. close() does not take it.
    std::mutex next_mutex;
    // A packet that did not fit the caller's buffer: returned by the next call.
    std::optional<cuframes::Packet> pending;
};

namespace {

cuframes_codec checked_codec(const char *function, const cuframes_codec &field) {
    int64_t codec = raw_enum_value(field);
    if (codec != CUFRAMES_CODEC_H264 && codec != CUFRAMES_CODEC_HEVC)
        throw_invalid(function,
                      "codec must be CUFRAMES_CODEC_H264 or CUFRAMES_CODEC_HEVC, got " + std::to_string(codec));
    return static_cast<cuframes_codec>(codec);
}

void fill_packet_info(const cuframes::Packet &packet, cuframes_packet_info *info) noexcept {
    std::memset(info, 0, sizeof(*info));
    info->struct_size = sizeof(*info);
    info->seq = packet.info.seq;
    info->pts = packet.info.pts;
    info->dts = packet.info.dts;
    info->timestamp_ns = packet.info.timestamp_ns;
    info->size = packet.data.size();
    info->overruns = packet.info.overruns;
    info->codec = packet.info.codec;
    info->keyframe = packet.info.keyframe ? 1 : 0;
    info->discontinuity = packet.info.discontinuity ? 1 : 0;
    info->parameter_sets_prepended = packet.info.parameter_sets_prepended ? 1 : 0;
    info->reconnected = packet.info.reconnected ? 1 : 0;
    info->epoch = packet.info.epoch;
}

}  // namespace

extern "C" {

cuframes_status cuframes_publisher_publish_packet(cuframes_publisher *publisher, const void *data, uint64_t size,
                                                  int64_t pts, int64_t dts, cuframes_codec codec, int32_t keyframe,
                                                  uint64_t *seq_out) {
    constexpr const char *fn = "cuframes_publisher_publish_packet";
    if (publisher == nullptr) return null_argument(fn, "publisher");
    if (data == nullptr) return null_argument(fn, "data");
    return guarded(fn, [&] {
        if (keyframe != 0 && keyframe != 1)
            throw_invalid(fn, "keyframe must be 0 or 1, got " + std::to_string(keyframe));
        uint64_t seq =
            publisher->publisher.publish_packet(data, size, pts, dts, checked_codec(fn, codec), keyframe == 1);
        if (seq_out != nullptr) *seq_out = seq;
    });
}

cuframes_status cuframes_publisher_set_parameter_sets(cuframes_publisher *publisher, cuframes_codec codec,
                                                      const void *data, uint64_t size) {
    constexpr const char *fn = "cuframes_publisher_set_parameter_sets";
    if (publisher == nullptr) return null_argument(fn, "publisher");
    if (data == nullptr) return null_argument(fn, "data");
    return guarded(fn, [&] { publisher->publisher.set_parameter_sets(checked_codec(fn, codec), data, size); });
}

void cuframes_packet_subscriber_options_init_size(cuframes_packet_subscriber_options *options, uint32_t struct_size) {
    init_sized(options, struct_size);
}

cuframes_status cuframes_packet_subscriber_create(const cuframes_packet_subscriber_options *given,
                                                  cuframes_packet_subscriber **out) {
    constexpr const char *fn = "cuframes_packet_subscriber_create";
    if (out == nullptr) return null_argument(fn, "out");
    *out = nullptr;
    if (given == nullptr) return null_argument(fn, "options");
    return guarded(fn, [&] {
        bool abi0_outputs = false;
        const cuframes_packet_subscriber_options full =
            read_options(fn, *given, kAbi0PacketSubscriberOptionsSize, &abi0_outputs);
        const cuframes_packet_subscriber_options *options = &full;
        if (options->key == nullptr) throw_invalid(fn, "options->key is NULL");
        cuframes::PacketSubscriberOptions cpp;
        cpp.key = options->key;
        cpp.dir = options->dir != nullptr ? options->dir : "";
        cpp.connect_timeout_ms = options->connect_timeout_ms;  // range-checked by the core
        if (options->reconnect != 0 && options->reconnect != 1)
            throw_invalid(fn, "options->reconnect must be 0 or 1, got " + std::to_string(options->reconnect));
        cpp.reconnect = options->reconnect == 1;
        if (options->notify != 0 && options->notify != 1)
            throw_invalid(fn, "options->notify must be 0 or 1, got " + std::to_string(options->notify));
        cpp.notify = options->notify == 1;
        *out = new cuframes_packet_subscriber{cuframes::PacketSubscriber(cpp), abi0_outputs, {}, std::nullopt};
    });
}

cuframes_status cuframes_packet_subscriber_next(cuframes_packet_subscriber *subscriber, int32_t timeout_ms, void *dst,
                                                uint64_t dst_capacity, cuframes_packet_info *info) {
    constexpr const char *fn = "cuframes_packet_subscriber_next";
    if (subscriber == nullptr) return null_argument(fn, "subscriber");
    if (info == nullptr) return null_argument(fn, "info");
    if (dst == nullptr && dst_capacity > 0) return null_argument(fn, "dst (with dst_capacity > 0)");
    return guarded(fn, [&] {
        check_timeout(fn, timeout_ms);
        cuframes_packet_info full{};
        full.struct_size = sizeof(full);
        // Check the caller's struct before a packet is taken.
        write_output(fn, subscriber->abi0_outputs, full, info);
        std::lock_guard<std::mutex> turn(subscriber->next_mutex);
        if (!subscriber->pending) {
            if (timeout_ms == 0) {
                // A poll goes through try_next: a notify subscriber's bytes are read,
                // and nothing new is no exception until here.
                cuframes::Packet taken;
                if (!subscriber->subscriber.try_next(taken))
                    throw cuframes::Error(CUFRAMES_ERR_TIMEOUT, std::string(fn) + ": no new packet of '" +
                                                                    subscriber->subscriber.key() + "' (timeout 0)");
                subscriber->pending = std::move(taken);
            } else {
                subscriber->pending = subscriber->subscriber.next(timeout_ms);
            }
        }
        const cuframes::Packet &packet = *subscriber->pending;
        fill_packet_info(packet, &full);
        write_output(fn, subscriber->abi0_outputs, full, info);
        if (packet.data.size() > dst_capacity)
            throw cuframes::Error(CUFRAMES_ERR_LIMIT, std::string(fn) + ": the packet needs " +
                                                          std::to_string(packet.data.size()) + " bytes, dst has " +
                                                          std::to_string(dst_capacity));
        std::memcpy(dst, packet.data.data(), packet.data.size());
        subscriber->pending.reset();
    });
}

int32_t cuframes_packet_subscriber_fd(const cuframes_packet_subscriber *subscriber) {
    return subscriber == nullptr ? -1 : subscriber->subscriber.notify_fd();
}

cuframes_status cuframes_packet_subscriber_stream_facts(const cuframes_packet_subscriber *subscriber,
                                                        cuframes_stream_facts *out) {
    constexpr const char *fn = "cuframes_packet_subscriber_stream_facts";
    if (subscriber == nullptr) return null_argument(fn, "subscriber");
    if (out == nullptr) return null_argument(fn, "out");
    return guarded(fn, [&] { write_output(fn, facts_to_c(subscriber->subscriber.facts()), out); });
}

void cuframes_packet_subscriber_close(cuframes_packet_subscriber *subscriber) {
    // PacketSubscriber::close() may come from any thread and wakes a waiting next().
    if (subscriber != nullptr) subscriber->subscriber.close();
}

void cuframes_packet_subscriber_destroy(cuframes_packet_subscriber *subscriber) {
    if (subscriber == nullptr) return;
    subscriber->subscriber.close();
    delete subscriber;
}

}  // extern "C"
