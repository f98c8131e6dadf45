// Publisher::acquire + publish on the host backend, with 0, 1 or 16
// subscribers connected (in-process cuframes::Subscriber objects on the same
// key), each holding a frame or not: the producer's cost per frame through
// the public API. That is the ring (ring_benchmarks.cpp), plus the server's
// scan of every lease page under its mutex, the clock and the FUTEX_WAKE.
// In-process subscribers sit on the same cores' caches, so these are lower
// bounds for subscribers in other processes (bench/harness measures those).
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "bench_support.hpp"
#include "protocol/ring.hpp"

namespace cuframes_bench {
namespace {

using cuframes::Publisher;
using cuframes::Subscriber;

constexpr uint32_t kMaxSubscribers = 16;
// One slot per held frame, the newest, the one being written, and one more
// that the publisher may claim ahead: the same pool for every case, so that
// only the audience changes.
constexpr uint32_t kSlots = kMaxSubscribers + 3;

// The connected subscribers and the frames they hold.
struct Audience {
    std::vector<std::unique_ptr<Subscriber>> subscribers;
    std::vector<std::shared_ptr<cuframes::FrameLease>> held;
    cuframes::SlotMask held_slots;
};

// Connects `count` subscribers; with `holding`, each then takes a different
// frame and keeps it, so that claim() has to step over `count` leased slots.
Audience connect_audience(Publisher &publisher, uint32_t count, bool holding) {
    Audience audience;
    for (uint32_t i = 0; i < count; ++i)
        audience.subscribers.push_back(
            std::make_unique<Subscriber>(subscriber_options(publisher, cuframes::Delivery::Latest)));
    if (!wait_until([&] { return publisher.subscriber_count() == count; }, kServerTimeoutMs))
        throw cuframes::Error(CUFRAMES_ERR_STATE, "the publisher counts " +
                                                      std::to_string(publisher.subscriber_count()) +
                                                      " subscribers, expected " + std::to_string(count));
    if (!holding) return audience;
    for (auto &subscriber : audience.subscribers) {
        publisher.publish(publisher.loan(), 0, 0, nullptr, 0);
        audience.held.push_back(subscriber->next(0));
        audience.held_slots.set(audience.held.back()->info().slot);
    }
    if (audience.held_slots.count() != count)
        throw cuframes::Error(CUFRAMES_ERR_STATE, std::to_string(count) + " subscribers hold only " +
                                                      std::to_string(audience.held_slots.count()) + " distinct slots");
    return audience;
}

// One frame per iteration: loan, then (with `copy`) copy_from of
// a packed 4 KiB frame, then publish.
void run_publish(benchmark::State &state, bool copy) {
    const auto subscribers = static_cast<uint32_t>(state.range(0));
    const bool holding = state.range(1) != 0;
    guarded(state, [&] {
        Publisher publisher(host_publisher_options(kSlots, kMaxSubscribers, 1));
        Audience audience = connect_audience(publisher, subscribers, holding);
        std::vector<uint8_t> frame(publisher.layout().packed_bytes, 0x5a);
        const uint64_t first = publisher.last_seq();
        int64_t pts = 0;
        for (auto _ : state) {
            cuframes::WritableFrame slot = publisher.loan();
            if (audience.held_slots.test(slot.index())) {
                fail(state, "loan() returned slot " + std::to_string(slot.index()) + ", which a subscriber holds");
                break;  // the frame is dropped unpublished
            }
            if (copy)
                slot.copy_from(reinterpret_cast<uint64_t>(frame.data()), frame.size(), cuframes::MemoryKind::Host, 0);
            benchmark::DoNotOptimize(publisher.publish(std::move(slot), 0, ++pts, nullptr, 0));
        }
        if (state.error_occurred()) return;
        uint64_t published = publisher.last_seq() - first;
        if (published != static_cast<uint64_t>(state.iterations()) || publisher.subscriber_count() != subscribers)
            fail(state, std::to_string(published) + " frames published in " + std::to_string(state.iterations()) +
                            " iterations, " + std::to_string(publisher.subscriber_count()) + " subscribers left of " +
                            std::to_string(subscribers));
        state.SetItemsProcessed(state.iterations());
        if (copy) state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(frame.size()));
    });
}

void BM_PublisherAcquirePublish(benchmark::State &state) { run_publish(state, false); }
BENCHMARK(BM_PublisherAcquirePublish)
    ->ArgNames({"subscribers", "holding"})
    ->Args({0, 0})
    ->Args({1, 0})
    ->Args({1, 1})
    ->Args({16, 0})
    ->Args({16, 1});

void BM_PublisherCopyPublish(benchmark::State &state) { run_publish(state, true); }
BENCHMARK(BM_PublisherCopyPublish)->ArgNames({"subscribers", "holding"})->Args({0, 0})->Args({1, 0})->Args({16, 1});

}  // namespace
}  // namespace cuframes_bench
