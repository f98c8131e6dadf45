// observe(): one look at a live producer, for `cuframes stat` and `ls`.
#include <algorithm>
#include <cstring>
#include <vector>

#include "base/clock.hpp"
#include "base/memfd.hpp"
#include "base/memory_map.hpp"
#include "base/paths.hpp"
#include "base/peer_credentials.hpp"
#include "cuframes/error.hpp"
#include "cuframes/observe.hpp"
#include "protocol/handshake_client.hpp"
#include "protocol/packet_ring.hpp"
#include "protocol/shm_layout.hpp"

namespace cuframes {
namespace {

// How long a connected producer has to answer: its server thread answers at
// once unless it is wedged. Apart from the wait for the producer to appear.
constexpr int kAnswerTimeoutMs = 2000;

// Frames per second over the frames still in the pool, from their publish
// timestamps; newest_ns gets the newest frame's. 0 with fewer than two.
double pool_fps(const SharedHeader &header, uint32_t slot_count, uint64_t &newest_ns) {
    struct Stamp {
        uint64_t seq, ns;
    };
    std::vector<Stamp> stamps;
    for (uint32_t i = 0; i < slot_count; ++i) {
        const SlotRecord &slot = header.slots[i];
        uint64_t seq = slot.seq.load(std::memory_order_acquire);
        uint64_t ns = slot.timestamp_ns;
        // A slot rewritten while we looked says nothing reliable: skip it.
        if (seq == 0 || slot.seq.load(std::memory_order_acquire) != seq) continue;
        stamps.push_back({seq, ns});
    }
    newest_ns = 0;
    if (stamps.empty()) return 0;
    auto [oldest, newest] =
        std::minmax_element(stamps.begin(), stamps.end(), [](const Stamp &a, const Stamp &b) { return a.seq < b.seq; });
    newest_ns = newest->ns;
    if (newest->seq == oldest->seq || newest->ns <= oldest->ns) return 0;
    return static_cast<double>(newest->seq - oldest->seq) * 1e9 / static_cast<double>(newest->ns - oldest->ns);
}

std::vector<SubscriberObservation> read_snapshot(int fd, uint32_t rows, const std::string &peer) {
    if (rows > kMaxSubscriberRows)
        throw Error(CUFRAMES_ERR_PROTOCOL, peer + " announced " + std::to_string(rows) + " subscribers");
    uint64_t bytes = std::max<uint64_t>(1, rows) * sizeof(SubscriberRow);
    uint64_t actual = check_sealed_region(fd, bytes, "subscriber snapshot", true);
    if (actual != bytes) throw Error(CUFRAMES_ERR_PROTOCOL, peer + " sent a subscriber snapshot of an unexpected size");
    MemoryMap map(fd, bytes, false, "the subscriber snapshot");
    std::vector<SubscriberObservation> subscribers;
    for (uint32_t i = 0; i < rows; ++i) {
        SubscriberRow row;
        std::memcpy(&row, static_cast<const uint8_t *>(map.data()) + i * sizeof row, sizeof row);
        if (row.role != static_cast<uint32_t>(HelloRole::Frames) &&
            row.role != static_cast<uint32_t>(HelloRole::Packets))
            throw Error(CUFRAMES_ERR_PROTOCOL,
                        peer + " listed a subscriber of unknown role " + std::to_string(row.role));
        SubscriberObservation subscriber;
        subscriber.id = row.id;
        subscriber.packets = row.role == static_cast<uint32_t>(HelloRole::Packets);
        subscriber.uid = row.uid;
        subscriber.pid = row.pid;
        subscriber.held = row.held;
        subscriber.frames_received = row.frames_received;
        subscriber.frames_missed = row.frames_missed;
        subscriber.latency_ns = row.latency_ns;
        subscribers.push_back(subscriber);
    }
    return subscribers;
}

}  // namespace

StreamObservation observe(const std::string &key, const std::string &dir, int timeout_ms) {
    validate_key(key);
    if (timeout_ms < -1) throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "timeout must be >= 0 ms, or -1 to wait forever");
    StreamObservation seen;
    seen.key = key;
    seen.socket_path = socket_path(resolve_dir(dir), key);
    std::string peer = "the producer of '" + key + "'";
    UniqueFd socket = connect_to_producer(key, seen.socket_path, timeout_ms);
    PeerCredentials producer = peer_credentials(socket.get());
    seen.producer_pid = producer.pid;
    seen.producer_uid = producer.uid;
    // A live producer answers at once; a wedged one must not hang `stat`.
    ReceivedMessage reply = say_hello(socket.get(), HelloRole::Observe, kAnswerTimeoutMs, peer);
    if (reply.type() != MessageType::Observation)
        throw Error(CUFRAMES_ERR_PROTOCOL,
                    peer + " answered an observer with message type " + std::to_string(reply.header.type));
    ObservationBody body = reply.body_as<ObservationBody>("observation");
    seen.layout = validate_description(body.stream);
    const StreamDescription &stream = body.stream;
    uint32_t expected_fds = body.packet_ring_bytes != 0 ? 3 : 2;
    if (body.total_fds != expected_fds || reply.fds.size() != expected_fds)
        throw Error(CUFRAMES_ERR_PROTOCOL,
                    peer + " sent an observer " + std::to_string(reply.fds.size()) + " descriptors");
    body.description[sizeof body.description - 1] = '\0';
    seen.description = body.description;
    seen.backend = static_cast<Backend>(stream.backend);
    seen.slot_count = stream.slot_count;
    seen.max_subscribers = body.max_subscribers;
    seen.epoch = stream.epoch;
    seen.facts = stream.facts;

    if (body.header_bytes != header_region_bytes(stream.slot_count))
        throw Error(CUFRAMES_ERR_PROTOCOL, peer + " announced a shared header of unexpected size");
    check_sealed_region(reply.fds[0].get(), body.header_bytes, "shared header", true);
    MemoryMap header_map(reply.fds[0].get(), body.header_bytes, false, "the shared header");
    const auto &header = *static_cast<const SharedHeader *>(header_map.data());
    validate_shared_header(header, body.header_bytes, stream, peer);
    seen.running = header.state.load(std::memory_order_acquire) == static_cast<uint32_t>(StreamState::Running);
    seen.latest_seq = header.latest_seq.load(std::memory_order_acquire);
    seen.fps = pool_fps(header, stream.slot_count, seen.newest_timestamp_ns);
    seen.observed_ns = monotonic_ns();

    seen.subscribers = read_snapshot(reply.fds[1].get(), body.subscriber_rows, peer);

    if (body.packet_ring_bytes != 0) {
        PacketRingReader ring(std::move(reply.fds[2]), body.packet_ring_bytes, stream.epoch, peer);
        const PacketRingHeader &packets = ring.header();
        seen.has_packets = true;
        uint32_t codec = packets.codec.load(std::memory_order_relaxed);
        seen.packets.codec = is_known_codec(codec) ? codec : 0;
        seen.packets.latest_seq = packets.latest_seq.load(std::memory_order_acquire);
        seen.packets.oldest_seq = packets.oldest_seq.load(std::memory_order_relaxed);
        seen.packets.bytes_written = packets.write_end.load(std::memory_order_relaxed);
        seen.packets.keyframes = packets.keyframes.load(std::memory_order_relaxed);
        seen.packets.capacity_bytes = ring.data_bytes();
    }
    return seen;
}

}  // namespace cuframes
