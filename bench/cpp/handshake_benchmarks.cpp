// A whole connection: a cuframes::Subscriber connects to a live host-backend
// Publisher (socket connect, hello, welcome, 2 + slots descriptors, every
// check, the mappings, the watcher thread), then closes. Time per connection,
// by the wall clock; CPU time is the whole process's, so it includes the
// publisher's server thread.
//
// One seat (max_subscribers 1): between connections (untimed) the benchmark
// waits until the publisher has dropped the last one, so each connection
// meets an idle producer. 4 slots is the smallest pool that allows that seat
// with room for a slot claimed ahead.
#include <benchmark/benchmark.h>

#include <string>

#include "bench_support.hpp"

namespace cuframes_bench {
namespace {

using cuframes::Publisher;
using cuframes::Subscriber;

void BM_SubscriberConnectClose(benchmark::State &state) {
    const auto slots = static_cast<uint32_t>(state.range(0));
    guarded(state, [&] {
        Publisher publisher(host_publisher_options(slots, 1, 1));
        const cuframes::SubscriberOptions options = subscriber_options(publisher, cuframes::Delivery::Latest);
        for (auto _ : state) {
            {
                Subscriber subscriber(options);
                if (subscriber.slot_count() != slots) {
                    fail(state, "the subscriber sees " + std::to_string(subscriber.slot_count()) + " slots, expected " +
                                    std::to_string(slots));
                    break;
                }
                subscriber.close();
            }
            state.PauseTiming();
            bool dropped = wait_until([&] { return publisher.subscriber_count() == 0; }, kServerTimeoutMs);
            state.ResumeTiming();
            if (!dropped) {
                fail(state, "the publisher still counts " + std::to_string(publisher.subscriber_count()) +
                                " subscribers " + std::to_string(kServerTimeoutMs) + " ms after the last one closed");
                break;
            }
        }
        state.SetItemsProcessed(state.iterations());
    });
}
BENCHMARK(BM_SubscriberConnectClose)
    ->ArgName("slots")
    ->Arg(4)
    ->Arg(16)
    ->Arg(128)
    ->UseRealTime()
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace cuframes_bench
