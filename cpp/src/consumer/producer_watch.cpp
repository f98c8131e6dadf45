#include "consumer/producer_watch.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "base/futex.hpp"
#include "cuframes/error.hpp"
#include "protocol/shm_layout.hpp"

namespace cuframes {
namespace {

// Without a watcher thread, a sleeping subscriber wakes this often to check
// that the producer is alive: a crashed producer cannot bump the futex word.
constexpr int64_t kLivenessCheckNs = 20'000'000;
// With a watcher, the longest a subscriber sleeps before re-checking anyway:
// a backstop for a wake-up that raced with the check before the sleep
// (HangupWatcher::watch, close()). Four wake-ups a second cost no measurable CPU.
constexpr int64_t kWakeBackstopNs = 250'000'000;

}  // namespace

void ProducerWatch::start(int socket, const std::atomic<uint32_t> &state, const std::atomic<uint32_t> &wake_word,
                          bool notify) noexcept {
    state_ = &state;
    wake_word_ = &wake_word;
    socket_ = socket;
    notify_ = notify;
    // A hundred subscribers in one event loop are one thread, not a hundred and
    // one. A blocking wait on such a subscriber still learns of a hang-up
    // within kLivenessCheckNs, through gone().
    if (notify) return;
    // release: a waiter that sees gone_ also sees everything before it.
    watcher_.start(
        socket, what_, [this] { gone_.store(true, std::memory_order_release); }, [this] { wake_waiters(); });
}

bool ProducerWatch::said_gone() noexcept {
    // acquire: pairs with the watcher's (or drain_notifications') release store.
    if (gone_.load(std::memory_order_acquire)) return true;
    // acquire: pairs with the producer's release store when it closes
    // (ProducerRing::close(), PacketRingWriter::close()).
    if (state_->load(std::memory_order_acquire) != static_cast<uint32_t>(StreamState::Running)) {
        gone_.store(true, std::memory_order_relaxed);
        return true;
    }
    return false;
}

bool ProducerWatch::gone() noexcept {
    if (said_gone()) return true;
    if (watched()) return false;  // the watcher would have said so
    // No watcher: look at the socket ourselves.
    if (socket_hung_up(socket_, notify_)) gone_.store(true, std::memory_order_relaxed);
    return gone_.load(std::memory_order_relaxed);
}

bool ProducerWatch::closed() const noexcept {
    // acquire: pairs with the producer's release store when it closes.
    return state_->load(std::memory_order_acquire) == static_cast<uint32_t>(StreamState::Closed);
}

void ProducerWatch::wake_waiters() noexcept {
    // FUTEX_WAKE writes nothing, so it works on our read-only mapping.
    auto *word = const_cast<std::atomic<uint32_t> *>(wake_word_);
    if (int err = futex_wake_all(word); err != 0)
        std::fprintf(stderr, "cuframes: futex wake on %s failed: %s\n", what_.c_str(), std::strerror(err));
}

bool ProducerWatch::drain_notifications() noexcept {
    return drain_notification_bytes(socket_, [this] { gone_.store(true, std::memory_order_release); });
}

void ProducerWatch::sleep(uint32_t seen, uint64_t now_ns, uint64_t deadline_ns) const {
    int64_t limit = watched() ? kWakeBackstopNs : kLivenessCheckNs;
    int64_t sleep_ns = static_cast<int64_t>(std::min<uint64_t>(deadline_ns - now_ns, static_cast<uint64_t>(limit)));
    if (int err = futex_wait(wake_word_, seen, sleep_ns); err != 0) throw_os_error("futex wait on " + what_, err);
}

}  // namespace cuframes
