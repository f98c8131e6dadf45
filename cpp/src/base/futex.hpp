// Cross-process futex on a word in shared memory. Not FUTEX_PRIVATE: the
// word lives in a memfd mapped by several processes (read-only in waiters,
// which the kernel allows for FUTEX_WAIT).
#pragma once

#include <atomic>
#include <cstdint>

namespace cuframes {

// Sleeps while *word == expected, at most timeout_ns (< 0: no limit).
// Returns when woken, on timeout, on a signal, or at once if the value
// differs: all of those give 0, since the caller re-reads the shared state
// anyway. Any other failure (EFAULT, EINVAL, ENOSYS) returns its errno.
int futex_wait(const std::atomic<uint32_t> *word, uint32_t expected, int64_t timeout_ns) noexcept;
// Wakes every waiter on word. Returns 0 or the errno of the failure.
int futex_wake_all(std::atomic<uint32_t> *word) noexcept;

// The same pair for a word private to this process (FUTEX_PRIVATE_FLAG:
// cheaper, no shared-mapping lookup), waking at most one thread.
int thread_futex_wait(const std::atomic<uint32_t> *word, uint32_t expected, int64_t timeout_ns) noexcept;
int thread_futex_wake_one(std::atomic<uint32_t> *word) noexcept;

}  // namespace cuframes
