#pragma once

#include <time.h>

#include <cstdint>

namespace cuframes {

// CLOCK_MONOTONIC in nanoseconds: the same clock in every process of one
// host (containers included), so subscribers can compute latency from it.
inline uint64_t monotonic_ns() noexcept {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<uint64_t>(now.tv_sec) * 1000000000ull + static_cast<uint64_t>(now.tv_nsec);
}

}  // namespace cuframes
