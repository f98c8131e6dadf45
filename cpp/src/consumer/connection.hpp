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
#include "consumer/hangup_watcher.hpp"
#include "cuframes/format.hpp"
#include "cuframes/types.hpp"
#include "protocol/shm_layout.hpp"
#include "slots/slot_pool.hpp"

namespace cuframes {

class Connection {
public:
    // Connects (waiting up to connect_timeout_ms for the producer), runs the
    // handshake and validates everything received before using it.
    Connection(const std::string &key, const std::string &socket_path, int connect_timeout_ms);
    // Runs the handshake over `socket`, already connected to a producer,
    // waiting at most handshake_timeout_ms for each message (0: only what is
    // already queued). For harnesses that play the producer over a socketpair.
    Connection(const std::string &key, UniqueFd socket, int handshake_timeout_ms);
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

    // The user metadata area of `slot` in the header (read-only mapping).
    const uint8_t *metadata_area(uint32_t slot) const noexcept;

    // Claims a free lease entry; kNoLease when max_held are in use.
    static constexpr uint32_t kNoLease = 0xffffffffu;
    uint32_t claim_lease_entry() noexcept;
    // Clears the lease in shared memory, then frees the entry.
    void release_lease_entry(uint32_t index) noexcept;
    uint32_t held_count() const noexcept;

    // True once the producer closed the stream or its socket hung up.
    bool producer_gone() noexcept;
    // True when the producer marked its stream closed: a clean close, where
    // a hang-up alone means it died. A closing producer marks the header
    // before it hangs up, so once producer_gone() is true this says which.
    bool producer_closed() const noexcept;
    // True when a watcher thread wakes waiters as soon as the producer goes,
    // so they may sleep without a limit; false if it could not be started
    // (then waiters must wake now and then to call producer_gone()).
    bool watched() const noexcept { return watcher_.running(); }
    // FUTEX_WAKE on the header's wake word: ends every wait in progress, so
    // that waiters re-check (used by close() and the watcher).
    void wake_waiters() noexcept;

private:
    void handshake(int timeout_ms);
    void start_watcher() noexcept;

    std::string key_;
    UniqueFd socket_;
    StreamDescription description_{};
    FrameLayout layout_{};
    MemoryMap header_map_;
    MemoryMap lease_map_;
    std::unique_ptr<ImportedSlots> slots_;
    std::atomic<uint32_t> used_leases_{0};  // bit i: lease entry i is in use
    std::atomic<bool> gone_{false};
    HangupWatcher watcher_;  // last: stopped before anything it touches goes
};

}  // namespace cuframes
