// Encoded packets: a subscriber of a stream's packet ring (Annex-B H.264 or
// H.265 access units that the producer publishes beside its frames, e.g. for
// a recorder that must not re-encode). The producer side is
// Publisher::publish_packet().
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cuframes/cuframes.h"
#include "cuframes/types.hpp"

namespace cuframes {

// "h264" or "hevc".
CUFRAMES_API const char *codec_name(cuframes_codec codec) noexcept;
// "h264"/"avc" or "hevc"/"h265" (case-insensitive); throws INVALID_ARGUMENT otherwise.
CUFRAMES_API cuframes_codec parse_codec(const std::string &name);

struct PacketSubscriberOptions {
    std::string key;
    std::string dir;                // "" means default_dir()
    int connect_timeout_ms = 5000;  // wait for a producer that is not up yet; -1 forever
    // Follow the key across producer restarts: when the producer closes or
    // dies, next() returns the packets still in its ring, then waits (within
    // its timeout) for the key's next producer and joins it at a keyframe;
    // that packet has `reconnected` and `discontinuity` set. The new producer
    // must have a packet ring (NOT_FOUND otherwise). Without it, next() throws
    // DISCONNECTED after a clean close, PRODUCER_DIED after a crash. A
    // recorder that must outlive camera restarts wants it.
    bool reconnect = false;
    // For event loops: the producer writes a byte on this subscriber's socket
    // after each packet, notify_fd() is a descriptor to poll and try_next()
    // takes what is ready (SubscriberOptions::notify says more).
    bool notify = false;
};

struct PacketInfo {
    uint64_t seq = 0;  // the packet's number in the ring (1, 2, ...)
    int64_t pts = 0;   // as the producer gave it: equal to the decoded frame's pts
    int64_t dts = 0;
    uint64_t timestamp_ns = 0;  // CLOCK_MONOTONIC when the producer wrote it
    cuframes_codec codec = CUFRAMES_CODEC_H264;
    bool keyframe = false;
    // Packets lost just before this one: the subscriber fell more than the
    // ring's length behind (the producer never waits) and rejoined here.
    uint64_t overruns = 0;
    // First packet after joining or rejoining: a keyframe, with the parameter
    // sets in front of it (prepended from the kept ones when it lacked them).
    bool discontinuity = false;
    bool parameter_sets_prepended = false;
    // First packet from a restarted producer (PacketSubscriberOptions::reconnect).
    bool reconnected = false;
    uint64_t epoch = 0;  // random id of the producer instance that wrote it
    // The time base of its pts and dts (that producer's StreamFacts::time_base).
    cuframes_rational time_base{0, 0};
};

struct Packet {
    PacketInfo info;
    std::vector<uint8_t> data;  // a private copy: Annex-B, start codes included
};

// Joins at the latest keyframe (or waits for the first one), then returns
// every packet in order. A subscriber that falls behind by more than the ring
// holds rejoins at the next keyframe and reports the lost packets in
// PacketInfo::overruns. next() may be called from several threads; they take
// turns. close() may come from any thread: a next() waiting meanwhile ends
// with STATE at once (at worst within 250 ms, when the wake-up races with the
// start of its sleep).
class CUFRAMES_API PacketSubscriber {
public:
    explicit PacketSubscriber(const PacketSubscriberOptions &options);
    ~PacketSubscriber();
    PacketSubscriber(PacketSubscriber &&) noexcept;
    PacketSubscriber &operator=(PacketSubscriber &&) noexcept;
    PacketSubscriber(const PacketSubscriber &) = delete;
    PacketSubscriber &operator=(const PacketSubscriber &) = delete;

    // The next packet. timeout_ms: -1 forever, 0 poll. Throws TIMEOUT,
    // DISCONNECTED (the producer closed its stream) or PRODUCER_DIED (it died
    // without closing it), either after the packets still in the ring, STATE
    // (closed) or PROTOCOL (a malformed record).
    Packet next(int timeout_ms);
    // The next packet into `out` if one is ready now (true), else false: next(0)
    // without the TIMEOUT. With notify it also reads the notification bytes:
    // call it until it returns false each time notify_fd() is readable.
    bool try_next(Packet &out);
    // With notify: the descriptor to poll (see Subscriber::notify_fd()); -1 without.
    int notify_fd() const noexcept;
    // Drops the connection. Idempotent.
    void close() noexcept;

    bool closed() const noexcept;
    const std::string &key() const noexcept;
    const std::string &socket_path() const noexcept;
    uint64_t ring_bytes() const noexcept;  // the ring's data capacity
    uint64_t last_seq() const noexcept;    // last packet returned, 0 before the first
    uint64_t overruns_total() const noexcept;
    uint64_t epoch() const noexcept;  // random id of the current producer instance
    // The current producer's facts (they may change when reconnect follows a restart).
    StreamFacts facts() const;
    bool reconnect() const noexcept;
    uint64_t reconnect_count() const noexcept;  // producer restarts followed so far

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace cuframes
