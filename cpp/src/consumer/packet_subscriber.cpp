// PacketSubscriber: joins a producer's packet ring at a keyframe and copies
// packets out in order, rejoining at the next keyframe after an overrun.
#include <algorithm>
#include <cstring>
#include <mutex>

#include "base/clock.hpp"
#include "base/paths.hpp"
#include "consumer/notifications.hpp"
#include "consumer/producer_watch.hpp"
#include "cuframes/annexb.hpp"
#include "cuframes/error.hpp"
#include "cuframes/packets.hpp"
#include "cuframes/types.hpp"
#include "protocol/handshake_client.hpp"
#include "protocol/packet_ring.hpp"
#include "protocol/shm_layout.hpp"

namespace cuframes {
namespace {

// No producer writes 2^62 packets (a million a second for 146,000 years).
constexpr uint64_t kMaxPacketSeq = uint64_t{1} << 62;

// The socket and the mapped ring of one producer.
class PacketAttachment {
public:
    PacketAttachment(const std::string &key, const std::string &socket_path, int connect_timeout_ms, bool notify)
        : socket_(connect_to_producer(key, socket_path, connect_timeout_ms)), watch_("the packets of '" + key + "'") {
        std::string peer = "the producer of '" + key + "'";
        ReceivedMessage reply =
            say_hello(socket_.get(), HelloRole::Packets, kHandshakeTimeoutMs, peer, notify ? kHelloFlagNotify : 0u);
        if (reply.type() != MessageType::PacketWelcome || reply.fds.size() != 1)
            throw Error(CUFRAMES_ERR_PROTOCOL, peer + " answered a packet subscriber with message type " +
                                                   std::to_string(reply.header.type) + " and " +
                                                   std::to_string(reply.fds.size()) + " descriptors");
        PacketWelcomeBody welcome = reply.body_as<PacketWelcomeBody>("packet welcome");
        if (std::string problem = stream_facts_problem(welcome.facts); !problem.empty())
            throw Error(CUFRAMES_ERR_PROTOCOL, peer + " announced bad stream facts: " + problem);
        facts_ = welcome.facts;
        ring_ = std::make_unique<PacketRingReader>(std::move(reply.fds[0]), welcome.ring_bytes, welcome.epoch, peer);
        epoch_ = welcome.epoch;
        watch_.start(socket_.get(), ring_->header().state, ring_->header().wake_word, notify);
    }

    // notify: the socket the producer writes a byte to after each packet.
    int socket() const noexcept { return socket_.get(); }

    const PacketRingReader &ring() const noexcept { return *ring_; }
    uint64_t epoch() const noexcept { return epoch_; }
    const StreamFacts &facts() const noexcept { return facts_; }
    // Whether the producer has gone, and the sleep until it has news (the
    // ring header's state and wake word): see ProducerWatch.
    ProducerWatch &watch() noexcept { return watch_; }

private:
    UniqueFd socket_;
    std::unique_ptr<PacketRingReader> ring_;
    uint64_t epoch_ = 0;
    StreamFacts facts_;
    ProducerWatch watch_;  // last: its watcher stops before anything it touches goes
};

}  // namespace

struct CUFRAMES_HIDDEN PacketSubscriber::Impl {
    std::string key;
    std::string socket_path;
    bool reconnect = false;
    bool notify = false;
    std::atomic<uint64_t> ring_bytes{0};
    std::atomic<uint64_t> epoch{0};
    std::atomic<uint64_t> reconnect_count{0};
    // The current producer's; kept after close() so that facts() keeps answering.
    mutable std::mutex facts_mutex;
    StreamFacts facts;
    bool reconnected_pending = false;  // under next_mutex: set by a reconnect, consumed by the next packet

    // Turns of next(); close() takes the attachment out under attachment_mutex
    // and wakes the waiter, which notices `closing`.
    std::mutex next_mutex;
    mutable std::mutex attachment_mutex;
    std::shared_ptr<PacketAttachment> attachment;
    std::atomic<bool> closing{false};
    // PacketSubscriberOptions::notify: what notify_fd() hands out (under next_mutex).
    std::unique_ptr<Notifications> notifications;

    // Reading position (under next_mutex).
    bool joined = false;
    uint64_t next_seq = 0;   // joined: the next packet to return
    uint64_t min_join = 0;   // not joined: the oldest keyframe we may join at
    uint64_t lost_from = 0;  // not joined after an overrun: the first packet lost, else 0
    std::atomic<uint64_t> last_seq{0};
    std::atomic<uint64_t> overruns_total{0};

    explicit Impl(const PacketSubscriberOptions &options)
        : key(options.key), reconnect(options.reconnect), notify(options.notify) {
        validate_key(key);
        if (options.connect_timeout_ms < -1)
            throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "connect timeout must be >= 0 ms, or -1 to wait forever");
        const std::string dir = resolve_dir(options.dir);
        socket_path = cuframes::socket_path(dir, key);
        attachment = attach_within(
            [&](int remaining_ms) {
                return std::make_shared<PacketAttachment>(key, socket_path, remaining_ms, notify);
            },
            options.connect_timeout_ms);
        if (notify) notifications = std::make_unique<Notifications>(key, dir, attachment->socket());
        adopt(*attachment, JoinAt::Latest);
    }

    // Where a subscriber starts in a producer's ring. A new subscriber is live:
    // the latest keyframe there is now (or the first one after). One following
    // its key across a restart loses as little as it can: the oldest keyframe
    // still intact, its lost packets (any before it) counted as overruns.
    enum class JoinAt { Latest, Oldest };

    // Takes a (new) producer's facts, and joins its ring where `join` says.
    void adopt(const PacketAttachment &attached, JoinAt join) {
        ring_bytes.store(attached.ring().data_bytes(), std::memory_order_relaxed);
        epoch.store(attached.epoch(), std::memory_order_relaxed);
        {
            std::lock_guard<std::mutex> guard(facts_mutex);
            facts = attached.facts();
        }
        const PacketRingHeader &header = attached.ring().header();
        uint64_t keyframe = header.latest_keyframe_seq.load(std::memory_order_acquire);
        uint64_t latest = checked_latest(attached.ring());
        joined = false;
        if (join == JoinAt::Oldest) {
            lost_from = 1;  // sequence numbers start at 1 in every producer's ring
            min_join = 1;   // the scan starts at the ring's oldest intact record
            return;
        }
        lost_from = 0;
        min_join = keyframe != 0 && keyframe <= latest ? keyframe : latest + 1;
    }

    // Waits for the key's next producer and switches to it. Throws TIMEOUT at
    // the deadline, STATE when closed meanwhile, or what its handshake fails
    // with (NOT_FOUND from a producer without a packet ring).
    void reconnect_now(const PacketAttachment &gone, uint64_t deadline, int timeout_ms) {
        const uint64_t old_epoch = gone.epoch();
        std::shared_ptr<PacketAttachment> fresh = wait_for_next_producer(
            [&](int slice_ms) { return std::make_shared<PacketAttachment>(key, socket_path, slice_ms, notify); },
            // Never the old producer again (it may still answer while it closes). A
            // successor that has already gone is still taken: what it wrote is ours.
            [&](PacketAttachment &candidate) { return candidate.epoch() != old_epoch; }, closing, deadline, timeout_ms,
            key, "packet subscriber");
        {
            std::lock_guard<std::mutex> guard(attachment_mutex);
            if (closing.load(std::memory_order_relaxed))
                throw Error(CUFRAMES_ERR_STATE, "packet subscriber of '" + key + "' closed while reconnecting");
            attachment = fresh;
        }
        if (notifications) notifications->follow(gone.socket(), fresh->socket());
        adopt(*fresh, JoinAt::Oldest);
        reconnect_count.fetch_add(1, std::memory_order_relaxed);
        reconnected_pending = true;
    }

    std::shared_ptr<PacketAttachment> current() const {
        std::lock_guard<std::mutex> guard(attachment_mutex);
        return attachment;
    }

    void close() noexcept {
        std::shared_ptr<PacketAttachment> attached;
        {
            std::lock_guard<std::mutex> guard(attachment_mutex);
            closing.store(true, std::memory_order_relaxed);
            attached = std::move(attachment);
        }
        if (attached) attached->watch().wake_waiters();  // a next() asleep now re-checks and sees `closing`
    }

    // latest_seq, refused when no producer could have reached it: far below
    // the point where seq + 1 or a scan up to it could wrap around.
    uint64_t checked_latest(const PacketRingReader &ring) const {
        uint64_t latest = ring.header().latest_seq.load(std::memory_order_acquire);
        if (latest > kMaxPacketSeq)
            throw Error(CUFRAMES_ERR_PROTOCOL,
                        "the producer of '" + key + "' announced packet " + std::to_string(latest));
        return latest;
    }

    // One step of reading: a packet into `out`, or false when there is none yet.
    bool try_take(const PacketAttachment &attached, Packet &out) {
        const PacketRingReader &ring = attached.ring();
        PacketRecordCopy record;
        if (joined) {
            switch (ring.read(next_seq, record)) {
                case PacketRingReader::Read::NotYet: return false;
                case PacketRingReader::Read::Ok: deliver(record, out, false, 0); return true;
                case PacketRingReader::Read::Overwritten:
                    // We fell a ring behind: what follows is undecodable until
                    // the next keyframe, so rejoin there.
                    joined = false;
                    lost_from = next_seq;
                    min_join = next_seq;
                    break;
            }
        }
        // The first keyframe at or after min_join that is still intact. Older
        // index entries than one ring's worth are overwritten for sure, which
        // also bounds the scan whatever the header claims.
        uint64_t latest = checked_latest(ring);
        uint64_t oldest = ring.header().oldest_seq.load(std::memory_order_acquire);
        uint64_t seq = std::max(min_join, oldest <= latest ? oldest : uint64_t{1});
        if (latest >= kPacketIndexCount) seq = std::max(seq, latest - kPacketIndexCount + 1);
        uint64_t keyframe = 0;
        for (; seq <= latest; ++seq) {  // at most one ring of entries: latest is bounded above
            bool is_keyframe = false;
            if (ring.peek_keyframe(seq, is_keyframe) != PacketRingReader::Read::Ok || !is_keyframe) continue;
            PacketRingReader::Read read = ring.read(seq, record);
            if (read == PacketRingReader::Read::Ok && (record.flags & kPacketFlagKeyframe) != 0) {
                keyframe = seq;
                break;
            }
        }
        min_join = seq;  // where the next look starts: nothing before it can be joined
        if (keyframe == 0) return false;
        uint64_t lost = lost_from == 0 ? 0 : keyframe - lost_from;
        joined = true;
        lost_from = 0;
        deliver(record, out, true, lost);
        if (!carries_parameter_sets(record.codec, out.data.data(), out.data.size())) {
            cuframes_codec sets_codec = record.codec;
            std::string sets = ring.parameter_sets(sets_codec);
            if (!sets.empty() && sets_codec == record.codec) {
                out.data.insert(out.data.begin(), sets.begin(), sets.end());
                out.info.parameter_sets_prepended = true;
            }
        }
        return true;
    }

    void deliver(PacketRecordCopy &record, Packet &out, bool discontinuity, uint64_t overruns) {
        out.info = PacketInfo{};
        out.info.seq = record.seq;
        out.info.pts = record.pts;
        out.info.dts = record.dts;
        out.info.timestamp_ns = record.timestamp_ns;
        out.info.codec = record.codec;
        out.info.keyframe = (record.flags & kPacketFlagKeyframe) != 0;
        out.info.overruns = overruns;
        out.info.discontinuity = discontinuity;
        out.info.epoch = epoch.load(std::memory_order_relaxed);
        {
            std::lock_guard<std::mutex> guard(facts_mutex);
            out.info.time_base = facts.time_base;
        }
        out.info.reconnected = reconnected_pending;
        reconnected_pending = false;
        out.data = std::move(record.data);
        next_seq = record.seq + 1;
        last_seq.store(record.seq, std::memory_order_relaxed);
        overruns_total.fetch_add(overruns, std::memory_order_relaxed);
    }

    Packet next(int timeout_ms) {
        if (timeout_ms < -1)
            throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "timeout must be >= 0 ms, or -1 to wait forever");
        std::lock_guard<std::mutex> turn(next_mutex);
        return next_locked(timeout_ms);
    }

    bool try_next(Packet &out) {
        std::lock_guard<std::mutex> turn(next_mutex);
        if (poll_locked(out)) return true;
        if (!notifications) return false;
        // Read the bytes first, look again after: a packet written after this
        // look writes its byte after it, so the descriptor is readable again.
        std::shared_ptr<PacketAttachment> attached = current();
        if (attached && !attached->watch().drain_notifications() && reconnect)
            notifications->wait_for_successor();  // the dead socket would stay readable
        notifications->drain_folder_events();
        return poll_locked(out);
    }

    // next(0), without an exception when nothing is new (the common case of a poll).
    bool poll_locked(Packet &out) {
        std::shared_ptr<PacketAttachment> attached = current();
        if (attached && !closing.load(std::memory_order_relaxed)) {
            if (try_take(*attached, out)) return true;
            // A notify subscriber learns of a hang-up when try_next() reads its socket.
            if (!(notifications ? attached->watch().said_gone() : attached->watch().gone())) return false;
        }
        try {
            out = next_locked(0);
            return true;
        } catch (const Error &error) {
            if (error.status() == CUFRAMES_ERR_TIMEOUT) return false;
            throw;
        }
    }

    Packet next_locked(int timeout_ms) {
        const uint64_t deadline =
            timeout_ms < 0 ? UINT64_MAX : monotonic_ns() + static_cast<uint64_t>(timeout_ms) * 1'000'000ull;
        Packet packet;
        while (true) {
            std::shared_ptr<PacketAttachment> attached = current();
            if (!attached || closing.load(std::memory_order_relaxed))
                throw Error(CUFRAMES_ERR_STATE, "next() on a closed packet subscriber ('" + key + "')");
            const PacketRingHeader &header = attached->ring().header();
            // acquire: if the wake word already moved on, the check below sees the new packet.
            uint32_t word = header.wake_word.load(std::memory_order_acquire);
            if (try_take(*attached, packet)) return packet;
            if (attached->watch().gone()) {
                // What it wrote before it went is still ours to read.
                if (try_take(*attached, packet)) return packet;
                if (!reconnect) {
                    if (attached->watch().closed())
                        throw Error(CUFRAMES_ERR_DISCONNECTED, "the producer of '" + key + "' closed the stream");
                    throw Error(CUFRAMES_ERR_PRODUCER_DIED,
                                "the producer of '" + key + "' died without closing the stream (killed or crashed)");
                }
                reconnect_now(*attached, deadline, timeout_ms);
                continue;
            }
            uint64_t now = monotonic_ns();
            if (now >= deadline)
                throw Error(CUFRAMES_ERR_TIMEOUT,
                            "no packet from '" + key + "' within " + std::to_string(timeout_ms) + " ms");
            attached->watch().sleep(word, now, deadline);
        }
    }
};

PacketSubscriber::PacketSubscriber(const PacketSubscriberOptions &options) : impl_(std::make_unique<Impl>(options)) {}
PacketSubscriber::~PacketSubscriber() {
    if (impl_) impl_->close();
}
PacketSubscriber::PacketSubscriber(PacketSubscriber &&) noexcept = default;
PacketSubscriber &PacketSubscriber::operator=(PacketSubscriber &&other) noexcept {
    if (this != &other) {
        if (impl_) impl_->close();
        impl_ = std::move(other.impl_);
    }
    return *this;
}

Packet PacketSubscriber::next(int timeout_ms) { return impl_->next(timeout_ms); }
bool PacketSubscriber::try_next(Packet &out) { return impl_->try_next(out); }
int PacketSubscriber::notify_fd() const noexcept { return impl_->notifications ? impl_->notifications->fd() : -1; }
void PacketSubscriber::close() noexcept { impl_->close(); }
bool PacketSubscriber::closed() const noexcept { return impl_->current() == nullptr; }
const std::string &PacketSubscriber::key() const noexcept { return impl_->key; }
const std::string &PacketSubscriber::socket_path() const noexcept { return impl_->socket_path; }
uint64_t PacketSubscriber::ring_bytes() const noexcept { return impl_->ring_bytes.load(std::memory_order_relaxed); }
uint64_t PacketSubscriber::last_seq() const noexcept { return impl_->last_seq.load(std::memory_order_relaxed); }
uint64_t PacketSubscriber::overruns_total() const noexcept {
    return impl_->overruns_total.load(std::memory_order_relaxed);
}
uint64_t PacketSubscriber::epoch() const noexcept { return impl_->epoch.load(std::memory_order_relaxed); }
StreamFacts PacketSubscriber::facts() const {
    std::lock_guard<std::mutex> guard(impl_->facts_mutex);
    return impl_->facts;
}
bool PacketSubscriber::reconnect() const noexcept { return impl_->reconnect; }
uint64_t PacketSubscriber::reconnect_count() const noexcept {
    return impl_->reconnect_count.load(std::memory_order_relaxed);
}

}  // namespace cuframes
