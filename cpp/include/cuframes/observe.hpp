// Reading a live producer's state without subscribing: what `cuframes stat`
// and `cuframes ls` show. The producer answers an observer from its server
// thread with a snapshot of its subscribers and read-only views of its shared
// header and packet ring; the observer holds no lease, counts as no
// subscriber, and its publish path is never touched.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cuframes/cuframes.h"
#include "cuframes/format.hpp"
#include "cuframes/types.hpp"

namespace cuframes {

struct SubscriberObservation {
    uint64_t id = 0;
    bool packets = false;  // a packet subscriber (else frames)
    uint32_t uid = 0;
    int32_t pid = 0;  // as the producer sees it (0 outside its PID namespace)
    uint32_t held = 0;
    uint64_t frames_received = 0;
    uint64_t frames_missed = 0;
    uint64_t latency_ns = 0;  // last frame's publish-to-take latency, 0 if unknown
};

struct PacketRingObservation {
    uint32_t codec = 0;  // cuframes_codec of the newest packet, 0 before the first
    uint64_t latest_seq = 0;
    uint64_t oldest_seq = 0;  // oldest packet still intact
    uint64_t bytes_written = 0;
    uint64_t keyframes = 0;
    uint64_t capacity_bytes = 0;
};

struct StreamObservation {
    std::string key;
    std::string socket_path;
    bool running = false;  // false once the producer closed the stream
    Backend backend = Backend::Host;
    FrameLayout layout;
    uint32_t slot_count = 0;
    uint32_t max_subscribers = 0;
    uint64_t epoch = 0;
    int32_t producer_pid = 0;  // SO_PEERCRED: 0 when the producer is in another PID namespace
    uint32_t producer_uid = 0;
    std::string description;
    StreamFacts facts;
    uint64_t latest_seq = 0;
    // Frames per second over the frames still in the pool (0 with fewer than
    // two), and CLOCK_MONOTONIC of the newest frame and of the observation.
    double fps = 0;
    uint64_t newest_timestamp_ns = 0;
    uint64_t observed_ns = 0;
    std::vector<SubscriberObservation> subscribers;
    bool has_packets = false;
    PacketRingObservation packets;
};

// One observation of the producer of `key`, waiting at most timeout_ms for it
// to appear (0: one try, so a socket nobody listens on fails at once; -1:
// forever); a connected producer then has 2 s to answer. Throws NOT_FOUND (no
// producer), PERMISSION, TIMEOUT, VERSION_MISMATCH or PROTOCOL.
CUFRAMES_API StreamObservation observe(const std::string &key, const std::string &dir, int timeout_ms);

}  // namespace cuframes
