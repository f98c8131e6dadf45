// The ring primitives of cpp/src/protocol/ring.hpp in isolation: one thread, a
// SharedHeader in private memory, no Publisher, no server thread and no
// system call (except BM_RingWake). What the lease protocol itself costs the
// producer and a subscriber per frame; publish_benchmarks.cpp and
// subscriber_benchmarks.cpp measure the same paths through the public API.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstddef>
#include <functional>
#include <new>
#include <string>

#include "bench_support.hpp"
#include "protocol/ring.hpp"
#include "protocol/shm_layout.hpp"

namespace cuframes_bench {
namespace {

using cuframes::kNoSlot;
using cuframes::ProducerRing;
using cuframes::SharedHeader;
using cuframes::SlotMask;

// A fresh header region laid out as the publisher lays it out (header, then
// one metadata area per slot), in ordinary memory.
class HeaderRegion {
public:
    explicit HeaderRegion(uint32_t slots) : bytes_(cuframes::header_region_bytes(slots)) {
        memory_ = ::operator new (bytes_, std::align_val_t{alignof(SharedHeader)});
        header_ = new (memory_) SharedHeader{};
        header_->state.store(static_cast<uint32_t>(cuframes::StreamState::Running), std::memory_order_relaxed);
    }
    ~HeaderRegion() {
        header_->~SharedHeader();
        ::operator delete (memory_, std::align_val_t{alignof(SharedHeader)});
    }
    HeaderRegion(const HeaderRegion &) = delete;
    HeaderRegion &operator=(const HeaderRegion &) = delete;

    SharedHeader &header() noexcept { return *header_; }

private:
    size_t bytes_;
    void *memory_ = nullptr;
    SharedHeader *header_ = nullptr;
};

// Publishes `count` frames with nothing leased.
void publish_frames(ProducerRing &ring, uint64_t count) {
    std::function<SlotMask()> nothing_leased = [] { return SlotMask{}; };
    for (uint64_t i = 0; i < count; ++i)
        ring.publish(ring.claim(nothing_leased), static_cast<int64_t>(i), 0, nullptr, 0);
}

// ProducerRing::claim + publish, slots 0..leased-1 held by subscribers. The
// lease scan is a fixed mask here (the Publisher's reads the lease pages
// under a mutex); timestamp 0 keeps the clock out; no wake-up (BM_RingWake).
void BM_RingClaimPublish(benchmark::State &state) {
    const auto slots = static_cast<uint32_t>(state.range(0));
    const auto leased = static_cast<uint32_t>(state.range(1));
    guarded(state, [&] {
        HeaderRegion region(slots);
        ProducerRing ring(&region.header(), slots);
        SlotMask held;
        for (uint32_t i = 0; i < leased; ++i) held.set(i);
        std::function<SlotMask()> leased_slots = [&held] { return held; };
        int64_t pts = 0;
        for (auto _ : state) {
            uint32_t slot = ring.claim(leased_slots);
            if (slot >= slots || held.test(slot)) {
                fail(state, "claim returned slot " + std::to_string(slot) + ", which is out of range or leased");
                break;
            }
            benchmark::DoNotOptimize(ring.publish(slot, ++pts, 0, nullptr, 0));
        }
        if (state.error_occurred()) return;
        const SharedHeader &header = region.header();
        uint64_t latest = header.latest_seq.load(std::memory_order_acquire);
        if (ring.last_seq() != static_cast<uint64_t>(state.iterations()) || latest != ring.last_seq() ||
            cuframes::find_slot(header, latest) == kNoSlot)
            fail(state, "after " + std::to_string(state.iterations()) + " publishes the ring says last " +
                            std::to_string(ring.last_seq()) + ", the header latest " + std::to_string(latest));
        state.SetItemsProcessed(state.iterations());
    });
}
BENCHMARK(BM_RingClaimPublish)
    ->ArgNames({"slots", "leased"})
    ->Args({3, 0})
    ->Args({16, 0})
    ->Args({16, 14})
    ->Args({128, 0})
    ->Args({128, 126});

// ProducerRing::wake: FUTEX_WAKE with nobody asleep, the system call that
// Publisher::publish makes after every frame.
void BM_RingWake(benchmark::State &state) {
    guarded(state, [&] {
        HeaderRegion region(3);
        ProducerRing ring(&region.header(), 3);
        for (auto _ : state) {
            if (int err = ring.wake(); err != 0) {
                fail(state, "futex wake failed: errno " + std::to_string(err));
                break;
            }
        }
    });
}
BENCHMARK(BM_RingWake);

// find_slot for the newest frame (hit), and for a frame whose ring entry has
// been overwritten (miss: what a subscriber 256 frames behind sees).
void BM_RingFindSlot(benchmark::State &state) {
    const bool hit = state.range(0) != 0;
    guarded(state, [&] {
        HeaderRegion region(16);
        ProducerRing ring(&region.header(), 16);
        publish_frames(ring, cuframes::kPublishRingSize + 44);
        const uint64_t seq = hit ? ring.last_seq() : ring.last_seq() - cuframes::kPublishRingSize;
        const SharedHeader &header = region.header();
        for (auto _ : state) {
            uint32_t slot = cuframes::find_slot(header, seq);
            benchmark::DoNotOptimize(slot);
            if ((slot != kNoSlot) != hit) {
                fail(state, "find_slot(" + std::to_string(seq) + ") returned " + std::to_string(slot));
                break;
            }
        }
    });
}
BENCHMARK(BM_RingFindSlot)->ArgName("hit")->Arg(1)->Arg(0);

// try_borrow, then the release a FrameLease does (Connection::release_lease_entry's
// store): the seq_cst store and load of the subscriber's half of the lease
// protocol. Fails: the slot no longer holds the frame (the lease is cleared).
void BM_RingTryBorrow(benchmark::State &state) {
    const bool succeeds = state.range(0) != 0;
    guarded(state, [&] {
        HeaderRegion region(3);
        ProducerRing ring(&region.header(), 3);
        publish_frames(ring, 1);
        const SharedHeader &header = region.header();
        const uint32_t slot = cuframes::find_slot(header, 1);
        if (slot == kNoSlot) {
            fail(state, "frame 1 is in no slot after publishing it");
            return;
        }
        const uint64_t seq = succeeds ? 1 : 2;  // 2: not in that slot
        // On its own cache line, as on the lease page.
        struct alignas(64) Lease {
            std::atomic<uint64_t> word{0};
        } lease;
        for (auto _ : state) {
            bool borrowed = cuframes::try_borrow(header, lease.word, seq, slot);
            if (borrowed != succeeds) {
                fail(state, std::string("try_borrow ") + (borrowed ? "succeeded" : "failed") + " unexpectedly");
                break;
            }
            lease.word.store(0, std::memory_order_release);
        }
    });
}
BENCHMARK(BM_RingTryBorrow)->ArgName("succeeds")->Arg(1)->Arg(0);

}  // namespace
}  // namespace cuframes_bench
