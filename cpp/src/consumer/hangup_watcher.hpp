// A thread blocked in poll() on a connected socket, for peers that never
// write after the handshake: the socket becomes readable only when the other
// side hangs up (at close, or when the kernel tears down a killed process).
// Waiters asleep on a futex cannot see that themselves; the callback wakes them.
#pragma once

#include <functional>
#include <string>
#include <thread>

#include "base/unique_fd.hpp"

namespace cuframes {

class HangupWatcher {
public:
    HangupWatcher() noexcept = default;
    // Starts watching `socket` (owned by the caller, open for the watcher's
    // life). When it hangs up (or poll fails), the watcher thread calls
    // mark_gone once, then wake_waiters three times over about 10 ms.
    // `what` names the peer in messages ("'cam'"). Never throws: without a
    // thread, running() is false and the caller must poll for the hang-up itself.
    void start(int socket, const std::string &what, std::function<void()> mark_gone,
               std::function<void()> wake_waiters) noexcept;
    // Stops the thread (without calling on_hangup if it has not run).
    ~HangupWatcher();
    HangupWatcher(const HangupWatcher &) = delete;
    HangupWatcher &operator=(const HangupWatcher &) = delete;

    bool running() const noexcept { return thread_.joinable(); }

private:
    void watch(int socket) noexcept;

    std::function<void()> mark_gone_;
    std::function<void()> wake_waiters_;

    std::string what_;
    UniqueFd stop_;  // eventfd that ends the thread
    std::thread thread_;
};

// True when a peer that never writes after the handshake has hung up: its
// socket is readable or in error. `peer_writes`: the peer writes
// notification bytes (kHelloFlagNotify), so readable no longer means hung up;
// only POLLRDHUP and POLLHUP do. For callers without a watcher thread.
bool socket_hung_up(int socket, bool peer_writes = false) noexcept;

// Reads the notification bytes a producer queued on `socket`
// (kHelloFlagNotify), without blocking. Returns false, after calling
// mark_gone, when the producer hung up (or the socket failed).
bool drain_notification_bytes(int socket, const std::function<void()> &mark_gone) noexcept;

}  // namespace cuframes
