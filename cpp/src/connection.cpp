#include "connection.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstdio>

#include <chrono>
#include <cstring>
#include <system_error>
#include <thread>

#include "clock.hpp"
#include "cuframes/error.hpp"
#include "futex.hpp"
#include "memfd.hpp"
#include "paths.hpp"
#include "wire.hpp"

namespace cuframes {
namespace {

// How long the producer has to answer a hello: it answers at once unless it
// is wedged, and a wedged producer must not hang the subscriber.
constexpr int kHandshakeTimeoutMs = 5000;

UniqueFd connect_with_retry(const std::string &key, const std::string &path, int timeout_ms) {
    sockaddr_un address = unix_address(path);
    uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : monotonic_ns() + static_cast<uint64_t>(timeout_ms) * 1'000'000ull;
    auto backoff = std::chrono::milliseconds(2);
    while (true) {
        UniqueFd socket(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
        if (!socket) throw_os_error("socket(AF_UNIX, SOCK_SEQPACKET)");
        if (::connect(socket.get(), reinterpret_cast<sockaddr *>(&address), sizeof address) == 0) return socket;
        int err = errno;
        // ENOENT: no producer yet. ECONNREFUSED: a dead producer's socket
        // file, about to be replaced. Both are worth waiting out.
        if (err != ENOENT && err != ECONNREFUSED && err != EINTR && err != EAGAIN) {
            if (err == EACCES || err == EPERM)
                throw Error(CUFRAMES_ERR_PERMISSION, "not allowed to connect to " + path + " (check the socket's mode and group)", err);
            throw_os_error("connect " + path, err);
        }
        if (monotonic_ns() >= deadline)
            throw Error(CUFRAMES_ERR_NOT_FOUND, "no producer for key '" + key + "' at " + path + " (waited " +
                                                    std::to_string(timeout_ms) + " ms)", err);
        std::this_thread::sleep_for(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(50));
    }
}

bool is_known_status(uint32_t status) { return status >= CUFRAMES_ERR_INVALID_ARGUMENT && status <= CUFRAMES_ERR_OS; }

// Everything a subscriber acts on in the description is checked against
// what it computes itself; a producer's numbers are not trusted.
FrameLayout validate_description(const StreamDescription &description) {
    if (description.backend != CUFRAMES_BACKEND_HOST && description.backend != CUFRAMES_BACKEND_CUDA)
        throw Error(CUFRAMES_ERR_PROTOCOL, "the producer announced an unknown backend " + std::to_string(description.backend));
    if (!is_known_format(description.format))
        throw Error(CUFRAMES_ERR_PROTOCOL, "the producer announced an unknown pixel format " + std::to_string(description.format));
    FrameLayout layout;
    try {
        layout = compute_layout(static_cast<PixelFormat>(description.format), description.width, description.height);
    } catch (const Error &error) {
        throw Error(CUFRAMES_ERR_PROTOCOL, std::string("the producer announced an invalid frame: ") + error.what());
    }
    if (description.plane_count != layout.plane_count ||
        std::memcmp(description.planes, layout.planes.data(), sizeof description.planes) != 0)
        throw Error(CUFRAMES_ERR_PROTOCOL, "the producer's plane layout differs from the one this subscriber computes");
    if ((description.flags & ~kKnownStreamFlags) != 0)
        throw Error(CUFRAMES_ERR_PROTOCOL, "the producer announced unknown stream flags " + std::to_string(description.flags));
    if ((description.flags & kStreamFlagStreamOrdered) != 0 && description.backend != CUFRAMES_BACKEND_CUDA)
        throw Error(CUFRAMES_ERR_PROTOCOL, "the producer announced stream-ordered frames on the host backend");
    if (description.slot_count < 3 || description.slot_count > kMaxSlots)
        throw Error(CUFRAMES_ERR_PROTOCOL, "the producer announced " + std::to_string(description.slot_count) + " slots");
    if (description.max_held < 1 || description.max_held > kMaxHeldLimit)
        throw Error(CUFRAMES_ERR_PROTOCOL, "the producer announced max_held " + std::to_string(description.max_held));
    if (description.slot_size < layout.bytes || description.slot_size > (uint64_t{1} << 34))
        throw Error(CUFRAMES_ERR_PROTOCOL, "the producer's slot size " + std::to_string(description.slot_size) +
                                               " does not fit the frame (" + std::to_string(layout.bytes) + " bytes)");
    return layout;
}

}  // namespace

Connection::Connection(const std::string &key, const std::string &socket_path, int connect_timeout_ms)
    : Connection(key, connect_with_retry(key, socket_path, connect_timeout_ms), kHandshakeTimeoutMs) {}

Connection::Connection(const std::string &key, UniqueFd socket, int handshake_timeout_ms)
    : key_(key), socket_(std::move(socket)) {
    handshake(handshake_timeout_ms);
    start_watcher();
}

Connection::~Connection() {
    if (!watcher_.joinable()) return;
    uint64_t one = 1;
    if (::write(stop_watcher_.get(), &one, sizeof one) != sizeof one) {
        // Without the signal the thread would block until the producer hangs up.
        std::fprintf(stderr, "cuframes: cannot stop the watcher of '%s': %s\n", key_.c_str(), std::strerror(errno));
        watcher_.detach();
        return;
    }
    watcher_.join();
}

void Connection::start_watcher() noexcept {
    stop_watcher_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!stop_watcher_) {
        std::fprintf(stderr, "cuframes: eventfd failed (%s); '%s' falls back to polling for the producer\n",
                     std::strerror(errno), key_.c_str());
        return;
    }
    try {
        watcher_ = std::thread([this] { watch(); });
    } catch (const std::system_error &error) {
        std::fprintf(stderr, "cuframes: no watcher thread (%s); '%s' falls back to polling for the producer\n",
                     error.what(), key_.c_str());
    }
}

void Connection::watch() noexcept {
    // The producer never writes after the handshake, so the socket becomes
    // readable only when it hangs up: at close, or when the kernel tears
    // down a killed producer. Waiters are asleep on the futex and cannot see
    // that themselves.
    pollfd waiters[2] = {{socket_.get(), POLLIN | POLLRDHUP, 0}, {stop_watcher_.get(), POLLIN, 0}};
    while (true) {
        int ready = ::poll(waiters, 2, -1);
        if (ready < 0) {
            if (errno == EINTR) continue;
            std::fprintf(stderr, "cuframes: poll in the watcher of '%s' failed: %s\n", key_.c_str(), std::strerror(errno));
            break;  // treated as a hang-up: better a DisconnectedError than a waiter that never learns
        }
        if (waiters[1].revents != 0) return;  // the Connection is going away
        if (waiters[0].revents != 0) break;
    }
    // release: a waiter that sees gone_ also sees everything before it.
    gone_.store(true, std::memory_order_release);
    // FUTEX_WAKE leaves the word unchanged, so a waiter that checked gone_
    // just before the store and enters FUTEX_WAIT just after would miss a
    // single wake. Waking again a little later catches it; the waiters'
    // bounded sleep (kWakeBackstopNs) is the last resort.
    for (auto pause : {std::chrono::milliseconds(0), std::chrono::milliseconds(1), std::chrono::milliseconds(10)}) {
        std::this_thread::sleep_for(pause);
        wake_waiters();
    }
}

void Connection::wake_waiters() noexcept {
    // FUTEX_WAKE writes nothing, so it works on our read-only mapping.
    auto *word = const_cast<std::atomic<uint32_t> *>(&header().wake_word);
    if (int err = futex_wake_all(word); err != 0)
        std::fprintf(stderr, "cuframes: futex wake on '%s' failed: %s\n", key_.c_str(), std::strerror(err));
}

void Connection::handshake(int timeout_ms) {
    std::string peer = "the producer of '" + key_ + "'";
    HelloBody hello{kProtocolVersion, 0, 0};
    bool hung_up = false;
    try {
        send_message(socket_.get(), MessageType::Hello, &hello, sizeof hello);
    } catch (const Error &error) {
        // A producer that refuses at once (out of descriptors, too many
        // handshakes) may send its reject and close before our hello is out:
        // the reject is still queued for us, so read it before giving up.
        if (error.status() != CUFRAMES_ERR_DISCONNECTED) throw;
        hung_up = true;
    }

    ReceivedMessage reply = receive_message(socket_.get(), hung_up ? 0 : timeout_ms, peer);
    if (reply.type() == MessageType::Reject) {
        // Reject's layout is the same in every version: read it first.
        RejectBody reject = reply.body_as<RejectBody>("reject");
        reject.reason[sizeof reject.reason - 1] = '\0';
        Status status = is_known_status(reject.status) ? static_cast<Status>(reject.status) : CUFRAMES_ERR_PROTOCOL;
        throw Error(status, std::string(reject.reason));
    }
    if (reply.header.version != kProtocolVersion)
        throw Error(CUFRAMES_ERR_VERSION_MISMATCH, peer + " speaks cuframes protocol v" +
                                                       std::to_string(reply.header.version) + ", this subscriber v" +
                                                       std::to_string(kProtocolVersion));
    if (reply.type() != MessageType::Welcome)
        throw Error(CUFRAMES_ERR_PROTOCOL, peer + " sent message type " + std::to_string(reply.header.type) + " instead of welcome");
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
    const SharedHeader &shared = header();
    // Each field is copied once, then checked: a producer rewriting the header
    // meanwhile cannot make us act on a value we did not check.
    uint64_t magic = shared.magic;
    uint32_t version = shared.version;
    uint32_t header_bytes = shared.header_bytes;
    uint32_t metadata_offset = shared.metadata_offset;
    uint32_t metadata_stride = shared.metadata_stride;
    StreamDescription repeated;
    std::memcpy(&repeated, &shared.stream, sizeof repeated);
    if (magic != kHeaderMagic) throw Error(CUFRAMES_ERR_PROTOCOL, peer + " sent a shared header with a bad magic number");
    if (version != kProtocolVersion)
        throw Error(CUFRAMES_ERR_VERSION_MISMATCH, peer + "'s shared header is version " + std::to_string(version));
    if (header_bytes != welcome.header_bytes || metadata_offset != sizeof(SharedHeader) ||
        metadata_stride != kMetadataStride || std::memcmp(&repeated, &description_, sizeof repeated) != 0)
        throw Error(CUFRAMES_ERR_PROTOCOL, peer + "'s shared header disagrees with its welcome message");

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

bool Connection::producer_gone() noexcept {
    // acquire: pairs with the watcher's release store.
    if (gone_.load(std::memory_order_acquire)) return true;
    // acquire: pairs with the producer's release store in ProducerRing::close().
    if (header().state.load(std::memory_order_acquire) != static_cast<uint32_t>(StreamState::Running)) {
        gone_.store(true, std::memory_order_relaxed);
        return true;
    }
    if (watched()) return false;  // the watcher would have said so
    // No watcher: look at the socket ourselves. The producer never writes
    // after the handshake, so any readable event is its hang-up.
    pollfd waiter{socket_.get(), POLLIN | POLLRDHUP, 0};
    int ready = ::poll(&waiter, 1, 0);
    if (ready > 0 && (waiter.revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR))) gone_.store(true, std::memory_order_relaxed);
    // A failed poll (EINTR, or worse) says nothing about the producer: the next check tries again.
    return gone_.load(std::memory_order_relaxed);
}

}  // namespace cuframes
