#include "consumer/connection.hpp"

#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <system_error>

#include "base/clock.hpp"
#include "base/memfd.hpp"
#include "base/paths.hpp"
#include "cuframes/error.hpp"
#include "protocol/handshake_client.hpp"
#include "protocol/wire.hpp"

namespace cuframes {

Connection::Connection(const std::string &key, const std::string &socket_path, int connect_timeout_ms, bool notify)
    : Connection(key, connect_to_producer(key, socket_path, connect_timeout_ms), kHandshakeTimeoutMs, notify) {}

Connection::Connection(const std::string &key, UniqueFd socket, int handshake_timeout_ms, bool notify)
    : key_(key), socket_(std::move(socket)), notify_(notify), watch_("'" + key + "'") {
    handshake(handshake_timeout_ms);
    watch_.start(socket_.get(), header().state, header().wake_word, notify_);
}

Connection::~Connection() = default;  // the watcher stops first (declared last)

void Connection::handshake(int timeout_ms) {
    std::string peer = "the producer of '" + key_ + "'";
    ReceivedMessage reply =
        say_hello(socket_.get(), HelloRole::Frames, timeout_ms, peer, notify_ ? kHelloFlagNotify : 0u);
    if (reply.type() != MessageType::Welcome)
        throw Error(CUFRAMES_ERR_PROTOCOL,
                    peer + " sent message type " + std::to_string(reply.header.type) + " instead of welcome");
    WelcomeBody welcome = reply.body_as<WelcomeBody>("welcome");
    description_ = welcome.stream;
    layout_ = validate_description(description_);
    uint32_t slot_count = description_.slot_count;
    if (welcome.total_fds != 2 + slot_count)
        throw Error(CUFRAMES_ERR_PROTOCOL, peer + " announced " + std::to_string(welcome.total_fds) +
                                               " descriptors for " + std::to_string(slot_count) + " slots");
    if (welcome.header_bytes != header_region_bytes(slot_count) || welcome.lease_page_bytes != kLeasePageBytes)
        throw Error(CUFRAMES_ERR_PROTOCOL, peer + " announced shared regions of unexpected sizes");

    std::vector<UniqueFd> fds;
    while (fds.size() < welcome.total_fds) {
        ReceivedMessage chunk = receive_message(socket_.get(), timeout_ms, peer);
        if (chunk.type() != MessageType::Fds || chunk.header.version != kProtocolVersion)
            throw Error(CUFRAMES_ERR_PROTOCOL, peer + " sent an unexpected message during the descriptor transfer");
        FdsBody body = chunk.body_as<FdsBody>("descriptors");
        if (body.first_index != fds.size() || body.count != chunk.fds.size() || body.count == 0 ||
            fds.size() + body.count > welcome.total_fds)
            throw Error(CUFRAMES_ERR_PROTOCOL, peer + " sent descriptors out of order or too many");
        for (auto &fd : chunk.fds) fds.push_back(std::move(fd));
    }

    // The header: sealed, large enough, mapped read-only, and saying the same as the welcome.
    check_sealed_region(fds[0].get(), welcome.header_bytes, "shared header", true);
    header_map_ = MemoryMap(fds[0].get(), welcome.header_bytes, false, "the shared header");
    validate_shared_header(header(), welcome.header_bytes, description_, peer);
    // latest_seq only grows, and the producer read joined_seq from it before the welcome.
    uint64_t latest = header().latest_seq.load(std::memory_order_acquire);
    if (welcome.joined_seq > latest)
        throw Error(CUFRAMES_ERR_PROTOCOL, peer + " said it counted this subscriber at frame " +
                                               std::to_string(welcome.joined_seq) + ", past its newest frame " +
                                               std::to_string(latest));
    joined_seq_ = welcome.joined_seq;

    check_sealed_region(fds[1].get(), kLeasePageBytes, "lease page", false);
    lease_map_ = MemoryMap(fds[1].get(), kLeasePageBytes, true, "the lease page");
    if (lease_page().magic != kLeasePageMagic || lease_page().max_held != description_.max_held)
        throw Error(CUFRAMES_ERR_PROTOCOL, peer + " sent a malformed lease page");

    std::vector<UniqueFd> slot_fds;
    for (size_t i = 2; i < fds.size(); ++i) slot_fds.push_back(std::move(fds[i]));
    if (backend() == Backend::Cuda) {
        DeviceUuid uuid{};
        std::memcpy(uuid.data(), description_.device_uuid, uuid.size());
        slots_ = import_cuda_slots(std::move(slot_fds), description_.slot_size, uuid);
    } else {
        slots_ = import_host_slots(std::move(slot_fds), description_.slot_size);
    }
}

const uint8_t *Connection::metadata_area(uint32_t slot) const noexcept {
    return static_cast<const uint8_t *>(header_map_.data()) + sizeof(SharedHeader) +
           static_cast<uint64_t>(slot) * kMetadataStride;
}

uint32_t Connection::claim_lease_entry() noexcept {
    uint32_t used = used_leases_.load(std::memory_order_relaxed);
    while (true) {
        uint32_t index = 0;
        while (index < description_.max_held && (used & (1u << index))) ++index;
        if (index == description_.max_held) return kNoLease;
        // relaxed: the bitmask only arbitrates entries among this process's
        // threads; the shared lease itself is ordered in try_borrow().
        if (used_leases_.compare_exchange_weak(used, used | (1u << index), std::memory_order_relaxed)) return index;
    }
}

void Connection::release_lease_entry(uint32_t index) noexcept {
    // release: our reads of the slot happen before the producer can see the
    // lease gone and reuse the slot.
    lease_page().leases[index].store(0, std::memory_order_release);
    used_leases_.fetch_and(~(1u << index), std::memory_order_relaxed);
}

uint32_t Connection::held_count() const noexcept {
    return static_cast<uint32_t>(__builtin_popcount(used_leases_.load(std::memory_order_relaxed)));
}

}  // namespace cuframes
