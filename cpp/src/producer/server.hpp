// The producer's listening side: a thread that accepts subscribers on the
// key's socket, runs the handshake, hands out the descriptors, gives each
// subscriber a lease page, and notices when a subscriber goes away.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/memory_map.hpp"
#include "base/peer_credentials.hpp"
#include "base/unique_fd.hpp"
#include "protocol/ring.hpp"
#include "protocol/wire.hpp"

namespace cuframes {

// What every subscriber receives. The descriptors stay owned by the caller
// and must outlive the Server.
struct ServedStream {
    StreamDescription description{};
    uint32_t header_bytes = 0;
    int header_fd = -1;  // read-only descriptor of the shared header
    std::vector<int> slot_fds;
    uint32_t max_subscribers = 0;
    AccessPolicy access;  // checked against each peer's credentials before anything is sent
    std::string key;
    std::string producer_note;  // free text shown to observers (PublisherOptions::description)
    int packet_ring_fd = -1;    // read-only descriptor of the packet ring; -1: none
    uint64_t packet_ring_bytes = 0;
    // The header's latest_seq (required), read as each frame subscriber is counted (WelcomeBody::joined_seq).
    const std::atomic<uint64_t> *latest_seq = nullptr;
};

class Server {
public:
    // listener: a bound, listening, non-blocking SOCK_SEQPACKET socket.
    Server(UniqueFd listener, ServedStream stream);
    ~Server() { stop(); }
    Server(const Server &) = delete;
    Server &operator=(const Server &) = delete;

    // Stops the thread, closes the listening socket and drops the peers still
    // in their handshake; connected subscribers stay until stop(). A producer
    // that is closing calls it before it marks its header closed, so that a
    // subscriber woken by that mark can never reach this producer again and
    // take it for its own successor. Idempotent.
    void stop_listening() noexcept;
    // stop_listening(), then disconnects every subscriber. Idempotent.
    void stop() noexcept;
    // Slots named by any connected subscriber's leases (seq_cst loads: the
    // producer half of the lease protocol, see ring.hpp).
    SlotMask leased_slots() const;
    // Frame subscribers (they hold leases); packet subscribers apart.
    uint32_t subscriber_count() const noexcept { return active_count_.load(std::memory_order_relaxed); }
    uint32_t packet_subscriber_count() const noexcept { return packet_count_.load(std::memory_order_relaxed); }
    // Subscribers of `role` (Frames or Packets) that asked to be told of each
    // frame or packet through their socket (kHelloFlagNotify). 0 costs nothing.
    uint32_t notified_count(HelloRole role) const noexcept {
        return (role == HelloRole::Frames ? notified_frames_ : notified_packets_).load(std::memory_order_relaxed);
    }
    // Writes one byte to the socket of each of them. Never blocks: the byte
    // of a subscriber whose socket is full is not needed, as that socket is
    // readable already. Call after the frame or packet is announced.
    void notify(HelloRole role) noexcept;

private:
    // A peer that connects and says nothing is dropped after this.
    static constexpr uint64_t kHandshakeTimeoutNs = 2'000'000'000ull;
    // Connections still in the handshake; more are closed at once, so a flood
    // of idle connections cannot exhaust the producer's descriptors.
    static constexpr size_t kMaxPendingHandshakes = 32;
    // Of those, what one uid may hold: well below the whole, so that one
    // allowed but misbehaving uid cannot take every place from the others.
    // Past it, its oldest connection silent for kEvictableAfterNs makes room.
    static constexpr size_t kMaxPendingHandshakesPerUid = 8;
    // An honest peer sends its hello right after it connects; one silent this
    // long is a flood's, or a peer so slow that trying again costs it little.
    static constexpr uint64_t kEvictableAfterNs = 100'000'000ull;
    // Refused peers are logged at most once a second: a flood of them must
    // not flood the producer's log.
    static constexpr uint64_t kRefusalLogIntervalNs = 1'000'000'000ull;

    struct Session {
        UniqueFd socket;
        MemoryMap lease_page;  // frame subscribers: mapped once the handshake succeeded
        uint64_t handshake_deadline_ns = 0;
        bool active = false;
        HelloRole role = HelloRole::Frames;
        PeerCredentials peer;
        bool wants_notify = false;  // its hello asked for kHelloFlagNotify
        bool notifying = false;     // notify() reaches it: its handshake is all sent
    };

    void run() noexcept;
    void accept_pending();
    // Checks a peer just accepted (server_admission.cpp): true when it may
    // start a handshake, with its credentials in `peer`; otherwise it was
    // told why, and the caller closes it.
    bool admit(int socket, PeerCredentials &peer);
    // Reads whatever the peer already sent: closing a socket with unread data
    // resets the connection, and the peer would never read our reject.
    static void discard_pending_input(int socket) noexcept;
    // Refusing a peer (server_admission.cpp): a Reject saying why, sent
    // without waiting, then its pending input read (above); the caller closes
    // the socket. Logged (log_refusal) when `log` says so.
    enum class LogRefusal { No, Yes };
    void refuse(int socket, Status status, const std::string &reason, LogRefusal log) noexcept;
    // refuse() a peer in the handshake (it hears why: not logged), then drop it.
    void refuse_and_drop(uint64_t token, Status status, const std::string &reason);
    // Accepts one peer on the reserve descriptor and rejects it with LIMIT.
    enum class Refusal { Refused, NobodyWaiting, Failed };
    Refusal refuse_for_lack_of_descriptors() noexcept;
    void on_session_event(uint64_t token, uint32_t events);
    void handshake(Session &session, uint64_t token);
    // The three answers to a hello, by role.
    void welcome_frames(Session &session, uint64_t token);
    void welcome_packets(Session &session, uint64_t token);
    void answer_observer(Session &session, uint64_t token);
    UniqueFd subscriber_snapshot(uint32_t &rows) const;
    void activate(Session &session, HelloRole role);
    // Sends the handshake's last message, then lets notify() reach the
    // session (if it asked), both under sessions_mutex_: no notification byte
    // can precede the message, and a frame announced before it, whose
    // notification this session missed, is visible to the subscriber's first look.
    void send_last_message(Session &session, MessageType type, const void *body, uint32_t body_bytes,
                           const int *fds = nullptr, uint32_t fd_count = 0);
    void drop(uint64_t token);
    void drop_expired_handshakes();
    void drop_hung_up_handshakes();
    // Whether a new peer of `uid` may start a handshake: yes while that uid
    // holds fewer than its share of them, else once its oldest hung-up or
    // long-silent one is refused with LIMIT; no when none of them is.
    bool make_room_for(uid_t uid);
    std::string too_many_handshakes_of(uid_t uid) const;
    void log_refusal(const std::string &reason) noexcept;
    void pause_accepting();
    void resume_accepting_if_due();
    int next_timeout_ms() const;

    ServedStream stream_;
    UniqueFd listener_;
    UniqueFd epoll_;
    UniqueFd stop_event_;
    // An open /dev/null held in reserve: when accept() fails for lack of
    // descriptors, closing it lets us accept the peer once, just to tell it
    // why, instead of leaving it to time out in the handshake.
    UniqueFd reserve_fd_;
    std::string out_of_descriptors_reason_;
    std::string too_many_handshakes_reason_;  // built up front: no allocation when out of resources
    std::thread thread_;
    std::atomic<bool> stopped_{false};           // the thread was told to stop
    std::atomic<bool> disconnected_all_{false};  // stop() ran
    std::atomic<uint32_t> active_count_{0};      // frame subscribers
    std::atomic<uint32_t> packet_count_{0};      // packet subscribers
    std::atomic<uint32_t> notified_frames_{0};   // of them, those notify() writes to
    std::atomic<uint32_t> notified_packets_{0};
    uint64_t notify_failure_logged_ns_ = 0;  // notify() logs an unexpected failure at most once a second
    uint64_t next_token_ = 2;                // 0: listener, 1: stop event
    size_t pending_count_ = 0;               // sessions still in the handshake (server thread only)
    uint64_t accept_paused_until_ns_ = 0;
    uint64_t refusal_logged_ns_ = 0;    // when a refused peer was last logged
    uint64_t refusals_not_logged_ = 0;  // refused since, not logged

    mutable std::mutex sessions_mutex_;  // guards sessions_ against leased_slots()
    std::unordered_map<uint64_t, std::unique_ptr<Session>> sessions_;
};

}  // namespace cuframes
