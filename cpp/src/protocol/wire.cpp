#include "protocol/wire.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "cuframes/types.hpp"

namespace cuframes {
namespace {

// True when this process cannot open one more descriptor now.
bool out_of_descriptors() noexcept {
    int probe = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (probe >= 0) {
        ::close(probe);
        return false;
    }
    return errno == EMFILE || errno == ENFILE;
}

std::string descriptor_limit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return "unknown";
    return limit.rlim_cur == RLIM_INFINITY ? "unlimited" : std::to_string(limit.rlim_cur);
}

}  // namespace

ssize_t send_with_descriptors(int socket, const void *bytes, size_t size, const int *fds, size_t fd_count,
                              int flags) noexcept {
    if (fd_count > kScmMaxFd) {
        errno = EINVAL;
        return -1;
    }
    iovec io{const_cast<void *>(bytes), size};
    msghdr message{};
    message.msg_iov = &io;
    message.msg_iovlen = 1;
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * kScmMaxFd)> control{};
    if (fd_count > 0) {
        message.msg_control = control.data();
        message.msg_controllen = CMSG_SPACE(sizeof(int) * fd_count);
        cmsghdr *entry = CMSG_FIRSTHDR(&message);
        entry->cmsg_level = SOL_SOCKET;
        entry->cmsg_type = SCM_RIGHTS;
        entry->cmsg_len = CMSG_LEN(sizeof(int) * fd_count);
        std::memcpy(CMSG_DATA(entry), fds, sizeof(int) * fd_count);
    }
    ssize_t sent;
    do {
        sent = ::sendmsg(socket, &message, flags);
    } while (sent < 0 && errno == EINTR);
    return sent;
}

void send_message(int socket, MessageType type, const void *body, uint32_t body_bytes, const int *fds,
                  uint32_t fd_count) {
    if (body_bytes > kMaxMessageBody || fd_count > kMaxFdsPerMessage)
        throw Error(CUFRAMES_ERR_STATE, "internal: message too large to send");
    MessageHeader header{kWireMagic, static_cast<uint16_t>(kProtocolVersion), static_cast<uint16_t>(type), body_bytes,
                         fd_count};
    std::array<uint8_t, sizeof(MessageHeader) + kMaxMessageBody> buffer{};
    std::memcpy(buffer.data(), &header, sizeof header);
    if (body_bytes > 0) std::memcpy(buffer.data() + sizeof header, body, body_bytes);

    size_t size = sizeof header + body_bytes;
    ssize_t sent = send_with_descriptors(socket, buffer.data(), size, fds, fd_count, MSG_NOSIGNAL);
    if (sent < 0) {
        if (errno == EPIPE || errno == ECONNRESET)
            throw Error(CUFRAMES_ERR_DISCONNECTED, "peer closed the socket", errno);
        throw_os_error("sendmsg");
    }
    if (static_cast<size_t>(sent) != size)
        throw Error(CUFRAMES_ERR_OS, "sendmsg sent " + std::to_string(sent) + " of " + std::to_string(size) + " bytes");
}

ReceivedMessage receive_message(int socket, int timeout_ms, const std::string &peer) {
    pollfd waiter{socket, POLLIN, 0};
    int ready;
    do {
        ready = ::poll(&waiter, 1, timeout_ms);
    } while (ready < 0 && errno == EINTR);
    if (ready < 0) throw_os_error("poll on the socket of " + peer);
    if (ready == 0)
        throw Error(CUFRAMES_ERR_TIMEOUT, "no message from " + peer + " within " + std::to_string(timeout_ms) + " ms");

    // One extra byte detects a message longer than any valid one.
    std::array<uint8_t, sizeof(MessageHeader) + kMaxMessageBody + 1> buffer{};
    iovec io{buffer.data(), buffer.size()};
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage)> control{};
    msghdr message{};
    message.msg_iov = &io;
    message.msg_iovlen = 1;
    message.msg_control = control.data();
    message.msg_controllen = control.size();
    // A peer that closes with our message still unread in its queue resets
    // the connection, and Linux reports the reset before the messages that
    // peer sent first: a producer refusing a subscriber sends its Reject, and
    // the subscriber's hello can land just after the producer drained its
    // queue. The error is reported once, so read on for what the peer said.
    ssize_t received;
    bool reset = false;
    while (true) {
        received = ::recvmsg(socket, &message, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (received >= 0) break;
        if (errno == EINTR) continue;
        if (errno == ECONNRESET && !reset) {
            reset = true;
            continue;
        }
        if (reset || errno == ECONNRESET)
            throw Error(CUFRAMES_ERR_DISCONNECTED, peer + " reset the connection", ECONNRESET);
        throw_os_error("recvmsg from " + peer);
    }
    if (received == 0 && reset) throw Error(CUFRAMES_ERR_DISCONNECTED, peer + " reset the connection", ECONNRESET);

    // Own every descriptor first, so each error path below closes them.
    ReceivedMessage out;
    for (cmsghdr *entry = CMSG_FIRSTHDR(&message); entry != nullptr; entry = CMSG_NXTHDR(&message, entry)) {
        if (entry->cmsg_level != SOL_SOCKET || entry->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (entry->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(entry) + i * sizeof(int), sizeof fd);
            out.fds.emplace_back(fd);
        }
    }
    if (received == 0) throw Error(CUFRAMES_ERR_DISCONNECTED, peer + " closed the connection");
    if (message.msg_flags & MSG_CTRUNC) {
        // The kernel also truncates when it cannot install the descriptors
        // here: tell that apart from a peer that sent too many.
        if (out_of_descriptors())
            throw Error(CUFRAMES_ERR_LIMIT,
                        "this process is out of file descriptors (RLIMIT_NOFILE " + descriptor_limit() +
                            ") and could not receive those sent by " + peer + "; raise the limit (ulimit -n)",
                        EMFILE);
        throw Error(CUFRAMES_ERR_PROTOCOL, peer + " sent more descriptors than a message may carry");
    }
    if (message.msg_flags & MSG_TRUNC || static_cast<size_t>(received) > sizeof(MessageHeader) + kMaxMessageBody)
        throw Error(CUFRAMES_ERR_PROTOCOL, peer + " sent an oversized message");
    if (static_cast<size_t>(received) < sizeof(MessageHeader))
        throw Error(CUFRAMES_ERR_PROTOCOL, peer + " sent a " + std::to_string(received) + "-byte message (too short)");
    std::memcpy(&out.header, buffer.data(), sizeof out.header);
    if (out.header.magic != kWireMagic)
        throw Error(CUFRAMES_ERR_PROTOCOL, peer + " does not speak the cuframes protocol (bad magic)");
    out.body_size = static_cast<size_t>(received) - sizeof(MessageHeader);
    if (out.header.body_bytes != out.body_size)
        throw Error(CUFRAMES_ERR_PROTOCOL, peer + " sent a message whose length field disagrees with its size");
    if (out.header.fd_count != out.fds.size())
        throw Error(CUFRAMES_ERR_PROTOCOL, peer + " announced " + std::to_string(out.header.fd_count) +
                                               " descriptors but attached " + std::to_string(out.fds.size()));
    std::memcpy(out.body.data(), buffer.data() + sizeof(MessageHeader), out.body_size);
    return out;
}

void send_reject(int socket, Status status, const std::string &reason) noexcept {
    RejectBody body{};
    body.status = static_cast<uint32_t>(status);
    body.server_version = kProtocolVersion;
    std::strncpy(body.reason, reason.c_str(), sizeof(body.reason) - 1);
    try {
        send_message(socket, MessageType::Reject, &body, sizeof body);
    } catch (const Error &) {
        // The peer may already be gone; nothing else to tell it.
    }
}

}  // namespace cuframes
