// A helper thread that runs a job each time it is notified: the producer's
// way to move work whose cost grows with the subscriber count (the futex
// wake-up of every sleeping subscriber, the scan of their leases) off the
// publish path. notify() costs an atomic add, plus one FUTEX_WAKE of this
// thread when it is asleep; notifications that arrive while the job runs
// fold into one more run.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>

namespace cuframes {

class Waker {
public:
    // Starts the thread. `job` must not throw; it runs on the waker thread only.
    explicit Waker(std::function<void()> job);
    // Stops and joins the thread (a job in progress finishes first).
    ~Waker();
    Waker(const Waker &) = delete;
    Waker &operator=(const Waker &) = delete;

    // Asks for one more run of the job. Never blocks. Returns 0, or the errno
    // of a failed FUTEX_WAKE (then the thread still runs within kBackstopNs).
    int notify() noexcept;

    // The thread re-checks for requests this often even without a wake-up: a
    // backstop against one lost to a failed syscall.
    static constexpr int64_t kBackstopNs = 100'000'000;

private:
    void run() noexcept;

    std::function<void()> job_;
    std::atomic<uint32_t> requests_{0};  // bumped by notify(); the futex word
    std::atomic<bool> sleeping_{false};
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

}  // namespace cuframes
