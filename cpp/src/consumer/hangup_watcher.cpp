#include "consumer/hangup_watcher.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

namespace cuframes {

void HangupWatcher::start(int socket, const std::string &what, std::function<void()> mark_gone,
                          std::function<void()> wake_waiters) noexcept {
    try {
        what_ = what;
        mark_gone_ = std::move(mark_gone);
        wake_waiters_ = std::move(wake_waiters);
        stop_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        if (!stop_) {
            std::fprintf(stderr, "cuframes: eventfd failed (%s); %s falls back to polling for its peer\n",
                         std::strerror(errno), what.c_str());
            return;
        }
        thread_ = std::thread([this, socket] { watch(socket); });
    } catch (const std::exception &error) {  // std::system_error, or std::bad_alloc
        std::fprintf(stderr, "cuframes: no watcher thread (%s); %s falls back to polling for its peer\n", error.what(),
                     what.c_str());
    }
}

HangupWatcher::~HangupWatcher() {
    if (!thread_.joinable()) return;
    uint64_t one = 1;
    if (::write(stop_.get(), &one, sizeof one) != sizeof one) {
        // Without the signal the thread would block until the peer hangs up.
        std::fprintf(stderr, "cuframes: cannot stop the watcher of %s: %s\n", what_.c_str(), std::strerror(errno));
        thread_.detach();
        return;
    }
    thread_.join();
}

void HangupWatcher::watch(int socket) noexcept {
    pollfd waiters[2] = {{socket, POLLIN | POLLRDHUP, 0}, {stop_.get(), POLLIN, 0}};
    while (true) {
        int ready = ::poll(waiters, 2, -1);
        if (ready < 0) {
            if (errno == EINTR) continue;
            std::fprintf(stderr, "cuframes: poll in the watcher of %s failed: %s\n", what_.c_str(),
                         std::strerror(errno));
            break;  // treated as a hang-up: better a DisconnectedError than a waiter that never learns
        }
        if (waiters[1].revents != 0) return;  // the owner is going away
        if (waiters[0].revents != 0) break;
    }
    mark_gone_();
    // FUTEX_WAKE leaves the word unchanged, so a waiter that checked "gone"
    // just before mark_gone and enters FUTEX_WAIT just after would miss a
    // single wake. Waking again a little later catches it; the waiters'
    // bounded sleep is the last resort.
    for (auto pause : {std::chrono::milliseconds(0), std::chrono::milliseconds(1), std::chrono::milliseconds(10)}) {
        std::this_thread::sleep_for(pause);
        wake_waiters_();
    }
}

bool drain_notification_bytes(int socket, const std::function<void()> &mark_gone) noexcept {
    while (true) {
        // One record per call (SOCK_SEQPACKET); a longer one than ours is cut,
        // and descriptors a producer might attach are closed by the kernel
        // (no room for them): a hostile producer cannot fill our table.
        char bytes[64];
        ssize_t got = ::recv(socket, bytes, sizeof bytes, MSG_DONTWAIT);
        if (got > 0) continue;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;  // drained
        if (got < 0 && errno == EINTR) continue;
        mark_gone();  // 0: the producer hung up; anything else: the socket is no use any more
        return false;
    }
}

bool socket_hung_up(int socket, bool peer_writes) noexcept {
    // POLLHUP and POLLERR come whatever is asked.
    const short events = peer_writes ? POLLRDHUP : POLLIN | POLLRDHUP;
    pollfd waiter{socket, events, 0};
    int ready = ::poll(&waiter, 1, 0);
    // A failed poll (EINTR, or worse) says nothing about the peer: the next check tries again.
    return ready > 0 && (waiter.revents & (events | POLLHUP | POLLERR));
}

}  // namespace cuframes
