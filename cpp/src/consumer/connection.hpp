// A subscriber's attachment to one producer: the socket, the read-only
// header, its lease page and the imported slots. Shared by the Subscriber
// and every FrameLease, so held frames outlive Subscriber::close() and the
// producer's death.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "base/memory_map.hpp"
#include "base/unique_fd.hpp"
#include "consumer/producer_watch.hpp"
#include "cuframes/format.hpp"
#include "cuframes/types.hpp"
#include "protocol/shm_layout.hpp"
#include "slots/slot_pool.hpp"

namespace cuframes {

class Connection {
public:
    // Connects (waiting up to connect_timeout_ms for the producer), runs the
    // handshake and validates everything received before using it.
    // `notify`: ask the producer for a byte on the socket after each frame
    // (kHelloFlagNotify), for subscribers that wait in poll/epoll/asyncio.
    Connection(const std::string &key, const std::string &socket_path, int connect_timeout_ms, bool notify = false);
    // Runs the handshake over `socket`, already connected to a producer,
    // waiting at most handshake_timeout_ms for each message (0: only what is
    // already queued). For harnesses that play the producer over a socketpair.
    Connection(const std::string &key, UniqueFd socket, int handshake_timeout_ms, bool notify = false);
    ~Connection();
    Connection(const Connection &) = delete;
    Connection &operator=(const Connection &) = delete;

    const SharedHeader &header() const noexcept { return *static_cast<const SharedHeader *>(header_map_.data()); }
    LeasePage &lease_page() noexcept { return *static_cast<LeasePage *>(lease_map_.data()); }
    const StreamDescription &description() const noexcept { return description_; }
    const FrameLayout &layout() const noexcept { return layout_; }
    const ImportedSlots &slots() const noexcept { return *slots_; }
    Backend backend() const noexcept { return static_cast<Backend>(description_.backend); }
    const std::string &key() const noexcept { return key_; }
    // The newest frame when the producer counted this subscriber (the welcome's joined_seq):
    // where a sequential subscriber starts; 0 when nothing was published yet.
    uint64_t joined_seq() const noexcept { return joined_seq_; }

    // The user metadata area of `slot` in the header (read-only mapping).
    const uint8_t *metadata_area(uint32_t slot) const noexcept;

    // Claims a free lease entry; kNoLease when max_held are in use.
    static constexpr uint32_t kNoLease = 0xffffffffu;
    uint32_t claim_lease_entry() noexcept;
    // Clears the lease in shared memory, then frees the entry.
    void release_lease_entry(uint32_t index) noexcept;
    uint32_t held_count() const noexcept;

    // Whether the producer has gone, and the sleep until it has news (the
    // shared header's state and wake word): see ProducerWatch.
    bool producer_gone() noexcept { return watch_.gone(); }
    bool producer_said_gone() noexcept { return watch_.said_gone(); }
    bool producer_closed() const noexcept { return watch_.closed(); }
    bool watched() const noexcept { return watch_.watched(); }
    void wake_waiters() noexcept { watch_.wake_waiters(); }
    void sleep(uint32_t seen_wake_word, uint64_t now_ns, uint64_t deadline_ns) const {
        watch_.sleep(seen_wake_word, now_ns, deadline_ns);
    }

    // notify: the socket that turns readable after each frame (and at the hang-up).
    int socket() const noexcept { return socket_.get(); }
    // notify: reads the notification bytes, without blocking; false when the producer hung up.
    bool drain_notifications() noexcept { return watch_.drain_notifications(); }

private:
    void handshake(int timeout_ms);

    std::string key_;
    UniqueFd socket_;
    StreamDescription description_{};
    FrameLayout layout_{};
    uint64_t joined_seq_ = 0;
    MemoryMap header_map_;
    MemoryMap lease_map_;
    std::unique_ptr<ImportedSlots> slots_;
    std::atomic<uint32_t> used_leases_{0};  // bit i: lease entry i is in use
    bool notify_ = false;
    ProducerWatch watch_;  // last: its watcher stops before anything it touches goes
};

}  // namespace cuframes
