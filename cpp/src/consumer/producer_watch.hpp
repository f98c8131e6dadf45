// How a subscriber learns that its producer has gone, and how it sleeps until
// there is news. The frame subscriber's Connection and the packet subscriber's
// attachment share it; they differ only in where the producer's state and
// wake words live (the shared header, the packet ring's header).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <utility>

#include "consumer/hangup_watcher.hpp"

namespace cuframes {

// How long a producer has to answer a subscriber's hello: it answers at once
// unless it is wedged, and a wedged producer must not hang the subscriber.
constexpr int kHandshakeTimeoutMs = 5000;

class ProducerWatch {
public:
    // `what` names the stream in messages ("'cam'", "the packets of 'cam'").
    explicit ProducerWatch(std::string what) : what_(std::move(what)) {}
    // Starts the watcher thread on `socket` (see HangupWatcher). `state` and
    // `wake_word` are the producer's, in memory that stays mapped for this
    // object's life, as does the socket. Never throws: without a thread,
    // gone() looks at the socket itself and sleeps are shorter.
    // `notify`: the producer writes a byte on the socket after each frame or
    // packet (kHelloFlagNotify) for an event loop that polls the socket, and
    // that loop sees the hang-up there too: no watcher thread then.
    void start(int socket, const std::atomic<uint32_t> &state, const std::atomic<uint32_t> &wake_word,
               bool notify = false) noexcept;
    // Stops the watcher before anything it touches goes.
    ~ProducerWatch() = default;
    ProducerWatch(const ProducerWatch &) = delete;
    ProducerWatch &operator=(const ProducerWatch &) = delete;

    // True once the producer closed the stream or its socket hung up.
    bool gone() noexcept;
    // gone() without a look at the socket: what the watcher, drain_notifications()
    // and the producer's state have said. For a notify subscriber's poll, which
    // reads the socket itself: one syscall per empty poll instead of three.
    bool said_gone() noexcept;
    // True when the producer marked its stream closed: a clean close, where a
    // hang-up alone means it died. A closing producer marks its state before
    // it hangs up, so once gone() is true this says which.
    bool closed() const noexcept;
    // True when a watcher thread wakes waiters as soon as the producer goes,
    // so they may sleep long; false if it could not be started (then sleepers
    // wake now and then to call gone()).
    bool watched() const noexcept { return watcher_.running(); }
    // FUTEX_WAKE on the wake word: ends every sleep in progress, so that the
    // sleepers re-check (used by close() and the watcher).
    void wake_waiters() noexcept;
    // Sleeps while the wake word still holds `seen` (loaded with acquire
    // before the caller last looked for news), until deadline_ns (monotonic)
    // at the latest, and never longer than a backstop. Throws what a failed
    // futex wait says.
    void sleep(uint32_t seen, uint64_t now_ns, uint64_t deadline_ns) const;
    // notify: reads the bytes queued on the socket, without blocking. False,
    // with gone() true from then on, when the producer hung up.
    bool drain_notifications() noexcept;

private:
    std::string what_;
    const std::atomic<uint32_t> *state_ = nullptr;
    const std::atomic<uint32_t> *wake_word_ = nullptr;
    int socket_ = -1;
    bool notify_ = false;
    std::atomic<bool> gone_{false};
    HangupWatcher watcher_;  // last: stopped before anything it touches goes
};

}  // namespace cuframes
