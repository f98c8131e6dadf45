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

#include "protocol/shm_layout.hpp"

namespace cuframes {

using SlotMask = std::bitset<kMaxSlots>;
constexpr uint32_t kNoSlot = 0xffffffffu;

// Not thread-safe: the producer serialises claim, release and publish.
class ProducerRing {
public:
    // header: the producer's writable mapping, freshly initialised (nothing published).
    ProducerRing(SharedHeader *header, uint32_t slot_count) noexcept;

    // A slot that no lease names, that does not hold the newest frame and
    // that is not already claimed, invalidated so that no new lease on it can
    // succeed; it stays reserved until publish() or release(). `leased`
    // returns the slots named by any live subscriber's leases. Throws LIMIT
    // if there is none, which cannot happen while slots >= subscribers *
    // max_held + 2 and at most one slot is claimed at a time (the publisher
    // claims one ahead only when a spare slot allows it, see publisher.cpp).
    uint32_t claim(const std::function<SlotMask()> &leased);
    // The same, but kNoSlot instead of LIMIT.
    uint32_t try_claim(const std::function<SlotMask()> &leased);
    // Hands a claimed slot back unpublished (its sequence is 0: simply free).
    void release(uint32_t slot) noexcept { reserved_.reset(slot); }
    // Makes the claimed `slot` the newest frame: record, ring entry, latest,
    // wake word. Cannot fail; call wake() next.
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
    SlotMask reserved_;               // claimed, not yet published or released
};

// The slot holding frame `seq`, if the ring still maps it; kNoSlot otherwise.
uint32_t find_slot(const SharedHeader &header, uint64_t seq) noexcept;

// Subscriber side of the lease protocol: stores the lease, then checks the
// slot still holds `seq`. On failure the lease is cleared again.
bool try_borrow(const SharedHeader &header, std::atomic<uint64_t> &lease, uint64_t seq, uint32_t slot) noexcept;

}  // namespace cuframes
