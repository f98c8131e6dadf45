#include "producer/server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>

#include "base/clock.hpp"
#include "base/memfd.hpp"
#include "cuframes/error.hpp"
#include "cuframes/types.hpp"

namespace cuframes {
namespace {

constexpr uint64_t kListenerToken = 0;
constexpr uint64_t kStopToken = 1;
// After EMFILE/ENFILE on accept, stop accepting for this long instead of spinning.
constexpr uint64_t kAcceptBackoffNs = 100'000'000ull;

void epoll_add(int epoll, int fd, uint64_t token, uint32_t events) {
    epoll_event event{};
    event.events = events;
    event.data.u64 = token;
    if (::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) != 0) throw_os_error("epoll_ctl(ADD)");
}

}  // namespace

Server::Server(UniqueFd listener, ServedStream stream) : stream_(std::move(stream)), listener_(std::move(listener)) {
    epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll_) throw_os_error("epoll_create1");
    stop_event_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!stop_event_) throw_os_error("eventfd");
    epoll_add(epoll_.get(), listener_.get(), kListenerToken, EPOLLIN);
    epoll_add(epoll_.get(), stop_event_.get(), kStopToken, EPOLLIN);
    // Best effort: without the reserve, a peer refused for lack of descriptors
    // times out instead of hearing why.
    reserve_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    too_many_handshakes_reason_ = "the producer of '" + stream_.key + "' has " + std::to_string(kMaxPendingHandshakes) +
                                  " connections still in the handshake; try again later";
    out_of_descriptors_reason_ = "the producer of '" + stream_.key +
                                 "' is out of file descriptors (RLIMIT_NOFILE); it keeps serving its subscribers, "
                                 "try again later";
    thread_ = std::thread([this] { run(); });
}

void Server::stop_listening() noexcept {
    if (!stopped_.exchange(true)) {
        uint64_t one = 1;
        if (::write(stop_event_.get(), &one, sizeof one) != sizeof one)
            std::fprintf(stderr, "cuframes: cannot signal the server thread: %s\n", std::strerror(errno));
        if (thread_.joinable()) thread_.join();
    }
    std::lock_guard<std::mutex> lock(sessions_mutex_);
    // Peers still in the handshake would never be answered now: hang up on
    // them, as closing the listener does for those not accepted yet.
    for (auto it = sessions_.begin(); it != sessions_.end();) {
        if (it->second->active) {
            ++it;
            continue;
        }
        it = sessions_.erase(it);
        --pending_count_;
    }
    listener_.reset();
}

void Server::stop() noexcept {
    stop_listening();
    if (disconnected_all_.exchange(true)) return;
    std::lock_guard<std::mutex> lock(sessions_mutex_);
    sessions_.clear();  // closes every socket: subscribers see the hang-up
    active_count_.store(0, std::memory_order_relaxed);
    packet_count_.store(0, std::memory_order_relaxed);
}

SlotMask Server::leased_slots() const {
    SlotMask held;
    std::lock_guard<std::mutex> lock(sessions_mutex_);
    for (const auto &[token, session] : sessions_) {
        if (!session->active || session->role != HelloRole::Frames) continue;
        const auto *page = static_cast<const LeasePage *>(session->lease_page.data());
        // The page is the subscriber's to write: only our own max_held bounds
        // the scan, and slot numbers out of range are ignored.
        for (uint32_t i = 0; i < stream_.description.max_held; ++i) {
            uint64_t ref = page->leases[i].load(std::memory_order_seq_cst);
            if (ref == 0) continue;
            uint32_t slot = slot_ref_slot(ref);
            if (slot < stream_.description.slot_count) held.set(slot);
        }
    }
    return held;
}

void Server::run() noexcept {
    epoll_event events[32];
    while (true) {
        int count = ::epoll_wait(epoll_.get(), events, 32, next_timeout_ms());
        if (count < 0) {
            if (errno == EINTR) continue;
            // Keep serving: leases of subscribers that hang up must still be
            // dropped. Back off so a persistent failure does not spin.
            std::fprintf(stderr, "cuframes: epoll_wait failed on key '%s': %s\n", stream_.key.c_str(),
                         std::strerror(errno));
            ::usleep(100'000);
            continue;
        }
        for (int i = 0; i < count; ++i) {
            uint64_t token = events[i].data.u64;
            if (token == kStopToken) return;
            try {
                if (token == kListenerToken)
                    accept_pending();
                else
                    on_session_event(token, events[i].events);
            } catch (const std::exception &error) {
                // One subscriber's failure never stops the server.
                std::fprintf(stderr, "cuframes: key '%s': %s\n", stream_.key.c_str(), error.what());
                if (token != kListenerToken) drop(token);
            }
        }
        try {
            drop_expired_handshakes();
            resume_accepting_if_due();
        } catch (const std::exception &error) {
            std::fprintf(stderr, "cuframes: key '%s': %s\n", stream_.key.c_str(), error.what());
        }
    }
}

int Server::next_timeout_ms() const {
    uint64_t now = monotonic_ns();
    uint64_t next = UINT64_MAX;
    for (const auto &[token, session] : sessions_)
        if (!session->active) next = std::min(next, session->handshake_deadline_ns);
    if (accept_paused_until_ns_ != 0) next = std::min(next, accept_paused_until_ns_);
    if (next == UINT64_MAX) return -1;
    return next <= now ? 0 : static_cast<int>((next - now) / 1'000'000 + 1);
}

void Server::accept_pending() {
    while (true) {
        int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                int err = errno;
                if (err == EMFILE && reserve_fd_) {
                    // Linux reserves the descriptor before it looks at the
                    // queue, so EMFILE can mean "nobody waiting" too.
                    Refusal refusal = refuse_for_lack_of_descriptors();
                    if (refusal == Refusal::NobodyWaiting) return;
                    // Refusing frees nothing for long, so keep going only while
                    // each round both refuses a peer and gets the reserve back.
                    if (refusal == Refusal::Refused && reserve_fd_) continue;
                }
                std::fprintf(stderr, "cuframes: key '%s' cannot accept a subscriber: %s\n", stream_.key.c_str(),
                             std::strerror(err));
                pause_accepting();
                return;
            }
            throw_os_error("accept on " + stream_.key);
        }
        UniqueFd socket(fd);
        PeerCredentials peer;
        if (!admit(socket.get(), peer)) continue;  // refused: closes it
        auto session = std::make_unique<Session>();
        session->socket = std::move(socket);
        session->peer = std::move(peer);
        session->handshake_deadline_ns = monotonic_ns() + kHandshakeTimeoutNs;
        uint64_t token = next_token_++;
        epoll_add(epoll_.get(), session->socket.get(), token, EPOLLIN | EPOLLRDHUP);
        std::lock_guard<std::mutex> lock(sessions_mutex_);
        sessions_.emplace(token, std::move(session));
        ++pending_count_;
    }
}

Server::Refusal Server::refuse_for_lack_of_descriptors() noexcept {
    reserve_fd_.reset();
    UniqueFd peer(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    Refusal refusal = Refusal::Failed;
    if (peer) {
        refuse(peer.get(), CUFRAMES_ERR_LIMIT, out_of_descriptors_reason_, LogRefusal::Yes);
        refusal = Refusal::Refused;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        refusal = Refusal::NobodyWaiting;
    }
    peer.reset();
    reserve_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    return refusal;
}

void Server::pause_accepting() {
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listener_.get(), nullptr) != 0) throw_os_error("epoll_ctl(DEL)");
    accept_paused_until_ns_ = monotonic_ns() + kAcceptBackoffNs;
}

void Server::resume_accepting_if_due() {
    if (accept_paused_until_ns_ == 0 || monotonic_ns() < accept_paused_until_ns_) return;
    accept_paused_until_ns_ = 0;
    epoll_add(epoll_.get(), listener_.get(), kListenerToken, EPOLLIN);
}

void Server::on_session_event(uint64_t token, uint32_t events) {
    auto found = sessions_.find(token);
    if (found == sessions_.end()) return;
    Session &session = *found->second;
    if (!session.active) {
        if (!(events & EPOLLIN)) {
            drop(token);
            return;
        }
        try {
            handshake(session, token);
        } catch (const Error &error) {
            // Tell the subscriber why (no descriptors, a bad hello...), then let
            // it go. Our own EMFILE must not read as the subscriber's.
            bool out_of_descriptors = error.os_errno() == EMFILE || error.os_errno() == ENFILE;
            refuse_and_drop(token, error.status(), out_of_descriptors ? out_of_descriptors_reason_ : error.what());
        }
        return;
    }
    // After the handshake a subscriber sends nothing: any readable event is
    // its hang-up (or a protocol violation); either way it is dropped.
    drop(token);
}

void Server::handshake(Session &session, uint64_t token) {
    // The peer's credentials were checked at accept (accept_pending).
    ReceivedMessage hello = receive_message(session.socket.get(), 0, "a subscriber of '" + stream_.key + "'");
    if (hello.type() != MessageType::Hello || !hello.fds.empty()) {
        refuse_and_drop(token, CUFRAMES_ERR_PROTOCOL, "expected a hello message without descriptors");
        return;
    }
    HelloBody body{};
    if (hello.header.version == kProtocolVersion) body = hello.body_as<HelloBody>("hello");
    if (hello.header.version != kProtocolVersion || body.client_version != kProtocolVersion) {
        refuse_and_drop(token, CUFRAMES_ERR_VERSION_MISMATCH,
                        "the producer of '" + stream_.key + "' speaks cuframes protocol v" +
                            std::to_string(kProtocolVersion) + ", the subscriber v" +
                            std::to_string(hello.header.version));
        return;
    }
    if ((body.flags & ~kKnownHelloFlags) != 0 || body.reserved != 0) {
        send_reject(session.socket.get(), CUFRAMES_ERR_PROTOCOL,
                    "unknown flags " + std::to_string(body.flags) + " in the hello (or a non-zero reserved field)");
        drop(token);
        return;
    }
    session.wants_notify = (body.flags & kHelloFlagNotify) != 0;
    switch (static_cast<HelloRole>(body.role)) {
        case HelloRole::Frames: welcome_frames(session, token); return;
        case HelloRole::Packets: welcome_packets(session, token); return;
        case HelloRole::Observe: answer_observer(session, token); return;
    }
    refuse_and_drop(token, CUFRAMES_ERR_PROTOCOL, "unknown role " + std::to_string(body.role) + " in the hello");
}

void Server::activate(Session &session, HelloRole role) {
    // Counted before the welcome goes out, so that by the time the subscriber
    // is attached the producer already reports it (and scans its leases).
    std::lock_guard<std::mutex> lock(sessions_mutex_);
    session.active = true;
    session.role = role;
    --pending_count_;
    (role == HelloRole::Frames ? active_count_ : packet_count_).fetch_add(1, std::memory_order_relaxed);
}

void Server::welcome_frames(Session &session, uint64_t token) {
    if (active_count_.load(std::memory_order_relaxed) >= stream_.max_subscribers) {
        refuse_and_drop(token, CUFRAMES_ERR_LIMIT,
                        "key '" + stream_.key + "' already has its maximum of " +
                            std::to_string(stream_.max_subscribers) + " subscribers (max_subscribers)");
        return;
    }

    UniqueFd lease_fd = create_sealed_memfd("cuframes-lease", kLeasePageBytes);
    seal_final(lease_fd.get(), false, "a lease page");  // the subscriber writes it
    MemoryMap lease_page(lease_fd.get(), kLeasePageBytes, true, "a lease page");
    auto *page = new (lease_page.data()) LeasePage{};
    page->magic = kLeasePageMagic;
    page->version = kProtocolVersion;
    page->max_held = stream_.description.max_held;
    {
        std::lock_guard<std::mutex> lock(sessions_mutex_);
        session.lease_page = std::move(lease_page);
    }
    // Read before the subscriber is counted: every frame a producer publishes once it sees the
    // subscriber (subscriber_count) comes after joined_seq, so a sequential subscriber that starts
    // there gets it, however long it then takes to map the slots (a CUDA import: ~100 ms).
    const uint64_t joined_seq = stream_.latest_seq->load(std::memory_order_acquire);
    activate(session, HelloRole::Frames);

    WelcomeBody welcome{};
    welcome.joined_seq = joined_seq;
    welcome.stream = stream_.description;
    welcome.header_bytes = stream_.header_bytes;
    welcome.lease_page_bytes = kLeasePageBytes;
    welcome.total_fds = 2 + static_cast<uint32_t>(stream_.slot_fds.size());
    welcome.subscriber_id = static_cast<uint32_t>(token);
    send_message(session.socket.get(), MessageType::Welcome, &welcome, sizeof welcome);

    std::vector<int> fds{stream_.header_fd, lease_fd.get()};
    fds.insert(fds.end(), stream_.slot_fds.begin(), stream_.slot_fds.end());
    for (uint32_t first = 0; first < fds.size(); first += kMaxFdsPerMessage) {
        FdsBody chunk{first, std::min<uint32_t>(kMaxFdsPerMessage, static_cast<uint32_t>(fds.size()) - first)};
        if (first + chunk.count < fds.size())
            send_message(session.socket.get(), MessageType::Fds, &chunk, sizeof chunk, fds.data() + first, chunk.count);
        else
            send_last_message(session, MessageType::Fds, &chunk, sizeof chunk, fds.data() + first, chunk.count);
    }
}

void Server::send_last_message(Session &session, MessageType type, const void *body, uint32_t body_bytes,
                               const int *fds, uint32_t fd_count) {
    std::lock_guard<std::mutex> lock(sessions_mutex_);
    send_message(session.socket.get(), type, body, body_bytes, fds, fd_count);
    if (!session.wants_notify) return;
    session.notifying = true;
    (session.role == HelloRole::Frames ? notified_frames_ : notified_packets_).fetch_add(1, std::memory_order_relaxed);
}

void Server::notify(HelloRole role) noexcept {
    static const char kTick = 0;
    std::lock_guard<std::mutex> lock(sessions_mutex_);  // drop() closes sockets under it: no fd is reused meanwhile
    for (const auto &[token, session] : sessions_) {
        if (!session->notifying || session->role != role) continue;
        if (::send(session->socket.get(), &kTick, 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1) continue;
        int err = errno;
        // Full: a byte is waiting already. Gone: the server thread sees the
        // hang-up and drops the session. Anything else is worth a line.
        if (err == EAGAIN || err == EWOULDBLOCK || err == EPIPE || err == ECONNRESET || err == EINTR) continue;
        uint64_t now = monotonic_ns();
        if (now - notify_failure_logged_ns_ < kRefusalLogIntervalNs) continue;
        notify_failure_logged_ns_ = now;
        std::fprintf(stderr, "cuframes: notifying a subscriber of '%s' failed: %s\n", stream_.key.c_str(),
                     std::strerror(err));
    }
}

void Server::welcome_packets(Session &session, uint64_t token) {
    if (stream_.packet_ring_fd < 0) {
        refuse_and_drop(token, CUFRAMES_ERR_NOT_FOUND,
                        "the producer of '" + stream_.key + "' publishes no packets (it has no packet ring)");
        return;
    }
    if (packet_count_.load(std::memory_order_relaxed) >= stream_.max_subscribers) {
        refuse_and_drop(token, CUFRAMES_ERR_LIMIT,
                        "key '" + stream_.key + "' already has its maximum of " +
                            std::to_string(stream_.max_subscribers) + " packet subscribers (max_subscribers)");
        return;
    }
    activate(session, HelloRole::Packets);
    PacketWelcomeBody welcome{};
    welcome.ring_bytes = stream_.packet_ring_bytes;
    welcome.epoch = stream_.description.epoch;
    welcome.facts = stream_.description.facts;
    welcome.subscriber_id = static_cast<uint32_t>(token);
    int fd = stream_.packet_ring_fd;
    send_last_message(session, MessageType::PacketWelcome, &welcome, sizeof welcome, &fd, 1);
}

UniqueFd Server::subscriber_snapshot(uint32_t &rows) const {
    std::vector<SubscriberRow> table;
    {
        std::lock_guard<std::mutex> lock(sessions_mutex_);
        for (const auto &[token, session] : sessions_) {
            if (!session->active) continue;
            SubscriberRow row{};
            row.id = token;
            row.role = static_cast<uint32_t>(session->role);
            row.uid = session->peer.uid;
            row.pid = session->peer.pid;
            if (session->role == HelloRole::Frames) {
                // The subscriber's own counters: shown, never acted on.
                const auto *page = static_cast<const LeasePage *>(session->lease_page.data());
                for (uint32_t i = 0; i < stream_.description.max_held; ++i)
                    if (page->leases[i].load(std::memory_order_relaxed) != 0) ++row.held;
                row.frames_received = page->frames_received.load(std::memory_order_relaxed);
                row.frames_missed = page->frames_missed.load(std::memory_order_relaxed);
                row.latency_ns = page->last_latency_ns.load(std::memory_order_relaxed);
            }
            table.push_back(row);
        }
    }
    rows = static_cast<uint32_t>(table.size());
    // Never empty: a memfd of size 0 cannot be mapped.
    uint64_t bytes = std::max<uint64_t>(1, table.size()) * sizeof(SubscriberRow);
    UniqueFd snapshot = create_sealed_memfd("cuframes-subscribers", bytes);
    {
        MemoryMap map(snapshot.get(), bytes, true, "the subscriber snapshot");
        if (!table.empty()) std::memcpy(map.data(), table.data(), table.size() * sizeof(SubscriberRow));
    }
    seal_final(snapshot.get(), true, "the subscriber snapshot");
    return snapshot;
}

void Server::answer_observer(Session &session, uint64_t token) {
    ObservationBody body{};
    UniqueFd snapshot = subscriber_snapshot(body.subscriber_rows);
    body.stream = stream_.description;
    body.header_bytes = stream_.header_bytes;
    body.max_subscribers = stream_.max_subscribers;
    body.packet_ring_bytes = stream_.packet_ring_fd >= 0 ? stream_.packet_ring_bytes : 0;
    std::snprintf(body.description, sizeof body.description, "%s", stream_.producer_note.c_str());
    std::vector<int> fds{stream_.header_fd, snapshot.get()};
    if (stream_.packet_ring_fd >= 0) fds.push_back(stream_.packet_ring_fd);
    body.total_fds = static_cast<uint32_t>(fds.size());
    send_message(session.socket.get(), MessageType::Observation, &body, sizeof body, fds.data(),
                 static_cast<uint32_t>(fds.size()));
    // One answer, then the observer is on its own: what it maps stays valid.
    drop(token);
}

void Server::drop(uint64_t token) {
    std::lock_guard<std::mutex> lock(sessions_mutex_);
    auto found = sessions_.find(token);
    if (found == sessions_.end()) return;
    // EPOLL_CTL_DEL can only fail here if the fd is already gone from the set,
    // which closing it below makes moot.
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, found->second->socket.get(), nullptr);
    if (found->second->active)
        (found->second->role == HelloRole::Frames ? active_count_ : packet_count_)
            .fetch_sub(1, std::memory_order_relaxed);
    if (found->second->notifying)
        (found->second->role == HelloRole::Frames ? notified_frames_ : notified_packets_)
            .fetch_sub(1, std::memory_order_relaxed);
    if (!found->second->active) --pending_count_;
    sessions_.erase(found);
}

}  // namespace cuframes
