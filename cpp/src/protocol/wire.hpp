// Handshake messages on the key's SOCK_SEQPACKET Unix socket.
//
// peer -> producer   Hello, naming its role:
//   Frames:   producer answers Welcome, then Fds chunks (header memfd, lease
//             page, one descriptor per slot).
//   Packets:  producer answers PacketWelcome with one descriptor (the packet ring).
//   Observe:  producer answers Observation with the header, a snapshot of its
//             subscribers and the packet ring if any, then hangs up. An
//             observer holds no lease and is no subscriber: `cuframes stat`
//             reads a live producer without disturbing it.
// Any of them may be a single Reject instead.
// Every message starts with MessageHeader. Reject's layout is frozen across
// protocol versions so that a peer of another version can still read why it
// was refused.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <sys/types.h>
#include <type_traits>
#include <vector>

#include "base/unique_fd.hpp"
#include "cuframes/error.hpp"
#include "protocol/shm_layout.hpp"

namespace cuframes {

constexpr uint32_t kWireMagic = 0x4D524643u;  // "CFRM"
// Below SCM_MAX_FD (kScmMaxFd): smaller chunks keep each message's ancillary data small.
constexpr uint32_t kMaxFdsPerMessage = 64;
constexpr size_t kMaxMessageBody = 512;

enum class MessageType : uint16_t { Hello = 1, Welcome = 2, Reject = 3, Fds = 4, PacketWelcome = 5, Observation = 6 };

enum class HelloRole : uint32_t { Frames = 0, Packets = 1, Observe = 2 };

struct MessageHeader {
    uint32_t magic;
    uint16_t version;
    uint16_t type;
    uint32_t body_bytes;
    uint32_t fd_count;
};
static_assert(sizeof(MessageHeader) == 16);

struct HelloBody {
    uint32_t client_version;
    uint32_t role;   // HelloRole
    uint32_t flags;  // kHelloFlag* (v5); a producer refuses flags it does not know
    uint32_t reserved;
};
// v5: "write a byte on this socket after each frame (or packet)": a
// subscriber that waits in poll/epoll/asyncio instead of on the futex asks
// for it (SubscriberOptions::notify). Others cost the producer nothing.
constexpr uint32_t kHelloFlagNotify = 1u;
constexpr uint32_t kKnownHelloFlags = kHelloFlagNotify;
static_assert(sizeof(HelloBody) == 16);

struct WelcomeBody {
    StreamDescription stream;
    uint32_t header_bytes;
    uint32_t lease_page_bytes;
    uint32_t total_fds;  // 2 + slot_count: header, lease page, slots in order
    uint32_t subscriber_id;
    // v6: latest_seq when the producer counted this subscriber, before it mapped anything: where
    // a sequential subscriber starts (0: nothing published yet).
    uint64_t joined_seq;
};
static_assert(sizeof(WelcomeBody) == 216);

struct PacketWelcomeBody {
    uint64_t ring_bytes;  // the packet ring memfd, sent with this message
    uint64_t epoch;       // the producer instance's (StreamDescription::epoch)
    uint32_t subscriber_id;
    uint32_t reserved;
    StreamFacts facts;  // v4: the same as the frame stream's
};
static_assert(sizeof(PacketWelcomeBody) == 56);

// One row per connected subscriber, in the observation's snapshot memfd.
struct SubscriberRow {
    uint64_t id;
    uint32_t role;  // HelloRole
    uint32_t uid;
    int32_t pid;    // as the producer sees it (0 outside its PID namespace)
    uint32_t held;  // frames held now (lease entries in use)
    uint64_t frames_received;
    uint64_t frames_missed;
    uint64_t latency_ns;  // the subscriber's last publish-to-take latency, 0 if unknown
};
static_assert(sizeof(SubscriberRow) == 48);
constexpr uint64_t kMaxSubscriberRows = 2 * 1024;  // frame and packet subscribers together

struct ObservationBody {
    StreamDescription stream;
    uint32_t header_bytes;
    uint32_t max_subscribers;
    uint64_t packet_ring_bytes;  // 0: no packet ring (and no descriptor for it)
    uint32_t subscriber_rows;    // rows in the snapshot memfd
    uint32_t total_fds;          // header, snapshot, then the packet ring if any
    char description[128];       // free text from the producer (its source), NUL-terminated
};
static_assert(sizeof(ObservationBody) == 344);

struct RejectBody {
    uint32_t status;          // cuframes_status the subscriber should raise
    uint32_t server_version;  // the producer's protocol version
    char reason[248];         // NUL-terminated
};
static_assert(sizeof(RejectBody) == 256);

struct FdsBody {
    uint32_t first_index;
    uint32_t count;
};

static_assert(sizeof(WelcomeBody) <= kMaxMessageBody && sizeof(RejectBody) <= kMaxMessageBody &&
              sizeof(ObservationBody) <= kMaxMessageBody);

struct ReceivedMessage {
    MessageHeader header{};
    std::array<uint8_t, kMaxMessageBody> body{};
    size_t body_size = 0;
    std::vector<UniqueFd> fds;

    MessageType type() const { return static_cast<MessageType>(header.type); }

    // The body as T: throws PROTOCOL unless it is exactly sizeof(T) bytes.
    template <typename T>
    T body_as(const char *what) const {
        static_assert(std::is_trivially_copyable_v<T>);
        if (body_size != sizeof(T))
            throw Error(CUFRAMES_ERR_PROTOCOL, std::string(what) + " message has " + std::to_string(body_size) +
                                                   " bytes, expected " + std::to_string(sizeof(T)));
        T value;
        std::memcpy(&value, body.data(), sizeof(T));
        return value;
    }
};

// SCM_MAX_FD: the most descriptors the kernel takes in one message.
constexpr size_t kScmMaxFd = 253;

// One sendmsg of `size` bytes with fd_count (<= kScmMaxFd) descriptors as
// SCM_RIGHTS, retried on EINTR; no checks on the bytes. Returns what sendmsg
// returns (-1 with errno set). send_message is built on it; test harnesses
// that must send malformed messages use it directly.
ssize_t send_with_descriptors(int socket, const void *bytes, size_t size, const int *fds, size_t fd_count,
                              int flags) noexcept;

// Sends one message with fd_count descriptors attached. MSG_NOSIGNAL: a
// vanished peer gives an error, never SIGPIPE. Throws DISCONNECTED or OS.
void send_message(int socket, MessageType type, const void *body, uint32_t body_bytes, const int *fds = nullptr,
                  uint32_t fd_count = 0);

// Receives one message within timeout_ms (-1: no limit; 0: only if one is
// already queued). Validates the magic, the sizes, and that the attached
// descriptors are exactly the announced count; every received descriptor is
// owned (and closed on any error). Throws TIMEOUT, DISCONNECTED (peer closed)
// or PROTOCOL naming `peer`.
ReceivedMessage receive_message(int socket, int timeout_ms, const std::string &peer);

// Sends Reject(status, reason) and ignores failures: the peer may be gone.
void send_reject(int socket, Status status, const std::string &reason) noexcept;

}  // namespace cuframes
