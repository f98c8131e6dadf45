#include "bench_support.hpp"

#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <thread>
#include <vector>

namespace cuframes_bench {
namespace {

std::atomic<int> failures{0};
std::string scratch;

}  // namespace

void fail(benchmark::State &state, const std::string &why) {
    failures.fetch_add(1, std::memory_order_relaxed);
    // Also on stderr: the console reporter prints the message, a JSON file
    // only records it.
    std::fprintf(stderr, "benchmark failed: %s\n", why.c_str());
    state.SkipWithError(why.c_str());
}

int failure_count() noexcept { return failures.load(std::memory_order_relaxed); }

std::string describe(const std::exception &error) {
    std::string text = error.what();
    if (const auto *core = dynamic_cast<const cuframes::Error *>(&error)) {
        text += std::string(" (") + cuframes_status_name(core->status());
        if (core->os_errno() != 0)
            text += ", errno " + std::to_string(core->os_errno()) + " " + std::strerror(core->os_errno());
        text += ")";
    }
    return text;
}

void make_scratch_dir() {
    const char *tmp = std::getenv("TMPDIR");
    // A socket path must fit in 108 bytes: keep the folder short.
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/cuframes-bench.XXXXXX";
    std::vector<char> path(pattern.begin(), pattern.end());
    path.push_back('\0');
    if (::mkdtemp(path.data()) == nullptr) cuframes::throw_os_error("mkdtemp " + pattern);
    scratch = path.data();
}

void remove_scratch_dir() noexcept {
    if (scratch.empty()) return;
    std::error_code error;
    std::filesystem::remove_all(scratch, error);
    if (error) std::fprintf(stderr, "cannot remove %s: %s\n", scratch.c_str(), error.message().c_str());
    scratch.clear();
}

const std::string &scratch_dir() noexcept { return scratch; }

std::string fresh_key(const char *role) {
    static std::atomic<uint64_t> counter{0};
    return std::string(role) + "-" + std::to_string(counter.fetch_add(1, std::memory_order_relaxed));
}

cuframes::PublisherOptions host_publisher_options(uint32_t slots, uint32_t max_subscribers, uint32_t max_held) {
    cuframes::PublisherOptions options;
    options.key = fresh_key("bench");
    options.dir = scratch_dir();
    options.width = kFrameWidth;
    options.height = kFrameHeight;
    options.format = kFrameFormat;
    options.slots = slots;
    options.max_subscribers = max_subscribers;
    options.max_held = max_held;
    options.backend = cuframes::Backend::Host;
    return options;
}

cuframes::SubscriberOptions subscriber_options(const cuframes::Publisher &publisher, cuframes::Delivery delivery) {
    cuframes::SubscriberOptions options;
    options.key = publisher.key();
    options.dir = publisher.dir();
    options.connect_timeout_ms = kServerTimeoutMs;
    options.delivery = delivery;
    return options;
}

bool wait_until(const std::function<bool()> &done, int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        // The server thread needs the CPU more than we do (2-vCPU machines).
        std::this_thread::yield();
    }
    return true;
}

}  // namespace cuframes_bench
