#include "cuframes/publisher.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>
#include <optional>

#include "base/clock.hpp"
#include "base/key_lock.hpp"
#include "base/memfd.hpp"
#include "base/memory_map.hpp"
#include "base/paths.hpp"
#include "cuframes/error.hpp"
#include "producer/publisher_setup.hpp"
#include "producer/server.hpp"
#include "producer/waker.hpp"
#include "protocol/packet_ring.hpp"
#include "protocol/ring.hpp"
#include "slots/slot_pool.hpp"

namespace cuframes {
namespace {

// Stream-ordered publishing's registration of the header with the GPU, for
// as long as the header stays mapped: a member declared after the mapping,
// so that it goes first on every path, a constructor that throws included.
class ReadySignals {
public:
    ReadySignals() = default;
    ReadySignals(const ReadySignals &) = delete;
    ReadySignals &operator=(const ReadySignals &) = delete;
    ~ReadySignals() { stop(); }

    void start(SlotPool &pool, void *header, uint64_t bytes) {
        pool.enable_ready_signals(header, bytes);
        pool_ = &pool;
    }
    // Waits for the signals still queued, then unregisters. Idempotent.
    void stop() noexcept {
        if (pool_ != nullptr) pool_->disable_ready_signals();
        pool_ = nullptr;
    }

private:
    SlotPool *pool_ = nullptr;
};

// Up to this many subscribers, publish() wakes them itself: one FUTEX_WAKE of
// a single sleeper costs about what notifying the waker thread does, and
// saves the subscriber a second hop. Beyond it the waker thread wakes them
// (the cost grows by about 1 us per sleeper) and claims the next slot ahead
// (the lease scan grows with them too), so publish() stays flat.
constexpr uint32_t kInlineWakeSubscribers = 1;

Backend resolve_backend(Backend requested) {
    if (requested != Backend::Auto) return requested;
    return cuda_available() ? Backend::Cuda : Backend::Host;
}

}  // namespace

struct CUFRAMES_HIDDEN Publisher::Impl {
    // Kept after close() so that accessors keep answering.
    std::string key;
    std::string dir;
    std::string socket_path;
    Backend backend;
    FrameLayout layout;
    uint32_t slot_count;
    uint32_t max_subscribers;
    uint32_t max_held;
    uint64_t slot_size = 0;
    int device = -1;
    uint64_t last_seq = 0;
    PublishTiming timing;  // of the last loan() and publish()
    bool stream_ordered = false;
    uint64_t packet_ring_bytes = 0;
    uint64_t last_packet_seq = 0;  // under packet_mutex
    StreamFacts facts;

    // Serialises the calls below with close(): a binding may run publish()
    // without its interpreter lock while another thread closes.
    std::mutex mutex;

    // Released by close(), in reverse order of creation. The pool is shared
    // with views of the slots that may outlive close() (slot_memory_owner).
    std::unique_ptr<KeyLock> lock;
    std::shared_ptr<SlotPool> pool;
    UniqueFd header_fd;
    UniqueFd header_read_only_fd;
    MemoryMap header_map;
    ReadySignals ready_signals;  // stream-ordered only
    std::unique_ptr<ProducerRing> ring;
    // The packet ring has its own lock: packets may come from another thread
    // than frames, and never wait behind a frame's stream sync.
    std::mutex packet_mutex;
    std::unique_ptr<PacketRingWriter> packets;
    std::unique_ptr<Server> server;
    std::optional<uint32_t> acquired;  // the slot of the WritableFrame on loan

    // The ring is claimed from two threads (loan(), and the waker claiming
    // ahead); this orders them. Never held while waiting for anything else.
    std::mutex ring_mutex;
    // A slot the waker claimed ahead for the next loan(), or kNoSlot.
    // Written only under ring_mutex.
    std::atomic<uint32_t> claimed_ahead{kNoSlot};
    std::atomic<bool> wake_pending{false};
    std::atomic<bool> notify_pending{false};  // the waker writes to the notified subscribers' sockets
    std::atomic<int> waker_error{0};          // errno of a failed FUTEX_WAKE in the waker
    std::unique_ptr<Waker> waker;             // created last, destroyed first

    explicit Impl(const PublisherOptions &options)
        : key(options.key), backend(resolve_backend(options.backend)),
          layout(compute_layout(options.format, options.width, options.height)), slot_count(options.slots),
          max_subscribers(options.max_subscribers), max_held(options.max_held) {
        stream_ordered = options.stream_ordered;
        validate_options(options);
        facts = options.facts;
        dir = resolve_dir(options.dir);
        socket_path = cuframes::socket_path(dir, key);  // checks the length before anything is created
        if (backend == Backend::Cuda && !cuda_available())
            throw Error(CUFRAMES_ERR_CUDA_UNAVAILABLE,
                        "cuda backend requested but unavailable: " + cuda_unavailable_reason());
        if (stream_ordered && backend != Backend::Cuda)
            throw Error(CUFRAMES_ERR_INVALID_ARGUMENT,
                        "stream-ordered publishing needs the cuda backend: a host frame is "
                        "complete when the CPU's copy returns");
        ensure_dir(dir);
        lock = std::make_unique<KeyLock>(lock_path(dir, key), key);

        pool = backend == Backend::Cuda ? make_cuda_slot_pool(options.device, slot_count, layout.bytes)
                                        : make_host_slot_pool(slot_count, layout.bytes);
        slot_size = pool->slot_size();
        device = pool->device();

        StreamDescription description{};
        description.backend = static_cast<uint32_t>(backend);
        description.format = static_cast<uint32_t>(layout.format);
        description.width = layout.width;
        description.height = layout.height;
        description.plane_count = layout.plane_count;
        description.slot_count = slot_count;
        description.max_held = max_held;
        description.slot_size = slot_size;
        description.epoch = random_epoch();
        description.flags = options.stream_ordered ? kStreamFlagStreamOrdered : 0;
        std::memcpy(description.planes, layout.planes.data(), sizeof description.planes);
        DeviceUuid uuid = pool->device_uuid();
        std::memcpy(description.device_uuid, uuid.data(), uuid.size());
        description.facts = facts;

        uint64_t header_bytes = header_region_bytes(slot_count);
        header_fd = create_sealed_memfd("cuframes-header", header_bytes);
        header_map = MemoryMap(header_fd.get(), header_bytes, true, "the shared header");
        auto *header = new (header_map.data()) SharedHeader{};
        header->magic = kHeaderMagic;
        header->version = kProtocolVersion;
        header->header_bytes = static_cast<uint32_t>(header_bytes);
        header->stream = description;
        header->metadata_offset = sizeof(SharedHeader);
        header->metadata_stride = kMetadataStride;
        header->state.store(static_cast<uint32_t>(StreamState::Running), std::memory_order_relaxed);
        seal_final(header_fd.get(), true, "the shared header");  // only our mapping writes
        if (options.stream_ordered) ready_signals.start(*pool, header_map.data(), header_bytes);
        header_read_only_fd = reopen_read_only(header_fd.get(), "the shared header");
        ring = std::make_unique<ProducerRing>(header, slot_count);
        packet_ring_bytes = options.packet_ring_bytes;
        if (packet_ring_bytes != 0) packets = std::make_unique<PacketRingWriter>(packet_ring_bytes, description.epoch);

        ServedStream served;
        served.description = description;
        served.header_bytes = static_cast<uint32_t>(header_bytes);
        served.header_fd = header_read_only_fd.get();
        for (uint32_t i = 0; i < slot_count; ++i) served.slot_fds.push_back(pool->shareable_fd(i));
        served.max_subscribers = max_subscribers;
        served.access.uids = options.allowed_uids;
        served.access.gids = options.allowed_gids;
        served.access.owner_uid = ::geteuid();
        served.key = key;
        served.producer_note = options.description;
        served.latest_seq = &header->latest_seq;
        if (packets) {
            served.packet_ring_fd = packets->read_only_fd();
            served.packet_ring_bytes = packets->region_bytes();
        }
        PathRemover remove_socket_on_failure(socket_path);
        UniqueFd listener = listen_on(socket_path, options.socket_mode, options.socket_group);
        server = std::make_unique<Server>(std::move(listener), std::move(served));
        waker = std::make_unique<Waker>([this] { background(); });
        remove_socket_on_failure.disarm();
    }

    SlotMask leased_slots() const { return server->leased_slots(); }

    // The waker's job: what publish() handed off.
    void background() noexcept {
        if (wake_pending.exchange(false, std::memory_order_acq_rel)) {
            if (int err = ring->wake(); err != 0) waker_error.store(err, std::memory_order_relaxed);
        }
        if (notify_pending.exchange(false, std::memory_order_acq_rel)) server->notify(HelloRole::Frames);
        try {
            std::lock_guard<std::mutex> guard(ring_mutex);
            if (claimed_ahead.load(std::memory_order_relaxed) == kNoSlot)
                claimed_ahead.store(ring->try_claim([this] { return leased_slots(); }), std::memory_order_release);
        } catch (...) {
            // Claiming ahead is an optimisation: loan() claims for itself and reports any failure.
        }
    }

    // A slot for loan(): the one claimed ahead, else one claimed now.
    uint32_t claim() {
        uint32_t slot = claimed_ahead.exchange(kNoSlot, std::memory_order_acq_rel);
        if (slot != kNoSlot) return slot;
        std::lock_guard<std::mutex> guard(ring_mutex);
        // The waker may have claimed one while we waited for the lock.
        slot = claimed_ahead.exchange(kNoSlot, std::memory_order_acq_rel);
        return slot != kNoSlot ? slot : ring->claim([this] { return leased_slots(); });
    }

    bool closed() const noexcept { return lock == nullptr; }

    void require_open(const char *call) const {
        if (closed()) throw Error(CUFRAMES_ERR_STATE, std::string(call) + " on a closed publisher ('" + key + "')");
    }

    void close() noexcept {
        std::lock_guard<std::mutex> guard(mutex);
        if (closed()) return;
        waker.reset();  // first: its job uses the ring and the server
        // Unreachable before closed: a subscriber that follows the key
        // reconnects as soon as it sees the header closed, and must find no
        // socket (or its successor's), never this producer again.
        server->stop_listening();
        remove_file_noexcept(socket_path);
        ring->close();  // subscribers learn at once through the header
        {
            // publish_packet() uses the server too: both go under its lock.
            std::lock_guard<std::mutex> packet_guard(packet_mutex);
            if (packets) packets->close();
            server.reset();  // hang up every connection
            packets.reset();
        }
        ring.reset();
        header_read_only_fd.reset();
        ready_signals.stop();  // the GPU's last writes into the header land first
        header_map.reset();
        header_fd.reset();
        pool.reset();
        acquired.reset();
        lock.reset();  // last: the key is free only when everything is gone
    }
};

Publisher::Publisher(const PublisherOptions &options) : impl_(std::make_shared<Impl>(options)) {}
Publisher::~Publisher() {
    if (impl_) impl_->close();
}
Publisher::Publisher(Publisher &&) noexcept = default;
Publisher &Publisher::operator=(Publisher &&other) noexcept {
    if (this != &other) {
        if (impl_) impl_->close();
        impl_ = std::move(other.impl_);
    }
    return *this;
}

WritableFrame Publisher::loan() {
    std::lock_guard<std::mutex> guard(impl_->mutex);
    impl_->require_open("loan");
    if (impl_->acquired)
        throw Error(CUFRAMES_ERR_STATE, "a frame of '" + impl_->key + "' is already on loan: publish or drop it first");
    const uint64_t start = monotonic_ns();
    uint32_t slot = impl_->claim();
    impl_->acquired = slot;
    impl_->timing.acquire_ns = monotonic_ns() - start;
    return WritableFrame(impl_, slot, impl_->pool->address(slot), impl_->slot_size);
}

uint64_t Publisher::publish(WritableFrame &&frame, StreamHandle stream, int64_t pts, const void *metadata,
                            uint32_t metadata_size) {
    if (!frame)
        throw Error(CUFRAMES_ERR_STATE,
                    "publish of an empty frame on '" + impl_->key + "' (already published, dropped or moved from)");
    if (frame.owner_ != impl_)
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT,
                    "publish on '" + impl_->key + "' of a frame loaned by another publisher");
    std::lock_guard<std::mutex> guard(impl_->mutex);
    impl_->require_open("publish");
    if (metadata_size > CUFRAMES_MAX_METADATA)
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "metadata is " + std::to_string(metadata_size) + " bytes; at most " +
                                                       std::to_string(CUFRAMES_MAX_METADATA) + " per frame");
    if (metadata_size > 0 && metadata == nullptr)
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "metadata is NULL but metadata_size is not 0");
    // The barrier of the protocol: the frame's bytes are complete before any
    // subscriber can see its sequence number.
    const uint64_t start = monotonic_ns();
    if (impl_->stream_ordered) {
        // Queued after the frame's work: the GPU marks it complete itself. The
        // ready word still holds the slot's previous, smaller sequence.
        SharedHeader *header = static_cast<SharedHeader *>(impl_->header_map.data());
        impl_->pool->signal_ready(stream, &header->slots[*impl_->acquired].ready_seq, impl_->ring->last_seq() + 1);
    } else {
        impl_->pool->synchronize(stream);
    }
    // The frame's timestamp: complete from here on (stream-ordered: queued).
    const uint64_t synced = monotonic_ns();
    uint64_t seq;
    {
        std::lock_guard<std::mutex> ring_guard(impl_->ring_mutex);
        seq = impl_->ring->publish(*impl_->acquired, pts, synced, metadata, metadata_size);
    }
    impl_->acquired.reset();
    frame.owner_.reset();  // consumed: the ring has it
    impl_->last_seq = seq;
    const uint64_t announced = monotonic_ns();
    // The frame is published whatever happens here; a failed wake-up only
    // delays sleeping subscribers until their next liveness check.
    int err = impl_->waker_error.exchange(0, std::memory_order_relaxed);
    if (err == 0) {
        const bool inline_wake = impl_->server->subscriber_count() <= kInlineWakeSubscribers;
        // Subscribers waiting in poll/epoll/asyncio (SubscriberOptions::notify)
        // get a byte on their socket: from here for one subscriber, as its
        // futex wake-up is; from the waker thread for more, which keeps
        // publish() flat. None of them: one relaxed load.
        const bool notify = impl_->server->notified_count(HelloRole::Frames) > 0;
        if (inline_wake) {
            err = impl_->ring->wake();
            if (notify) impl_->server->notify(HelloRole::Frames);
        } else {
            impl_->wake_pending.store(true, std::memory_order_release);
            if (notify) impl_->notify_pending.store(true, std::memory_order_release);
            err = impl_->waker->notify();
        }
    }
    impl_->timing.sync_ns = synced - start;
    impl_->timing.ring_ns = announced - synced;
    impl_->timing.wake_ns = monotonic_ns() - announced;
    if (err != 0) throw_os_error("futex wake after publishing frame " + std::to_string(seq), err);
    return seq;
}

// ---- WritableFrame ---------------------------------------------------------

WritableFrame::WritableFrame(std::shared_ptr<Publisher::Impl> owner, uint32_t slot, uint64_t data,
                             uint64_t size) noexcept
    : owner_(std::move(owner)), slot_(slot), data_(data), size_(size) {}

WritableFrame::~WritableFrame() { discard(); }

WritableFrame::WritableFrame(WritableFrame &&other) noexcept
    : owner_(std::move(other.owner_)), slot_(other.slot_), data_(other.data_), size_(other.size_) {}

WritableFrame &WritableFrame::operator=(WritableFrame &&other) noexcept {
    if (this != &other) {
        discard();
        owner_ = std::move(other.owner_);
        slot_ = other.slot_;
        data_ = other.data_;
        size_ = other.size_;
    }
    return *this;
}

void WritableFrame::discard() noexcept {
    if (!owner_) return;
    Publisher::Impl &impl = *owner_;
    {
        std::lock_guard<std::mutex> guard(impl.mutex);
        // close() already took the slot back (and the ring is gone) when the
        // publisher closed meanwhile. Otherwise the slot's sequence is still
        // 0, so it is simply free again.
        if (impl.acquired == slot_) {
            std::lock_guard<std::mutex> ring_guard(impl.ring_mutex);
            impl.ring->release(slot_);
            impl.acquired.reset();
        }
    }
    owner_.reset();
}

void WritableFrame::copy_from(uint64_t src, uint64_t src_size, MemoryKind src_kind, StreamHandle stream) {
    if (!owner_) throw Error(CUFRAMES_ERR_STATE, "copy into an empty frame (already published, dropped or moved from)");
    Publisher::Impl &impl = *owner_;
    std::lock_guard<std::mutex> guard(impl.mutex);
    impl.require_open("copy_from");
    impl.pool->copy_packed(slot_, impl.layout, src, src_size, src_kind, stream);
}

uint64_t Publisher::publish_packet(const void *data, uint64_t size, int64_t pts, int64_t dts, cuframes_codec codec,
                                   bool keyframe) {
    std::lock_guard<std::mutex> guard(impl_->packet_mutex);
    if (!impl_->packets) {
        if (impl_->packet_ring_bytes == 0)
            throw Error(CUFRAMES_ERR_STATE,
                        "publisher '" + impl_->key + "' has no packet ring (packet_ring_bytes is 0)");
        throw Error(CUFRAMES_ERR_STATE, "publish_packet on a closed publisher ('" + impl_->key + "')");
    }
    uint64_t seq = impl_->packets->write(static_cast<const uint8_t *>(data), size, pts, dts, codec, keyframe);
    impl_->last_packet_seq = seq;
    // The server is alive while the packet ring is (close() resets it in between).
    if (impl_->server->packet_subscriber_count() > 0) {
        // The packet is out whatever happens here: an exception would invite a
        // retry that publishes it twice. A missed wake-up only delays the
        // subscribers until their next backstop check (250 ms).
        if (int err = impl_->packets->wake(); err != 0)
            std::fprintf(stderr, "cuframes: futex wake after packet %llu of '%s' failed: %s\n",
                         static_cast<unsigned long long>(seq), impl_->key.c_str(), std::strerror(err));
        // Packets come at the camera's rate: their notifications go from here.
        if (impl_->server->notified_count(HelloRole::Packets) > 0) impl_->server->notify(HelloRole::Packets);
    }
    return seq;
}

void Publisher::set_parameter_sets(cuframes_codec codec, const void *data, uint64_t size) {
    std::lock_guard<std::mutex> guard(impl_->packet_mutex);
    if (!impl_->packets) throw Error(CUFRAMES_ERR_STATE, "publisher '" + impl_->key + "' has no open packet ring");
    impl_->packets->set_parameter_sets(codec, static_cast<const uint8_t *>(data), size);
}

uint32_t Publisher::packet_subscriber_count() const noexcept {
    std::lock_guard<std::mutex> guard(impl_->mutex);
    return impl_->server ? impl_->server->packet_subscriber_count() : 0;
}
uint64_t Publisher::packet_ring_bytes() const noexcept { return impl_->packet_ring_bytes; }
uint64_t Publisher::last_packet_seq() const noexcept {
    std::lock_guard<std::mutex> guard(impl_->packet_mutex);
    return impl_->last_packet_seq;
}

void Publisher::close() noexcept { impl_->close(); }
bool Publisher::closed() const noexcept { return impl_->closed(); }
const std::string &Publisher::key() const noexcept { return impl_->key; }
const std::string &Publisher::dir() const noexcept { return impl_->dir; }
const std::string &Publisher::socket_path() const noexcept { return impl_->socket_path; }
Backend Publisher::backend() const noexcept { return impl_->backend; }
int Publisher::device() const noexcept { return impl_->device; }
const FrameLayout &Publisher::layout() const noexcept { return impl_->layout; }
const StreamFacts &Publisher::facts() const noexcept { return impl_->facts; }
uint32_t Publisher::slot_count() const noexcept { return impl_->slot_count; }
uint64_t Publisher::slot_size() const noexcept { return impl_->slot_size; }
uint32_t Publisher::max_subscribers() const noexcept { return impl_->max_subscribers; }
uint32_t Publisher::max_held() const noexcept { return impl_->max_held; }
uint32_t Publisher::subscriber_count() const noexcept {
    std::lock_guard<std::mutex> guard(impl_->mutex);
    return impl_->server ? impl_->server->subscriber_count() : 0;
}
uint64_t Publisher::last_seq() const noexcept { return impl_->last_seq; }
PublishTiming Publisher::last_timing() const noexcept {
    std::lock_guard<std::mutex> guard(impl_->mutex);
    return impl_->timing;
}
std::shared_ptr<const void> Publisher::slot_memory_owner() const {
    std::lock_guard<std::mutex> guard(impl_->mutex);
    return impl_->pool;
}

}  // namespace cuframes
