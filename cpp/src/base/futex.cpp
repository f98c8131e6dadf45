#include "base/futex.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

namespace cuframes {

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));

namespace {

int wait_op(int op, const std::atomic<uint32_t> *word, uint32_t expected, int64_t timeout_ns) noexcept {
    timespec timeout{};
    timespec *timeout_ptr = nullptr;
    if (timeout_ns >= 0) {
        timeout.tv_sec = static_cast<time_t>(timeout_ns / 1000000000);
        timeout.tv_nsec = static_cast<long>(timeout_ns % 1000000000);
        timeout_ptr = &timeout;
    }
    long result = ::syscall(SYS_futex, reinterpret_cast<const uint32_t *>(word), op, expected, timeout_ptr, nullptr, 0);
    if (result == 0 || errno == EAGAIN || errno == ETIMEDOUT || errno == EINTR) return 0;
    return errno;
}

int wake_op(int op, std::atomic<uint32_t> *word, int count) noexcept {
    long result = ::syscall(SYS_futex, reinterpret_cast<uint32_t *>(word), op, count, nullptr, nullptr, 0);
    return result < 0 ? errno : 0;
}

}  // namespace

int futex_wait(const std::atomic<uint32_t> *word, uint32_t expected, int64_t timeout_ns) noexcept {
    return wait_op(FUTEX_WAIT, word, expected, timeout_ns);
}

int futex_wake_all(std::atomic<uint32_t> *word) noexcept { return wake_op(FUTEX_WAKE, word, INT_MAX); }

int thread_futex_wait(const std::atomic<uint32_t> *word, uint32_t expected, int64_t timeout_ns) noexcept {
    return wait_op(FUTEX_WAIT_PRIVATE, word, expected, timeout_ns);
}

int thread_futex_wake_one(std::atomic<uint32_t> *word) noexcept { return wake_op(FUTEX_WAKE_PRIVATE, word, 1); }

}  // namespace cuframes
