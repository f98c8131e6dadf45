#include "producer/waker.hpp"

#include <utility>

#include "base/futex.hpp"

namespace cuframes {

Waker::Waker(std::function<void()> job) : job_(std::move(job)) {
    thread_ = std::thread([this] { run(); });
}

Waker::~Waker() {
    stopping_.store(true, std::memory_order_seq_cst);
    requests_.fetch_add(1, std::memory_order_seq_cst);
    thread_futex_wake_one(&requests_);  // best effort: the backstop ends the sleep anyway
    thread_.join();
}

int Waker::notify() noexcept {
    // seq_cst add, then seq_cst load of sleeping_: the notifier half of a
    // Dekker pair with run(), so either we see the thread asleep and wake it,
    // or it sees the new count before it sleeps.
    requests_.fetch_add(1, std::memory_order_seq_cst);
    if (!sleeping_.load(std::memory_order_seq_cst)) return 0;
    return thread_futex_wake_one(&requests_);
}

void Waker::run() noexcept {
    uint32_t handled = requests_.load(std::memory_order_acquire);
    while (!stopping_.load(std::memory_order_acquire)) {
        sleeping_.store(true, std::memory_order_seq_cst);
        if (requests_.load(std::memory_order_seq_cst) == handled) {
            // Errors (only EFAULT/EINVAL/ENOSYS, impossible here) end in the
            // same place as a wake-up: the loop re-reads the count.
            thread_futex_wait(&requests_, handled, kBackstopNs);
        }
        sleeping_.store(false, std::memory_order_relaxed);
        if (stopping_.load(std::memory_order_acquire)) break;
        uint32_t now = requests_.load(std::memory_order_acquire);
        if (now == handled) continue;  // the backstop's timeout, or a spurious wake-up: nothing asked
        handled = now;
        job_();
    }
}

}  // namespace cuframes
