// The server's door: which peers may start a handshake (credentials, the
// allow-lists, the handshake places and each uid's share of them), and the
// handshakes that are dropped (expired, hung up, evicted).
#include <poll.h>
#include <sys/socket.h>

#include <cstdio>

#include "base/clock.hpp"
#include "cuframes/error.hpp"
#include "producer/server.hpp"

namespace cuframes {

void Server::discard_pending_input(int socket) noexcept {
    uint8_t discard[sizeof(MessageHeader) + kMaxMessageBody];
    for (int i = 0; i < 4 && ::recv(socket, discard, sizeof discard, MSG_DONTWAIT) > 0; ++i) {}
}

void Server::refuse(int socket, Status status, const std::string &reason, LogRefusal log) noexcept {
    if (log == LogRefusal::Yes) log_refusal(reason);
    send_reject(socket, status, reason);
    discard_pending_input(socket);
}

void Server::refuse_and_drop(uint64_t token, Status status, const std::string &reason) {
    auto found = sessions_.find(token);
    if (found == sessions_.end()) return;
    refuse(found->second->socket.get(), status, reason, LogRefusal::No);
    drop(token);
}

bool Server::admit(int socket, PeerCredentials &peer) {
    // Credentials first, before the peer holds any handshake resource: a
    // refused peer costs one accept, its credentials, one reject sent
    // without waiting, and the close, however many times it comes back.
    try {
        peer = peer_credentials(socket);
    } catch (const Error &error) {
        log_refusal(std::string("cannot read its credentials: ") + error.what());
        return false;
    }
    if (stream_.access.restricted() && !stream_.access.allows(peer)) {
        refuse(socket, CUFRAMES_ERR_PERMISSION, stream_.access.refusal(peer, stream_.key), LogRefusal::Yes);
        return false;
    }
    if (!make_room_for(peer.uid)) {
        refuse(socket, CUFRAMES_ERR_LIMIT, too_many_handshakes_of(peer.uid), LogRefusal::No);
        return false;
    }
    if (pending_count_ >= kMaxPendingHandshakes) drop_hung_up_handshakes();
    if (pending_count_ >= kMaxPendingHandshakes) {
        // Too many silent peers: tell this one why instead of resetting it.
        refuse(socket, CUFRAMES_ERR_LIMIT, too_many_handshakes_reason_, LogRefusal::No);
        return false;
    }
    return true;
}

bool Server::make_room_for(uid_t uid) {
    const uint64_t accepted_before = monotonic_ns() + kHandshakeTimeoutNs - kEvictableAfterNs;
    size_t pending = 0;
    uint64_t oldest_evictable = 0;
    for (const auto &[token, session] : sessions_) {
        if (session->active || session->peer.uid != uid) continue;
        ++pending;
        // Evictable: hung up, or silent (nothing to read yet) since long
        // enough. One that has sent its hello is about to be answered.
        pollfd probe{session->socket.get(), POLLIN | POLLRDHUP, 0};
        bool readable = ::poll(&probe, 1, 0) > 0;
        bool hung_up = readable && (probe.revents & (POLLRDHUP | POLLHUP | POLLERR));
        bool silent_long = !readable && session->handshake_deadline_ns <= accepted_before;
        if ((hung_up || silent_long) && (oldest_evictable == 0 || token < oldest_evictable))
            oldest_evictable = token;  // tokens only grow: the smallest is the oldest
    }
    if (pending < kMaxPendingHandshakesPerUid) return true;
    if (oldest_evictable == 0) return false;
    // Told why, in case it was an honest peer after all: LIMIT is tried again.
    refuse_and_drop(oldest_evictable, CUFRAMES_ERR_LIMIT, too_many_handshakes_of(uid));
    return true;
}

std::string Server::too_many_handshakes_of(uid_t uid) const {
    return "the producer of '" + stream_.key + "' has " + std::to_string(kMaxPendingHandshakesPerUid) +
           " connections of uid " + std::to_string(uid) + " still in the handshake; try again later";
}

void Server::log_refusal(const std::string &reason) noexcept {
    uint64_t now = monotonic_ns();
    if (refusal_logged_ns_ != 0 && now - refusal_logged_ns_ < kRefusalLogIntervalNs) {
        ++refusals_not_logged_;
        return;
    }
    if (refusals_not_logged_ != 0)
        std::fprintf(stderr, "cuframes: refused %llu more peers of '%s' in the last second\n",
                     static_cast<unsigned long long>(refusals_not_logged_), stream_.key.c_str());
    std::fprintf(stderr, "cuframes: refused a subscriber: %s\n", reason.c_str());
    refusal_logged_ns_ = now;
    refusals_not_logged_ = 0;
}

void Server::drop_hung_up_handshakes() {
    // The backlog may be full of peers that connected and left at once; their
    // hang-ups are still queued behind this accept loop.
    std::vector<uint64_t> gone;
    for (const auto &[token, session] : sessions_) {
        if (session->active) continue;
        pollfd probe{session->socket.get(), POLLRDHUP, 0};
        if (::poll(&probe, 1, 0) > 0 && (probe.revents & (POLLRDHUP | POLLHUP | POLLERR))) gone.push_back(token);
    }
    for (uint64_t token : gone) drop(token);
}

void Server::drop_expired_handshakes() {
    uint64_t now = monotonic_ns();
    std::vector<uint64_t> expired;
    for (const auto &[token, session] : sessions_)
        if (!session->active && session->handshake_deadline_ns <= now) expired.push_back(token);
    for (uint64_t token : expired) drop(token);
}

}  // namespace cuframes
