#include "protocol/handshake_client.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "base/clock.hpp"
#include "base/paths.hpp"
#include "cuframes/error.hpp"
#include "cuframes/types.hpp"

namespace cuframes {
namespace {

bool is_known_status(uint32_t status) {
    return status >= CUFRAMES_ERR_INVALID_ARGUMENT && status <= CUFRAMES_ERR_PRODUCER_DIED;
}

}  // namespace

UniqueFd connect_to_producer(const std::string &key, const std::string &path, int timeout_ms) {
    sockaddr_un address = unix_address(path);
    uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : monotonic_ns() + static_cast<uint64_t>(timeout_ms) * 1'000'000ull;
    auto backoff = std::chrono::milliseconds(2);
    while (true) {
        // Non-blocking: with the producer's backlog full (a wedged producer),
        // a blocking connect would wait past any timeout; this one says
        // EAGAIN and is retried within the deadline like a missing producer.
        UniqueFd socket(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        if (!socket) throw_os_error("socket(AF_UNIX, SOCK_SEQPACKET)");
        if (::connect(socket.get(), reinterpret_cast<sockaddr *>(&address), sizeof address) == 0) {
            // The handshake's sends expect a blocking socket (its receives poll with their own timeouts).
            int flags = ::fcntl(socket.get(), F_GETFL);
            if (flags < 0 || ::fcntl(socket.get(), F_SETFL, flags & ~O_NONBLOCK) != 0)
                throw_os_error("fcntl(O_NONBLOCK) on the socket to " + path);
            return socket;
        }
        int err = errno;
        // ENOENT: no producer yet. ECONNREFUSED: a dead producer's socket
        // file, about to be replaced. Both are worth waiting out.
        if (err != ENOENT && err != ECONNREFUSED && err != EINTR && err != EAGAIN) {
            if (err == EACCES || err == EPERM)
                throw Error(CUFRAMES_ERR_PERMISSION,
                            "not allowed to connect to " + path + " (check the socket's mode and group)", err);
            throw_os_error("connect " + path, err);
        }
        if (monotonic_ns() >= deadline)
            throw Error(CUFRAMES_ERR_NOT_FOUND,
                        "no producer for key '" + key + "' at " + path + " (waited " + std::to_string(timeout_ms) +
                            " ms)",
                        err);
        std::this_thread::sleep_for(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(50));
    }
}

ReceivedMessage say_hello(int socket, HelloRole role, int timeout_ms, const std::string &peer, uint32_t flags) {
    HelloBody hello{kProtocolVersion, static_cast<uint32_t>(role), flags, 0};
    bool hung_up = false;
    try {
        send_message(socket, MessageType::Hello, &hello, sizeof hello);
    } catch (const Error &error) {
        // A producer that refuses at once (out of descriptors, too many
        // handshakes) may send its reject and close before our hello is out:
        // the reject is still queued for us, so read it before giving up.
        if (error.status() != CUFRAMES_ERR_DISCONNECTED) throw;
        hung_up = true;
    }
    ReceivedMessage reply = receive_message(socket, hung_up ? 0 : timeout_ms, peer);
    if (reply.type() == MessageType::Reject) {
        // Reject's layout is the same in every version: read it first.
        RejectBody reject = reply.body_as<RejectBody>("reject");
        reject.reason[sizeof reject.reason - 1] = '\0';
        Status status = is_known_status(reject.status) ? static_cast<Status>(reject.status) : CUFRAMES_ERR_PROTOCOL;
        throw Error(status, std::string(reject.reason));
    }
    if (reply.header.version != kProtocolVersion)
        throw Error(CUFRAMES_ERR_VERSION_MISMATCH, peer + " speaks cuframes protocol v" +
                                                       std::to_string(reply.header.version) + ", this peer v" +
                                                       std::to_string(kProtocolVersion));
    return reply;
}

FrameLayout validate_description(const StreamDescription &description) {
    if (description.backend != CUFRAMES_BACKEND_HOST && description.backend != CUFRAMES_BACKEND_CUDA)
        throw Error(CUFRAMES_ERR_PROTOCOL,
                    "the producer announced an unknown backend " + std::to_string(description.backend));
    if (!is_known_format(description.format))
        throw Error(CUFRAMES_ERR_PROTOCOL,
                    "the producer announced an unknown pixel format " + std::to_string(description.format));
    FrameLayout layout;
    try {
        layout = compute_layout(static_cast<PixelFormat>(description.format), description.width, description.height);
    } catch (const Error &error) {
        throw Error(CUFRAMES_ERR_PROTOCOL, std::string("the producer announced an invalid frame: ") + error.what());
    }
    if (description.plane_count != layout.plane_count ||
        std::memcmp(description.planes, layout.planes.data(), sizeof description.planes) != 0)
        throw Error(CUFRAMES_ERR_PROTOCOL, "the producer's plane layout differs from the one this subscriber computes");
    if ((description.flags & ~kKnownStreamFlags) != 0)
        throw Error(CUFRAMES_ERR_PROTOCOL,
                    "the producer announced unknown stream flags " + std::to_string(description.flags));
    if ((description.flags & kStreamFlagStreamOrdered) != 0 && description.backend != CUFRAMES_BACKEND_CUDA)
        throw Error(CUFRAMES_ERR_PROTOCOL, "the producer announced stream-ordered frames on the host backend");
    if (description.slot_count < 3 || description.slot_count > kMaxSlots)
        throw Error(CUFRAMES_ERR_PROTOCOL,
                    "the producer announced " + std::to_string(description.slot_count) + " slots");
    if (description.max_held < 1 || description.max_held > kMaxHeldLimit)
        throw Error(CUFRAMES_ERR_PROTOCOL, "the producer announced max_held " + std::to_string(description.max_held));
    if (std::string problem = stream_facts_problem(description.facts); !problem.empty())
        throw Error(CUFRAMES_ERR_PROTOCOL, "the producer announced bad stream facts: " + problem);
    if (description.slot_size < layout.bytes || description.slot_size > (uint64_t{1} << 34))
        throw Error(CUFRAMES_ERR_PROTOCOL, "the producer's slot size " + std::to_string(description.slot_size) +
                                               " does not fit the frame (" + std::to_string(layout.bytes) + " bytes)");
    return layout;
}

void validate_shared_header(const SharedHeader &shared, uint32_t header_bytes, const StreamDescription &description,
                            const std::string &peer) {
    // Each field is copied once, then checked: a producer rewriting the header
    // meanwhile cannot make us act on a value we did not check.
    uint64_t magic = shared.magic;
    uint32_t version = shared.version;
    uint32_t region_bytes = shared.header_bytes;
    uint32_t metadata_offset = shared.metadata_offset;
    uint32_t metadata_stride = shared.metadata_stride;
    StreamDescription repeated;
    std::memcpy(&repeated, &shared.stream, sizeof repeated);
    if (magic != kHeaderMagic)
        throw Error(CUFRAMES_ERR_PROTOCOL, peer + " sent a shared header with a bad magic number");
    if (version != kProtocolVersion)
        throw Error(CUFRAMES_ERR_VERSION_MISMATCH, peer + "'s shared header is version " + std::to_string(version));
    if (region_bytes != header_bytes || metadata_offset != sizeof(SharedHeader) || metadata_stride != kMetadataStride ||
        std::memcmp(&repeated, &description, sizeof repeated) != 0)
        throw Error(CUFRAMES_ERR_PROTOCOL, peer + "'s shared header disagrees with its welcome message");
}

}  // namespace cuframes
