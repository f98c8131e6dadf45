// The consumer side: connects to a producer, imports its slots read-only and
// borrows frames zero-copy.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "cuframes/format.hpp"
#include "cuframes/types.hpp"

namespace cuframes {

struct SubscriberOptions {
    std::string key;
    std::string dir;                // "" means default_dir()
    int connect_timeout_ms = 5000;  // wait for a producer that is not up yet; -1 forever
    Delivery delivery = Delivery::Latest;
    // Follow the key across producer restarts: when the producer closes or
    // dies, next() waits (within its timeout) for the next producer of the key,
    // imports its slots and carries on; the first frame from it has
    // `reconnected` set and `missed` counts the frames lost in between. The
    // new producer must publish the same backend, format and size (FORMAT
    // otherwise). Without it, next() throws DISCONNECTED after a clean close,
    // PRODUCER_DIED when the producer died without closing its stream.
    bool reconnect = false;
    // How long next() spins on the shared sequence before it sleeps on the
    // futex, in nanoseconds: 0 sleeps at once (no CPU while idle); -1 spins
    // until the frame comes or the timeout ends. Spinning trades a core for
    // latency (a sleeping waiter pays the kernel's wake-up, a spinning one a
    // cache-line hand-off); a budget a little longer than the frame period
    // keeps a busy stream's subscriber spinning and an idle one asleep.
    int64_t spin_ns = 0;
    // For event loops (asyncio, epoll, select) that wait for frames without a
    // thread: the producer writes a byte on this subscriber's socket after each
    // frame, and notify_fd() is a descriptor to poll, with try_next() to call
    // when it is readable. Costs the producer one non-blocking send per frame
    // for each such subscriber; subscribers without it cost nothing more.
    bool notify = false;
};

struct FrameInfo {
    uint64_t seq = 0;
    int64_t pts = 0;
    uint64_t timestamp_ns = 0;  // CLOCK_MONOTONIC at publish
    uint64_t missed = 0;        // frames skipped just before this one
    uint32_t slot = 0;
    uint64_t data = 0;  // read-only view: CUdeviceptr on cuda, CPU address on host
    uint64_t size = 0;
    uint64_t epoch = 0;        // random id of the producer instance that published it
    bool reconnected = false;  // first frame from a restarted producer (SubscriberOptions::reconnect)
};

// A frame held zero-copy. While any FrameLease for it is alive the producer
// will not write its slot. Destroying it releases the slot; it stays valid
// even after the Subscriber is closed or the producer died. Only
// Subscriber::next() makes one.
class CUFRAMES_API FrameLease {
public:
    ~FrameLease();
    FrameLease(const FrameLease &) = delete;
    FrameLease &operator=(const FrameLease &) = delete;

    const FrameInfo &info() const noexcept { return info_; }
    const FrameLayout &layout() const noexcept;
    // The facts of the producer instance that published this frame.
    const StreamFacts &facts() const noexcept;
    Backend backend() const noexcept;
    int device() const noexcept;
    // A private copy, taken while the lease was established.
    const std::string &metadata() const noexcept { return metadata_; }
    // Copies the frame packed (no row padding) into dst and waits for the copy.
    void copy_to(uint64_t dst, uint64_t dst_size, MemoryKind dst_kind, StreamHandle stream) const;

private:
    friend class Subscriber;
    struct Hold;  // the imported pool and the lease entry (internal)
    FrameLease(std::unique_ptr<Hold> hold, const FrameInfo &info, std::string metadata);

    std::unique_ptr<Hold> hold_;
    FrameInfo info_;
    std::string metadata_;
};

// next() and read_into() may be called from several threads; they take turns.
// close() may come from any thread: a next() waiting meanwhile ends with STATE
// at once (at worst within 250 ms), and frames still held stay readable.
class CUFRAMES_API Subscriber {
public:
    explicit Subscriber(const SubscriberOptions &options);
    ~Subscriber();
    Subscriber(Subscriber &&) noexcept;
    Subscriber &operator=(Subscriber &&) noexcept;
    Subscriber(const Subscriber &) = delete;
    Subscriber &operator=(const Subscriber &) = delete;

    // The next frame. Delivery::Latest: the newest frame newer than the last
    // one returned. Delivery::Sequential: the one right after it, or the oldest
    // still in the pool. FrameInfo::missed counts the frames skipped.
    // timeout_ms: -1 forever, 0 poll. Throws TIMEOUT, DISCONNECTED (the
    // producer closed its stream: the normal end) or PRODUCER_DIED (it died
    // without closing it), neither when reconnecting, LIMIT (already holding
    // max_held frames) or STATE (closed).
    std::shared_ptr<FrameLease> next(int timeout_ms);
    // The next frame if one is ready now, else nullptr: next(0) without the
    // TIMEOUT. With notify, it also reads the notification bytes, so call it
    // each time notify_fd() is readable, until it returns nullptr; then wait
    // for notify_fd() again. Throws as next() does otherwise. With reconnect,
    // it takes a successor that is up already.
    std::shared_ptr<FrameLease> try_next();
    // With notify: an epoll descriptor, readable when try_next() may have a
    // frame or the producer has gone (try_next() then throws DISCONNECTED or
    // PRODUCER_DIED; with reconnect, it is readable again when a producer of
    // the key may have come back). The same descriptor for the subscriber's
    // life, across reconnects; owned by it. -1 without notify.
    int notify_fd() const noexcept;
    // next(), a packed copy into dst that is complete on return, then release.
    FrameInfo read_into(int timeout_ms, uint64_t dst, uint64_t dst_size, MemoryKind dst_kind, StreamHandle stream);
    // Drops the connection. Frames still held stay readable. Idempotent.
    void close() noexcept;

    bool closed() const noexcept;
    const std::string &key() const noexcept;
    const std::string &socket_path() const noexcept;
    Backend backend() const noexcept;
    int device() const noexcept;  // local CUDA ordinal of the producer's GPU, -1 on host
    const FrameLayout &layout() const noexcept;
    // The current producer's facts (they may change when reconnect follows a restart).
    StreamFacts facts() const;
    uint32_t slot_count() const noexcept;
    uint64_t slot_size() const noexcept;
    uint32_t max_held() const noexcept;
    uint32_t held_count() const noexcept;
    uint64_t last_seq() const noexcept;  // last frame returned, 0 before the first
    uint64_t missed_total() const noexcept;
    uint64_t epoch() const noexcept;  // random id of the current producer instance
    Delivery delivery() const noexcept;
    bool reconnect() const noexcept;
    uint64_t reconnect_count() const noexcept;  // producer restarts followed so far

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace cuframes
