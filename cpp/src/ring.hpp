// The frame ring: which slot holds which published frame, and the lease
// protocol that keeps the producer off slots that subscribers hold.
//
// The producer never waits for anyone. To reuse slot k it first stores
// slots[k].seq = 0, then re-reads every lease; a subscriber first stores its
// lease, then re-reads slots[k].seq. With all four accesses seq_cst, at least
// one side sees the other's store (Dekker), so either the producer sees the
// lease and backs off, or the subscriber sees the slot was taken and skips to
// a newer frame. docs/protocol.md has the full argument.
#pragma once

#include <bitset>
#include <cstdint>
#include <functional>

#include "shm_layout.hpp"

namespace cuframes {

using SlotMask = std::bitset<kMaxSlots>;
constexpr uint32_t kNoSlot = 0xffffffffu;

class ProducerRing {
public:
    // header: the producer's writable mapping, freshly initialised (nothing published).
    ProducerRing(SharedHeader *header, uint32_t slot_count) noexcept;

    // A slot that no lease names and that does not hold the newest frame,
    // invalidated so that no new lease on it can succeed. `leased` returns
    // the slots named by any live subscriber's leases. Throws LIMIT if there
    // is none (impossible while slots >= subscribers * max_held + 2).
    uint32_t claim(const std::function<SlotMask()> &leased);
    // Makes `slot` the newest frame: record, ring entry, latest, wake word.
    // Cannot fail; call wake() next.
    uint64_t publish(uint32_t slot, int64_t pts, uint64_t timestamp_ns, const void *metadata,
                     uint32_t metadata_size) noexcept;
    // FUTEX_WAKE for every sleeping subscriber. Returns 0 or the errno.
    int wake() noexcept;
    // Marks the stream closed and wakes every waiter.
    void close() noexcept;
    uint64_t last_seq() const noexcept { return last_seq_; }

private:
    SharedHeader *header_;
    uint32_t slot_count_;
    uint32_t cursor_ = 0;  // round-robin start: spreads writes over all slots
    uint64_t last_seq_ = 0;
    uint32_t newest_slot_ = kNoSlot;  // slot of last_seq_: never reclaimed
};

// The slot holding frame `seq`, if the ring still maps it; kNoSlot otherwise.
uint32_t find_slot(const SharedHeader &header, uint64_t seq) noexcept;

// Subscriber side of the lease protocol: stores the lease, then checks the
// slot still holds `seq`. On failure the lease is cleared again.
bool try_borrow(const SharedHeader &header, std::atomic<uint64_t> &lease, uint64_t seq, uint32_t slot) noexcept;

}  // namespace cuframes
