#include "consumer/connection.hpp"

#include <sys/socket.h>
#include <sys/un.h>

#include <cstdio>

#include <cstring>
#include <system_error>

#include "base/clock.hpp"
#include "base/futex.hpp"
#include "base/memfd.hpp"
#include "base/paths.hpp"
#include "consumer/hangup_watcher.hpp"
#include "cuframes/error.hpp"
#include "protocol/handshake_client.hpp"
#include "protocol/wire.hpp"

namespace cuframes {
namespace {

// How long the producer has to answer a hello: it answers at once unless it
// is wedged, and a wedged producer must not hang the subscriber.
constexpr int kHandshakeTimeoutMs = 5000;

}  // namespace

Connection::Connection(const std::string &key, const std::string &socket_path, int connect_timeout_ms)
    : Connection(key, connect_to_producer(key, socket_path, connect_timeout_ms), kHandshakeTimeoutMs) {}

Connection::Connection(const std::string &key, UniqueFd socket, int handshake_timeout_ms)
    : key_(key), socket_(std::move(socket)) {
    handshake(handshake_timeout_ms);
    start_watcher();
}

Connection::~Connection() = default;  // the watcher stops first (declared last)

void Connection::start_watcher() noexcept {
    // release: a waiter that sees gone_ also sees everything before it.
    watcher_.start(
        socket_.get(), key_, [this] { gone_.store(true, std::memory_order_release); }, [this] { wake_waiters(); });
}

void Connection::wake_waiters() noexcept {
    // FUTEX_WAKE writes nothing, so it works on our read-only mapping.
    auto *word = const_cast<std::atomic<uint32_t> *>(&header().wake_word);
    if (int err = futex_wake_all(word); err != 0)
        std::fprintf(stderr, "cuframes: futex wake on '%s' failed: %s\n", key_.c_str(), std::strerror(err));
}

void Connection::handshake(int timeout_ms) {
    std::string peer = "the producer of '" + key_ + "'";
    ReceivedMessage reply = say_hello(socket_.get(), HelloRole::Frames, timeout_ms, peer);
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

bool Connection::producer_closed() const noexcept {
    // acquire: pairs with the producer's release store in ProducerRing::close().
    return header().state.load(std::memory_order_acquire) == static_cast<uint32_t>(StreamState::Closed);
}

bool Connection::producer_gone() noexcept {
    // acquire: pairs with the watcher's release store.
    if (gone_.load(std::memory_order_acquire)) return true;
    // acquire: pairs with the producer's release store in ProducerRing::close().
    if (header().state.load(std::memory_order_acquire) != static_cast<uint32_t>(StreamState::Running)) {
        gone_.store(true, std::memory_order_relaxed);
        return true;
    }
    if (watched()) return false;  // the watcher would have said so
    // No watcher: look at the socket ourselves.
    if (socket_hung_up(socket_.get())) gone_.store(true, std::memory_order_relaxed);
    return gone_.load(std::memory_order_relaxed);
}

}  // namespace cuframes
