#include "cuframes/subscriber.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <utility>

#include "clock.hpp"
#include "connection.hpp"
#include "cuframes/error.hpp"
#include "futex.hpp"
#include "paths.hpp"
#include "ring.hpp"

namespace cuframes {
namespace {

// Without a watcher thread (see Connection), a sleeping subscriber wakes
// this often to check that the producer is alive: a crashed producer cannot
// bump the futex word.
constexpr int64_t kLivenessCheckNs = 20'000'000;
// With a watcher, the longest a subscriber sleeps before re-checking anyway:
// a backstop for a wake-up that raced with the check before the sleep
// (Connection::watch, close()). Four wake-ups a second cost no measurable CPU.
constexpr int64_t kWakeBackstopNs = 250'000'000;

}  // namespace

// ---- FrameLease ------------------------------------------------------------

FrameLease::FrameLease(std::shared_ptr<Connection> connection, FrameInfo info, uint32_t lease_index,
                       const uint8_t *metadata, uint32_t metadata_size)
    : connection_(std::move(connection)),
      info_(info),
      lease_index_(lease_index),
      metadata_(reinterpret_cast<const char *>(metadata), metadata_size) {}

FrameLease::~FrameLease() { connection_->release_lease_entry(lease_index_); }

const FrameLayout &FrameLease::layout() const noexcept { return connection_->layout(); }
Backend FrameLease::backend() const noexcept { return connection_->backend(); }
int FrameLease::device() const noexcept { return connection_->slots().device(); }

void FrameLease::copy_to(uint64_t dst, uint64_t dst_size, MemoryKind dst_kind, StreamHandle stream) const {
    connection_->slots().copy_packed_out(info_.slot, connection_->layout(), dst, dst_size, dst_kind, stream);
}

// ---- Subscriber ------------------------------------------------------------

struct Subscriber::Impl {
    std::string key;
    std::string socket_path;
    // Kept after close() so that accessors keep answering.
    FrameLayout layout;
    Backend backend;
    int device;
    uint32_t slot_count;
    uint64_t slot_size;
    uint32_t max_held;
    uint64_t epoch;
    Delivery delivery;

    // One next() at a time: the position below is per subscriber.
    std::mutex next_mutex;
    uint64_t next_seq = 0;  // the frame wanted next
    // Written under next_mutex, read by accessors from any thread: relaxed
    // atomics, as they only report.
    std::atomic<uint64_t> last_seq{0};  // last frame returned
    std::atomic<uint64_t> missed_total{0};

    // close() may come from another thread while next() waits: next() works
    // on its own reference, and notices `closing` within one wait slice.
    mutable std::mutex connection_mutex;
    std::shared_ptr<Connection> connection;
    std::atomic<bool> closing{false};

    explicit Impl(const SubscriberOptions &options) : key(options.key), delivery(options.delivery) {
        validate_key(key);
        if (delivery != Delivery::Latest && delivery != Delivery::Sequential)
            throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "unknown delivery policy " + std::to_string(static_cast<uint32_t>(delivery)));
        if (options.connect_timeout_ms < -1)
            throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "connect timeout must be >= 0 ms, or -1 to wait forever");
        std::string dir = resolve_dir(options.dir);
        socket_path = cuframes::socket_path(dir, key);
        connection = std::make_shared<Connection>(key, socket_path, options.connect_timeout_ms);
        layout = connection->layout();
        backend = connection->backend();
        device = connection->slots().device();
        slot_count = connection->description().slot_count;
        slot_size = connection->description().slot_size;
        max_held = connection->description().max_held;
        epoch = connection->description().epoch;
        // Join at the newest frame: acquire pairs with the producer's release.
        uint64_t latest = connection->header().latest_seq.load(std::memory_order_acquire);
        next_seq = latest == 0 ? 1 : latest;
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
        }
        // relaxed: the futex wake below (a syscall) makes it visible to a waiter.
        closing.store(true, std::memory_order_relaxed);
        if (attached) attached->wake_waiters();  // a next() waiting now re-checks and sees `closing`
        // Dropping our reference: the last frame held, or a next() in progress, unmaps.
    }

    std::shared_ptr<FrameLease> next(int timeout_ms) {
        if (timeout_ms < -1) throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "timeout must be >= 0 ms, or -1 to wait forever");
        std::lock_guard<std::mutex> guard(next_mutex);
        std::shared_ptr<Connection> attached = current_connection();
        if (!attached) throw Error(CUFRAMES_ERR_STATE, "next() on a closed subscriber ('" + key + "')");
        uint32_t lease_index = attached->claim_lease_entry();
        if (lease_index == Connection::kNoLease)
            throw Error(CUFRAMES_ERR_LIMIT, "this subscriber of '" + key + "' already holds " + std::to_string(max_held) +
                                                " frames (max_held): release one first");
        try {
            return borrow_next(attached, lease_index, timeout_ms);
        } catch (...) {
            attached->release_lease_entry(lease_index);
            throw;
        }
    }

    // The frame to try next, or kNoSlot if none is ready: for Latest the
    // newest; for Sequential the wanted one, or the oldest still in the pool.
    std::pair<uint64_t, uint32_t> choose(const SharedHeader &header, uint64_t latest) const {
        if (delivery == Delivery::Sequential) {
            uint32_t slot = find_slot(header, next_seq);
            if (slot != kNoSlot) return {next_seq, slot};
            // The wanted frame was reused: the oldest newer one still held by a slot.
            uint64_t oldest = UINT64_MAX;
            for (uint32_t k = 0; k < slot_count; ++k) {
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

    std::shared_ptr<FrameLease> borrow_next(const std::shared_ptr<Connection> &attached, uint32_t lease_index,
                                            int timeout_ms) {
        const SharedHeader &header = attached->header();
        std::atomic<uint64_t> &lease = attached->lease_page().leases[lease_index];
        uint64_t start = monotonic_ns();
        uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : start + static_cast<uint64_t>(timeout_ms) * 1'000'000ull;
        while (true) {
            if (closing.load(std::memory_order_relaxed))
                throw Error(CUFRAMES_ERR_STATE, "subscriber of '" + key + "' closed while waiting for a frame");
            // acquire: pairs with the producer's release store of latest_seq.
            uint64_t latest = header.latest_seq.load(std::memory_order_acquire);
            if (latest >= next_seq) {
                auto [seq, slot] = choose(header, latest);
                if (slot != kNoSlot && slot >= slot_count)
                    throw Error(CUFRAMES_ERR_PROTOCOL, "the producer of '" + key + "' published slot " +
                                                           std::to_string(slot) + " of " + std::to_string(slot_count));
                if (slot != kNoSlot && try_borrow(header, lease, seq, slot))
                    return make_lease(attached, lease_index, seq, slot);
                // That frame was overwritten between the lookup and the lease
                // (or the ring moved on): it is gone, so look past it. The
                // newest frame's slot is never reclaimed, so a newer one exists.
                if (slot != kNoSlot) next_seq = std::max(next_seq, seq + 1);
                continue;
            }
            if (attached->producer_gone())
                throw Error(CUFRAMES_ERR_DISCONNECTED, "the producer of '" + key + "' has gone");
            uint64_t now = monotonic_ns();
            if (now >= deadline)
                throw Error(CUFRAMES_ERR_TIMEOUT, "no frame from '" + key + "' within " + std::to_string(timeout_ms) + " ms");
            // acquire: if the wake word already moved on, we see the new latest.
            uint32_t word = header.wake_word.load(std::memory_order_acquire);
            if (header.latest_seq.load(std::memory_order_acquire) >= next_seq) continue;
            int64_t limit = attached->watched() ? kWakeBackstopNs : kLivenessCheckNs;
            int64_t sleep_ns = static_cast<int64_t>(std::min<uint64_t>(deadline - now, static_cast<uint64_t>(limit)));
            if (int err = futex_wait(&header.wake_word, word, sleep_ns); err != 0)
                throw_os_error("futex wait on '" + key + "'", err);
        }
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
        info.size = slot_size;
        uint64_t previous = last_seq.load(std::memory_order_relaxed);
        info.missed = previous == 0 ? 0 : seq - previous - 1;
        uint32_t metadata_size = record.metadata_size;
        if (metadata_size > kMetadataStride)
            throw Error(CUFRAMES_ERR_PROTOCOL, "the producer of '" + key + "' wrote " + std::to_string(metadata_size) +
                                                   " bytes of metadata (at most " + std::to_string(kMetadataStride) + ")");
        auto frame = std::make_shared<FrameLease>(attached, info, lease_index, attached->metadata_area(slot), metadata_size);
        missed_total.fetch_add(info.missed, std::memory_order_relaxed);
        last_seq.store(seq, std::memory_order_relaxed);
        next_seq = seq + 1;
        LeasePage &page = attached->lease_page();
        // relaxed: counters for observers only.
        page.frames_received.fetch_add(1, std::memory_order_relaxed);
        page.frames_missed.fetch_add(info.missed, std::memory_order_relaxed);
        return frame;
    }
};

Subscriber::Subscriber(const SubscriberOptions &options) : impl_(std::make_unique<Impl>(options)) {}
Subscriber::~Subscriber() = default;
Subscriber::Subscriber(Subscriber &&) noexcept = default;
Subscriber &Subscriber::operator=(Subscriber &&) noexcept = default;

std::shared_ptr<FrameLease> Subscriber::next(int timeout_ms) { return impl_->next(timeout_ms); }

FrameInfo Subscriber::read_into(int timeout_ms, uint64_t dst, uint64_t dst_size, MemoryKind dst_kind, StreamHandle stream) {
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
int Subscriber::device() const noexcept { return impl_->device; }
const FrameLayout &Subscriber::layout() const noexcept { return impl_->layout; }
uint32_t Subscriber::slot_count() const noexcept { return impl_->slot_count; }
uint64_t Subscriber::slot_size() const noexcept { return impl_->slot_size; }
uint32_t Subscriber::max_held() const noexcept { return impl_->max_held; }
uint32_t Subscriber::held_count() const noexcept {
    std::shared_ptr<Connection> attached = impl_->current_connection();
    return attached ? attached->held_count() : 0;
}
uint64_t Subscriber::last_seq() const noexcept { return impl_->last_seq.load(std::memory_order_relaxed); }
uint64_t Subscriber::missed_total() const noexcept { return impl_->missed_total.load(std::memory_order_relaxed); }
uint64_t Subscriber::epoch() const noexcept { return impl_->epoch; }
Delivery Subscriber::delivery() const noexcept { return impl_->delivery; }

}  // namespace cuframes
