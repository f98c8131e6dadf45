#include "protocol/ring.hpp"

#include <cstring>

#include "base/futex.hpp"
#include "cuframes/error.hpp"

namespace cuframes {

ProducerRing::ProducerRing(SharedHeader *header, uint32_t slot_count) noexcept
    : header_(header), slot_count_(slot_count) {}  // a fresh header: nothing published yet

uint32_t ProducerRing::claim(const std::function<SlotMask()> &leased) {
    uint32_t slot = try_claim(leased);
    if (slot == kNoSlot)
        throw Error(CUFRAMES_ERR_LIMIT, "no free slot: every slot is held by a subscriber, holds the newest frame "
                                        "or is being written");
    return slot;
}

uint32_t ProducerRing::try_claim(const std::function<SlotMask()> &leased) {
    // Only this thread publishes, so it knows the newest slot without reading
    // shared memory back.
    uint32_t newest = newest_slot_;
    for (uint32_t attempt = 0; attempt < slot_count_; ++attempt) {
        SlotMask held = leased();
        uint32_t candidate = kNoSlot;
        for (uint32_t i = 0; i < slot_count_; ++i) {
            uint32_t slot = (cursor_ + i) % slot_count_;
            if (slot != newest && !held.test(slot) && !reserved_.test(slot)) {
                candidate = slot;
                break;
            }
        }
        if (candidate == kNoSlot) break;
        // seq_cst store, then seq_cst loads of the leases (inside leased()):
        // the producer half of the Dekker pair described in ring.hpp.
        uint64_t previous = header_->slots[candidate].seq.exchange(0, std::memory_order_seq_cst);
        if (!leased().test(candidate)) {
            cursor_ = (candidate + 1) % slot_count_;
            reserved_.set(candidate);
            return candidate;
        }
        // A subscriber leased it between the two scans and may have seen the
        // old sequence: put it back untouched and try another slot.
        header_->slots[candidate].seq.store(previous, std::memory_order_seq_cst);
    }
    return kNoSlot;
}

uint64_t ProducerRing::publish(uint32_t slot, int64_t pts, uint64_t timestamp_ns, const void *metadata,
                               uint32_t metadata_size) noexcept {
    uint64_t seq = last_seq_ + 1;
    SlotRecord &record = header_->slots[slot];
    record.pts = pts;
    record.timestamp_ns = timestamp_ns;
    record.metadata_size = metadata_size;
    if (metadata_size > 0) {
        // The offset is our constant, never read back from shared memory.
        uint8_t *area =
            reinterpret_cast<uint8_t *>(header_) + sizeof(SharedHeader) + static_cast<uint64_t>(slot) * kMetadataStride;
        std::memcpy(area, metadata, metadata_size);
    }
    // release: the record fields and metadata above are visible to whoever
    // reads this seq (subscribers load it with seq_cst, which includes acquire).
    record.seq.store(seq, std::memory_order_release);
    // release: a subscriber that finds this ring entry also finds the record.
    header_->publish_ring[seq % kPublishRingSize].store(pack_slot_ref(seq, slot), std::memory_order_release);
    // release: whoever sees the new latest also sees the ring entry.
    header_->latest_seq.store(seq, std::memory_order_release);
    // release: a waiter that reads the new wake word also reads the new
    // latest; one that read the old word is woken by FUTEX_WAKE or finds the
    // word changed when it calls FUTEX_WAIT.
    header_->wake_word.fetch_add(1, std::memory_order_release);
    last_seq_ = seq;
    newest_slot_ = slot;
    reserved_.reset(slot);
    return seq;
}

int ProducerRing::wake() noexcept { return futex_wake_all(&header_->wake_word); }

void ProducerRing::close() noexcept {
    // release: pairs with the subscribers' acquire load of state.
    header_->state.store(static_cast<uint32_t>(StreamState::Closed), std::memory_order_release);
    header_->wake_word.fetch_add(1, std::memory_order_release);
    futex_wake_all(&header_->wake_word);  // best effort: the socket hang-up also tells them
}

uint32_t find_slot(const SharedHeader &header, uint64_t seq) noexcept {
    // acquire: pairs with publish()'s release store of the entry.
    uint64_t ref = header.publish_ring[seq % kPublishRingSize].load(std::memory_order_acquire);
    return slot_ref_seq(ref) == seq ? slot_ref_slot(ref) : kNoSlot;
}

bool try_borrow(const SharedHeader &header, std::atomic<uint64_t> &lease, uint64_t seq, uint32_t slot) noexcept {
    // seq_cst store then seq_cst load: the subscriber half of the Dekker pair.
    lease.store(pack_slot_ref(seq, slot), std::memory_order_seq_cst);
    if (header.slots[slot].seq.load(std::memory_order_seq_cst) == seq) return true;
    // relaxed is enough: a cleared lease only lets the producer do more.
    lease.store(0, std::memory_order_relaxed);
    return false;
}

}  // namespace cuframes
