// What every micro-benchmark binary shares: failing loudly, a private folder
// for the keys it publishes, and the host-backend stream they all use.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <exception>
#include <functional>
#include <string>

#include "cuframes/error.hpp"
#include "cuframes/publisher.hpp"
#include "cuframes/subscriber.hpp"

namespace cuframes_bench {

// A small frame (4 KiB of gray8, one page per slot), so that what is measured
// is the protocol and not a memcpy.
constexpr cuframes::PixelFormat kFrameFormat = CUFRAMES_FORMAT_GRAY8;
constexpr uint32_t kFrameWidth = 64;
constexpr uint32_t kFrameHeight = 64;

// Marks the benchmark failed (SkipWithError) and counts the failure, so that
// main() exits non-zero: benchmark 1.7.1 itself exits 0 after a benchmark
// skipped with an error. Call this, never state.SkipWithError() directly.
// Inside the timing loop, `break` right after it.
void fail(benchmark::State &state, const std::string &why);
int failure_count() noexcept;

// "what: message (status N, errno M)" for an exception caught by guarded().
std::string describe(const std::exception &error);

// Runs `body`, turning an exception into a failure of this benchmark: the
// binary goes on with the others and exits non-zero at the end, rather than
// terminating on the first one.
template <typename Body>
void guarded(benchmark::State &state, Body &&body) {
    try {
        body();
    } catch (const std::exception &error) {
        fail(state, describe(error));
    }
}

// The folder every key of this process lives in (socket and lock files), so
// that benchmarks never meet a real producer's keys. main() makes it before
// the first benchmark and removes it after the last.
void make_scratch_dir();
void remove_scratch_dir() noexcept;
const std::string &scratch_dir() noexcept;
// A key used by nobody else: role plus a per-process counter.
std::string fresh_key(const char *role);

// A host-backend publisher of the benchmark frame on a fresh key.
cuframes::PublisherOptions host_publisher_options(uint32_t slots, uint32_t max_subscribers, uint32_t max_held);
// A subscriber of `publisher`'s key that gives up on connecting after 5 s.
cuframes::SubscriberOptions subscriber_options(const cuframes::Publisher &publisher, cuframes::Delivery delivery);

// Polls `done` until it returns true (true) or timeout_ms passes (false).
bool wait_until(const std::function<bool()> &done, int timeout_ms);

// How long a benchmark waits for the producer's server thread (a subscriber
// to be counted or dropped) before it fails instead of hanging.
constexpr int kServerTimeoutMs = 5000;

}  // namespace cuframes_bench
