#include "cuframes/subscriber.hpp"

#include <sys/epoll.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <utility>

#include "base/clock.hpp"
#include "base/paths.hpp"
#include "consumer/connection.hpp"
#include "consumer/notifications.hpp"
#include "cuframes/error.hpp"
#include "protocol/handshake_client.hpp"
#include "protocol/ring.hpp"

namespace cuframes {
namespace {

// Tells the core a spin-wait is under way: saves power and lets a sibling
// hyper-thread run.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
}

}  // namespace

// ---- FrameLease ------------------------------------------------------------

struct CUFRAMES_HIDDEN FrameLease::Hold {
    std::shared_ptr<Connection> connection;
    uint32_t lease_index;
    Hold(std::shared_ptr<Connection> attached, uint32_t index) : connection(std::move(attached)), lease_index(index) {}
    ~Hold() { connection->release_lease_entry(lease_index); }
    Hold(const Hold &) = delete;
    Hold &operator=(const Hold &) = delete;
};

FrameLease::FrameLease(std::unique_ptr<Hold> hold, const FrameInfo &info, std::string metadata)
    : hold_(std::move(hold)), info_(info), metadata_(std::move(metadata)) {}

FrameLease::~FrameLease() = default;

const FrameLayout &FrameLease::layout() const noexcept { return hold_->connection->layout(); }
const StreamFacts &FrameLease::facts() const noexcept { return hold_->connection->description().facts; }
Backend FrameLease::backend() const noexcept { return hold_->connection->backend(); }
int FrameLease::device() const noexcept { return hold_->connection->slots().device(); }

void FrameLease::copy_to(uint64_t dst, uint64_t dst_size, MemoryKind dst_kind, StreamHandle stream) const {
    hold_->connection->slots().copy_packed_out(info_.slot, hold_->connection->layout(), dst, dst_size, dst_kind,
                                               stream);
}

// ---- Subscriber ------------------------------------------------------------

struct CUFRAMES_HIDDEN Subscriber::Impl {
    std::string key;
    std::string socket_path;
    Delivery delivery;
    bool reconnect;
    int64_t spin_ns;
    std::string dir;
    // Fixed for the subscriber's life: a restarted producer must match them.
    FrameLayout layout;
    Backend backend;
    // Per producer instance: replaced on a reconnect while accessors may read
    // them from other threads, hence relaxed atomics (they only report).
    std::atomic<int> device{-1};
    std::atomic<uint32_t> slot_count{0};
    std::atomic<uint64_t> slot_size{0};
    std::atomic<uint32_t> max_held{0};
    std::atomic<uint64_t> epoch{0};
    std::atomic<uint64_t> reconnect_count{0};

    // One next() at a time: the position below is per subscriber.
    std::mutex next_mutex;
    uint64_t next_seq = 0;  // the frame wanted next
    // Set by a reconnect, consumed by the first frame after it.
    bool reconnected_pending = false;
    uint64_t missed_across_restart = 0;
    // Written under next_mutex, read by accessors from any thread: relaxed
    // atomics, as they only report.
    std::atomic<uint64_t> last_seq{0};  // last frame returned
    std::atomic<uint64_t> missed_total{0};

    // close() may come from another thread while next() waits: next() works
    // on its own reference, and notices `closing` within one wait slice.
    mutable std::mutex connection_mutex;
    std::shared_ptr<Connection> connection;
    std::atomic<bool> closing{false};
    // The current producer's; kept after close() so that facts() keeps answering.
    mutable std::mutex facts_mutex;
    StreamFacts facts;
    // SubscriberOptions::notify: what notify_fd() hands out (under next_mutex).
    std::unique_ptr<Notifications> notifications;

    explicit Impl(const SubscriberOptions &options)
        : key(options.key), delivery(options.delivery), reconnect(options.reconnect), spin_ns(options.spin_ns) {
        validate_key(key);
        if (spin_ns < -1)
            throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "spin must be >= 0 ns, or -1 to spin until the timeout");
        if (delivery != Delivery::Latest && delivery != Delivery::Sequential)
            throw Error(CUFRAMES_ERR_INVALID_ARGUMENT,
                        "unknown delivery policy " + std::to_string(static_cast<uint32_t>(delivery)));
        if (options.connect_timeout_ms < -1)
            throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "connect timeout must be >= 0 ms, or -1 to wait forever");
        dir = resolve_dir(options.dir);
        socket_path = cuframes::socket_path(dir, key);
        const bool notify = options.notify;
        connection = attach_within(
            [&](int remaining_ms) { return std::make_shared<Connection>(key, socket_path, remaining_ms, notify); },
            options.connect_timeout_ms);
        if (notify) notifications = std::make_unique<Notifications>(key, dir, connection->socket());
        layout = connection->layout();
        backend = connection->backend();
        adopt(*connection);
        // Latest joins at the newest frame now (acquire pairs with the producer's release).
        // Sequential joins at the newest frame when the producer counted it, so it also gets
        // what was published while it imported the slots (a CUDA import takes ~100 ms).
        uint64_t latest = delivery == Delivery::Sequential
                              ? connection->joined_seq()
                              : connection->header().latest_seq.load(std::memory_order_acquire);
        next_seq = latest == 0 ? 1 : latest;
    }

    // Takes the per-instance facts of a (new) connection.
    void adopt(const Connection &attached) {
        device.store(attached.slots().device(), std::memory_order_relaxed);
        slot_count.store(attached.description().slot_count, std::memory_order_relaxed);
        slot_size.store(attached.description().slot_size, std::memory_order_relaxed);
        max_held.store(attached.description().max_held, std::memory_order_relaxed);
        epoch.store(attached.description().epoch, std::memory_order_relaxed);
        std::lock_guard<std::mutex> guard(facts_mutex);
        facts = attached.description().facts;
    }

    std::shared_ptr<Connection> current_connection() const {
        std::lock_guard<std::mutex> guard(connection_mutex);
        return connection;
    }

    void close() noexcept {
        std::shared_ptr<Connection> attached;
        {
            std::lock_guard<std::mutex> guard(connection_mutex);
            attached = std::move(connection);
            // relaxed: the mutex (for a reconnect about to install a
            // connection) and the futex wake below (for a waiter) publish it.
            closing.store(true, std::memory_order_relaxed);
        }
        if (attached) attached->wake_waiters();  // a next() waiting now re-checks and sees `closing`
        // Dropping our reference: the last frame held, or a next() in progress, unmaps.
    }

    std::shared_ptr<FrameLease> next(int timeout_ms) {
        if (timeout_ms < -1)
            throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "timeout must be >= 0 ms, or -1 to wait forever");
        std::lock_guard<std::mutex> guard(next_mutex);
        return next_locked(timeout_ms);
    }

    std::shared_ptr<FrameLease> try_next() {
        std::lock_guard<std::mutex> guard(next_mutex);
        if (auto frame = poll_locked()) return frame;
        if (!notifications) return nullptr;
        // Read the bytes first, look again after: a frame announced after this
        // look writes its byte after it, so the descriptor is readable again.
        std::shared_ptr<Connection> attached = current_connection();
        if (attached && !attached->drain_notifications() && reconnect)
            notifications->wait_for_successor();  // the dead socket would stay readable
        notifications->drain_folder_events();
        return poll_locked();
    }

    // next(0), without an exception when nothing is new (the common case of a poll).
    // A notify subscriber learns of a hang-up when try_next() reads its socket, so
    // here it looks no further than what is known already.
    std::shared_ptr<FrameLease> poll_locked() {
        std::shared_ptr<Connection> attached = current_connection();
        // acquire: pairs with the producer's release store of latest_seq.
        if (attached && !closing.load(std::memory_order_relaxed) &&
            attached->header().latest_seq.load(std::memory_order_acquire) < next_seq &&
            !(notifications ? attached->producer_said_gone() : attached->producer_gone()))
            return nullptr;
        try {
            return next_locked(0);
        } catch (const Error &error) {
            if (error.status() == CUFRAMES_ERR_TIMEOUT) return nullptr;
            throw;
        }
    }

    std::shared_ptr<FrameLease> next_locked(int timeout_ms) {
        uint64_t deadline =
            timeout_ms < 0 ? UINT64_MAX : monotonic_ns() + static_cast<uint64_t>(timeout_ms) * 1'000'000ull;
        while (true) {
            std::shared_ptr<Connection> attached = current_connection();
            if (!attached) throw Error(CUFRAMES_ERR_STATE, "next() on a closed subscriber ('" + key + "')");
            uint32_t lease_index = attached->claim_lease_entry();
            if (lease_index == Connection::kNoLease)
                throw Error(CUFRAMES_ERR_LIMIT, "this subscriber of '" + key + "' already holds " +
                                                    std::to_string(attached->description().max_held) +
                                                    " frames (max_held): release one first");
            std::shared_ptr<FrameLease> frame;
            try {
                frame = borrow_next(attached, lease_index, deadline, timeout_ms);
            } catch (...) {
                attached->release_lease_entry(lease_index);
                throw;
            }
            if (frame) return frame;
            // The producer has gone and we follow the key: wait for the next one.
            attached->release_lease_entry(lease_index);
            reconnect_after(*attached, deadline, timeout_ms);
        }
    }

    // The frame to try next, or kNoSlot if none is ready: for Latest the
    // newest; for Sequential the wanted one, or the oldest still in the pool.
    std::pair<uint64_t, uint32_t> choose(const SharedHeader &header, uint32_t slots, uint64_t latest) const {
        if (delivery == Delivery::Sequential) {
            uint32_t slot = find_slot(header, next_seq);
            if (slot != kNoSlot) return {next_seq, slot};
            // The wanted frame was reused: the oldest newer one still held by a slot.
            uint64_t oldest = UINT64_MAX;
            for (uint32_t k = 0; k < slots; ++k) {
                // acquire: pairs with the release store of the slot's seq in publish().
                uint64_t seq = header.slots[k].seq.load(std::memory_order_acquire);
                if (seq >= next_seq && seq <= latest && seq < oldest) {
                    oldest = seq;
                    slot = k;
                }
            }
            if (slot != kNoSlot) return {oldest, slot};
        }
        return {latest, find_slot(header, latest)};
    }

    // A frame, or nullptr when the producer has gone and `reconnect` is set.
    std::shared_ptr<FrameLease> borrow_next(const std::shared_ptr<Connection> &attached, uint32_t lease_index,
                                            uint64_t deadline, int timeout_ms) {
        const SharedHeader &header = attached->header();
        const uint32_t slots = attached->description().slot_count;
        std::atomic<uint64_t> &lease = attached->lease_page().leases[lease_index];
        uint64_t unmapped_latest = 0;  // a newest frame found in no slot (see below)
        // The spin budget runs from the start of this call, not from each wake-up.
        const uint64_t spin_until = spin_ns < 0    ? UINT64_MAX
                                    : spin_ns == 0 ? 0
                                                   : monotonic_ns() + static_cast<uint64_t>(spin_ns);
        while (true) {
            if (closing.load(std::memory_order_relaxed))
                throw Error(CUFRAMES_ERR_STATE, "subscriber of '" + key + "' closed while waiting for a frame");
            // acquire: pairs with the producer's release store of latest_seq.
            uint64_t latest = header.latest_seq.load(std::memory_order_acquire);
            // A slot reference carries 56 bits of sequence number: a larger one is a lie.
            if (latest > kMaxSeq)
                throw Error(CUFRAMES_ERR_PROTOCOL, "the producer of '" + key + "' announced frame " +
                                                       std::to_string(latest) + ", beyond any sequence number");
            if (latest >= next_seq) {
                auto [seq, slot] = choose(header, slots, latest);
                if (slot != kNoSlot && slot >= slots)
                    throw Error(CUFRAMES_ERR_PROTOCOL, "the producer of '" + key + "' published slot " +
                                                           std::to_string(slot) + " of " + std::to_string(slots));
                if (slot != kNoSlot && try_borrow(header, lease, seq, slot)) {
                    if (stream_ordered(*attached) && !wait_until_ready(*attached, seq, slot, deadline, timeout_ms)) {
                        if (reconnect) return nullptr;  // the producer died before its GPU finished the frame
                        throw_gone(*attached);
                    }
                    return make_lease(attached, lease_index, seq, slot);
                }
                if (slot != kNoSlot) {
                    // That frame was overwritten between the lookup and the
                    // lease (or the ring moved on): it is gone, so look past
                    // it. The newest frame's slot is never reclaimed, so a
                    // newer one exists.
                    next_seq = std::max(next_seq, seq + 1);
                    unmapped_latest = 0;
                    continue;
                }
                // The producer writes a frame's ring entry before latest_seq
                // and overwrites it only 256 frames later, so an honest
                // producer's newest frame is always mapped unless latest_seq
                // moved on meanwhile. The same unmapped latest_seq twice is a
                // broken header: fail rather than spin.
                if (latest == unmapped_latest)
                    throw Error(CUFRAMES_ERR_PROTOCOL, "the producer of '" + key + "' announced frame " +
                                                           std::to_string(latest) + " but no slot holds it");
                unmapped_latest = latest;
                continue;
            }
            if (attached->producer_gone()) {
                if (reconnect) return nullptr;
                throw_gone(*attached);
            }
            uint64_t now = monotonic_ns();
            if (now >= deadline)
                throw Error(CUFRAMES_ERR_TIMEOUT,
                            "no frame from '" + key + "' within " + std::to_string(timeout_ms) + " ms");
            if (now < spin_until) {
                spin_for_frame(*attached, std::min(spin_until, deadline));
                continue;  // a frame, the end of the spin, close() or the producer's end: re-check all
            }
            // acquire: if the wake word already moved on, we see the new latest.
            uint32_t word = header.wake_word.load(std::memory_order_acquire);
            if (header.latest_seq.load(std::memory_order_acquire) >= next_seq) continue;
            attached->sleep(word, now, deadline);
        }
    }

    // DISCONNECTED for a producer that closed its stream (the normal end of
    // a stream), PRODUCER_DIED for one that hung up without closing it.
    [[noreturn]] void throw_gone(const Connection &attached) const {
        if (attached.producer_closed())
            throw Error(CUFRAMES_ERR_DISCONNECTED, "the producer of '" + key + "' closed the stream");
        throw Error(CUFRAMES_ERR_PRODUCER_DIED,
                    "the producer of '" + key + "' died without closing the stream (killed or crashed)");
    }

    // Polls the shared sequence until a frame newer than next_seq is out or
    // `until` passes (or close(), or the producer's end). The clock and the
    // other conditions are read once every kCheckEvery polls: a poll is one
    // load of a cache line the producer writes once per frame.
    void spin_for_frame(Connection &attached, uint64_t until) {
        constexpr uint32_t kCheckEvery = 64;
        const SharedHeader &header = attached.header();
        for (uint32_t polls = 1;; ++polls) {
            // acquire: pairs with the producer's release store of latest_seq.
            if (header.latest_seq.load(std::memory_order_acquire) >= next_seq) return;
            if (polls % kCheckEvery == 0 &&
                (monotonic_ns() >= until || closing.load(std::memory_order_relaxed) || attached.producer_gone()))
                return;
            cpu_relax();
        }
    }

    static bool stream_ordered(const Connection &attached) noexcept {
        return (attached.description().flags & kStreamFlagStreamOrdered) != 0;
    }

    // Stream-ordered streams: the leased frame `seq` is announced but maybe
    // not complete on the GPU yet. Waits for the producer's GPU to set the
    // slot's ready word: spinning first (it is typically microseconds away),
    // then in short sleeps. True when ready; false if the producer went away
    // first (its queued work dies with it). TIMEOUT at the deadline. next()
    // releases the lease on every exit but success.
    bool wait_until_ready(Connection &attached, uint64_t seq, uint32_t slot, uint64_t deadline, int timeout_ms) {
        constexpr uint64_t kSpinNs = 200'000;
        constexpr timespec kNap{0, 20'000};
        const std::atomic<uint64_t> &ready = attached.header().slots[slot].ready_seq;
        const uint64_t spin_until = monotonic_ns() + kSpinNs;
        for (uint32_t polls = 1;; ++polls) {
            // acquire: the GPU's write follows the frame's work on its stream.
            if (ready.load(std::memory_order_acquire) >= seq) return true;
            if (polls % 64 != 0) {
                cpu_relax();
                continue;
            }
            uint64_t now = monotonic_ns();
            if (closing.load(std::memory_order_relaxed))
                throw Error(CUFRAMES_ERR_STATE, "subscriber of '" + key + "' closed while waiting for a frame");
            if (attached.producer_gone() && ready.load(std::memory_order_acquire) < seq) return false;
            if (now >= deadline)
                throw Error(CUFRAMES_ERR_TIMEOUT, "frame " + std::to_string(seq) + " of '" + key +
                                                      "' was announced but its GPU work did not finish within " +
                                                      std::to_string(timeout_ms) + " ms");
            if (now >= spin_until) ::nanosleep(&kNap, nullptr);
        }
    }

    // Waits for the key's next producer and switches to it. Throws TIMEOUT at
    // the deadline, STATE when closed meanwhile, FORMAT when the new producer
    // publishes something else, or whatever its handshake fails with.
    void reconnect_after(const Connection &gone, uint64_t deadline, int timeout_ms) {
        // Frames the old producer published after the last one we took. Its
        // header stays mapped (and sealed) after its death; acquire pairs
        // with its last release store of latest_seq.
        uint64_t old_latest = gone.header().latest_seq.load(std::memory_order_acquire);
        uint64_t lost = old_latest >= next_seq ? old_latest - next_seq + 1 : 0;
        const uint64_t old_epoch = gone.description().epoch;
        std::shared_ptr<Connection> fresh = wait_for_next_producer(
            [&](int slice_ms) {
                return std::make_shared<Connection>(key, socket_path, slice_ms, notifications != nullptr);
            },
            // Never the old producer again (it may still answer while it closes). A
            // successor that has already gone is still taken: its frames are drained.
            [&](Connection &candidate) { return candidate.description().epoch != old_epoch; }, closing, deadline,
            timeout_ms, key, "subscriber");
        const FrameLayout &now_layout = fresh->layout();
        if (fresh->backend() != backend || now_layout.format != layout.format || now_layout.width != layout.width ||
            now_layout.height != layout.height)
            throw Error(CUFRAMES_ERR_FORMAT,
                        "the producer of '" + key + "' restarted with " + std::to_string(now_layout.width) + "x" +
                            std::to_string(now_layout.height) + " " + format_name(now_layout.format) + " on " +
                            backend_name(fresh->backend()) + "; this subscriber reads " + std::to_string(layout.width) +
                            "x" + std::to_string(layout.height) + " " + format_name(layout.format) + " on " +
                            backend_name(backend) + " (open a new Subscriber)");
        {
            std::lock_guard<std::mutex> guard(connection_mutex);
            if (closing.load(std::memory_order_relaxed))
                throw Error(CUFRAMES_ERR_STATE, "subscriber of '" + key + "' closed while reconnecting");
            connection = fresh;
        }
        if (notifications) notifications->follow(gone.socket(), fresh->socket());
        adopt(*fresh);
        reconnect_count.fetch_add(1, std::memory_order_relaxed);
        reconnected_pending = true;
        missed_across_restart = lost;
        // Latest joins at the newest frame; Sequential at the oldest still in the pool.
        uint64_t latest = fresh->header().latest_seq.load(std::memory_order_acquire);
        next_seq = delivery == Delivery::Sequential || latest == 0 ? 1 : latest;
    }

    std::shared_ptr<FrameLease> make_lease(const std::shared_ptr<Connection> &attached, uint32_t lease_index,
                                           uint64_t seq, uint32_t slot) {
        const SlotRecord &record = attached->header().slots[slot];
        // The lease holds the producer off this slot, so the record is stable;
        // still, each field is read once and the size checked before use.
        FrameInfo info;
        info.seq = seq;
        info.pts = record.pts;
        info.timestamp_ns = record.timestamp_ns;
        info.slot = slot;
        info.data = attached->slots().address(slot);
        info.size = attached->description().slot_size;
        info.epoch = attached->description().epoch;
        if (reconnected_pending) {
            // Lost from the old producer, plus the new one's frames before this.
            info.missed = missed_across_restart + (seq - 1);
            info.reconnected = true;
        } else {
            uint64_t previous = last_seq.load(std::memory_order_relaxed);
            info.missed = previous == 0 ? 0 : seq - previous - 1;
        }
        uint32_t metadata_size = record.metadata_size;
        if (metadata_size > kMetadataStride)
            throw Error(CUFRAMES_ERR_PROTOCOL, "the producer of '" + key + "' wrote " + std::to_string(metadata_size) +
                                                   " bytes of metadata (at most " + std::to_string(kMetadataStride) +
                                                   ")");
        auto hold = std::make_unique<FrameLease::Hold>(attached, lease_index);
        std::shared_ptr<FrameLease> frame(
            new FrameLease(std::move(hold), info,
                           std::string(reinterpret_cast<const char *>(attached->metadata_area(slot)), metadata_size)));
        reconnected_pending = false;
        missed_total.fetch_add(info.missed, std::memory_order_relaxed);
        last_seq.store(seq, std::memory_order_relaxed);
        next_seq = seq + 1;
        LeasePage &page = attached->lease_page();
        // relaxed: counters for observers only.
        page.frames_received.fetch_add(1, std::memory_order_relaxed);
        page.frames_missed.fetch_add(info.missed, std::memory_order_relaxed);
        uint64_t now = monotonic_ns();
        page.last_latency_ns.store(now > info.timestamp_ns ? now - info.timestamp_ns : 0, std::memory_order_relaxed);
        return frame;
    }
};

Subscriber::Subscriber(const SubscriberOptions &options) : impl_(std::make_unique<Impl>(options)) {}
Subscriber::~Subscriber() = default;
Subscriber::Subscriber(Subscriber &&) noexcept = default;
Subscriber &Subscriber::operator=(Subscriber &&) noexcept = default;

std::shared_ptr<FrameLease> Subscriber::next(int timeout_ms) { return impl_->next(timeout_ms); }
std::shared_ptr<FrameLease> Subscriber::try_next() { return impl_->try_next(); }
int Subscriber::notify_fd() const noexcept { return impl_->notifications ? impl_->notifications->fd() : -1; }

FrameInfo Subscriber::read_into(int timeout_ms, uint64_t dst, uint64_t dst_size, MemoryKind dst_kind,
                                StreamHandle stream) {
    check_packed_size(impl_->layout, dst_size, CopyDirection::OutOfSlot);
    std::shared_ptr<FrameLease> frame = impl_->next(timeout_ms);
    frame->copy_to(dst, dst_size, dst_kind, stream);
    return frame->info();
}

void Subscriber::close() noexcept { impl_->close(); }
bool Subscriber::closed() const noexcept { return impl_->current_connection() == nullptr; }
const std::string &Subscriber::key() const noexcept { return impl_->key; }
const std::string &Subscriber::socket_path() const noexcept { return impl_->socket_path; }
Backend Subscriber::backend() const noexcept { return impl_->backend; }
int Subscriber::device() const noexcept { return impl_->device.load(std::memory_order_relaxed); }
const FrameLayout &Subscriber::layout() const noexcept { return impl_->layout; }
StreamFacts Subscriber::facts() const {
    std::lock_guard<std::mutex> guard(impl_->facts_mutex);
    return impl_->facts;
}
uint32_t Subscriber::slot_count() const noexcept { return impl_->slot_count.load(std::memory_order_relaxed); }
uint64_t Subscriber::slot_size() const noexcept { return impl_->slot_size.load(std::memory_order_relaxed); }
uint32_t Subscriber::max_held() const noexcept { return impl_->max_held.load(std::memory_order_relaxed); }
uint32_t Subscriber::held_count() const noexcept {
    std::shared_ptr<Connection> attached = impl_->current_connection();
    return attached ? attached->held_count() : 0;
}
uint64_t Subscriber::last_seq() const noexcept { return impl_->last_seq.load(std::memory_order_relaxed); }
uint64_t Subscriber::missed_total() const noexcept { return impl_->missed_total.load(std::memory_order_relaxed); }
uint64_t Subscriber::epoch() const noexcept { return impl_->epoch.load(std::memory_order_relaxed); }
Delivery Subscriber::delivery() const noexcept { return impl_->delivery; }
bool Subscriber::reconnect() const noexcept { return impl_->reconnect; }
uint64_t Subscriber::reconnect_count() const noexcept { return impl_->reconnect_count.load(std::memory_order_relaxed); }

}  // namespace cuframes
