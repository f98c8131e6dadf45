// Subscriber::next(0) and the release of the frame when the frame is already
// published, so nothing waits: the borrow path through the public API (the
// subscriber's lock, a lease entry, find_slot, try_borrow, the FrameLease)
// for Latest and Sequential delivery.
//
// Manual timing: each next() and release is timed on its own with
// steady_clock (tens of ns of overhead included, a vDSO clock assumed); the
// producer's publish that makes the frame ready is not timed.
#include <benchmark/benchmark.h>

#include <chrono>
#include <memory>
#include <string>

#include "bench_support.hpp"

namespace cuframes_bench {
namespace {

using Clock = std::chrono::steady_clock;
using cuframes::Delivery;
using cuframes::Publisher;
using cuframes::Subscriber;

// Times one next(0) plus the release; false (and a failure) unless it
// returned frame `expected` with nothing missed.
bool timed_next(benchmark::State &state, Subscriber &subscriber, uint64_t expected) {
    Clock::time_point start = Clock::now();
    std::shared_ptr<cuframes::FrameLease> frame = subscriber.next(0);
    const cuframes::FrameInfo info = frame->info();
    frame.reset();
    Clock::time_point stop = Clock::now();
    state.SetIterationTime(std::chrono::duration<double>(stop - start).count());
    if (info.seq == expected && info.missed == 0) return true;
    fail(state, "next() returned frame " + std::to_string(info.seq) + " (missed " + std::to_string(info.missed) +
                    "), expected " + std::to_string(expected));
    return false;
}

void check_nothing_held(benchmark::State &state, const Subscriber &subscriber) {
    if (!state.error_occurred() && subscriber.held_count() != 0)
        fail(state, "the subscriber still holds " + std::to_string(subscriber.held_count()) + " frames");
}

// A subscriber that keeps up: one frame is published, then read.
void BM_SubscriberNext(benchmark::State &state, Delivery delivery) {
    guarded(state, [&] {
        Publisher publisher(host_publisher_options(8, 1, 1));
        Subscriber subscriber(subscriber_options(publisher, delivery));
        int64_t pts = 0;
        for (auto _ : state) {
            uint64_t seq = publisher.publish(publisher.loan(), 0, ++pts, nullptr, 0);
            if (!timed_next(state, subscriber, seq)) break;
        }
        check_nothing_held(state, subscriber);
        state.SetItemsProcessed(state.iterations());
    });
}
BENCHMARK_CAPTURE(BM_SubscriberNext, latest, Delivery::Latest)->UseManualTime();
BENCHMARK_CAPTURE(BM_SubscriberNext, sequential, Delivery::Sequential)->UseManualTime();

// A Sequential subscriber working through a backlog: slots - 3 frames are
// published (few enough that all stay in the pool, even with a slot claimed
// ahead), then read one next() at a time.
void BM_SubscriberDrainSequential(benchmark::State &state) {
    constexpr uint32_t kSlots = 64;
    constexpr uint64_t kBacklog = kSlots - 3;
    guarded(state, [&] {
        Publisher publisher(host_publisher_options(kSlots, 1, 1));
        Subscriber subscriber(subscriber_options(publisher, Delivery::Sequential));
        uint64_t expected = 1;
        for (auto _ : state) {
            if (expected > publisher.last_seq()) {
                for (uint64_t i = 0; i < kBacklog; ++i) {
                    publisher.publish(publisher.loan(), 0, static_cast<int64_t>(i), nullptr, 0);
                }
            }
            if (!timed_next(state, subscriber, expected)) break;
            ++expected;
        }
        check_nothing_held(state, subscriber);
        state.SetItemsProcessed(state.iterations());
    });
}
BENCHMARK(BM_SubscriberDrainSequential)->UseManualTime();

}  // namespace
}  // namespace cuframes_bench
