// The peer side of the handshake, shared by frame subscribers, packet
// subscribers and observers: connecting to a producer's socket, the hello,
// reading a reject, and checking what a producer says about its stream.
#pragma once

#include <algorithm>
#include <atomic>
#include <string>

#include "clock.hpp"
#include "cuframes/error.hpp"

#include "cuframes/format.hpp"
#include "shm_layout.hpp"
#include "unique_fd.hpp"
#include "wire.hpp"

namespace cuframes {

// Connects to the key's socket, waiting up to timeout_ms (-1: forever) for a
// producer that is not up yet. Throws NOT_FOUND after the wait, PERMISSION.
UniqueFd connect_to_producer(const std::string &key, const std::string &path, int timeout_ms);

// Sends a hello in `role`, then returns the producer's answer, which is of
// this protocol version and not a reject (a reject becomes an Error with the
// producer's status and reason). Throws TIMEOUT, DISCONNECTED, PROTOCOL,
// VERSION_MISMATCH.
ReceivedMessage say_hello(int socket, HelloRole role, int timeout_ms, const std::string &peer);

// For a subscriber following its key across producer restarts: calls
// connect(slice_ms) in slices of at most 100 ms (so that a close() is noticed
// through `closing`) until it returns, keeping on while no producer is up or
// a new one died in its handshake. Throws TIMEOUT at the deadline, STATE once
// closing, or whatever else connect throws. `what` names the subscriber.
template <typename Connect>
auto wait_for_next_producer(Connect connect, const std::atomic<bool> &closing, uint64_t deadline, int timeout_ms,
                            const std::string &key, const std::string &what) -> decltype(connect(0)) {
    constexpr uint64_t kSliceMs = 100;
    while (true) {
        if (closing.load(std::memory_order_relaxed))
            throw Error(CUFRAMES_ERR_STATE, what + " of '" + key + "' closed while waiting for its producer to return");
        uint64_t now = monotonic_ns();
        if (now >= deadline)
            throw Error(CUFRAMES_ERR_TIMEOUT, "the producer of '" + key + "' has gone and none came back within " +
                                                  std::to_string(timeout_ms) + " ms");
        int slice_ms = static_cast<int>(std::min<uint64_t>((deadline - now) / 1'000'000 + 1, kSliceMs));
        try {
            return connect(slice_ms);
        } catch (const Error &error) {
            // Nobody listening yet (a connect's NOT_FOUND carries its errno; a
            // producer's refusal does not), or it died in the handshake.
            bool not_up = error.status() == CUFRAMES_ERR_NOT_FOUND && error.os_errno() != 0;
            if (!not_up && error.status() != CUFRAMES_ERR_DISCONNECTED) throw;
        }
    }
}

// Everything a peer acts on in a description is checked against what it
// computes itself; a producer's numbers are not trusted. Returns the layout.
FrameLayout validate_description(const StreamDescription &description);

// The shared header's fixed fields, checked against the announced
// description: throws PROTOCOL or VERSION_MISMATCH naming `peer`.
void validate_shared_header(const SharedHeader &header, uint32_t header_bytes, const StreamDescription &description,
                            const std::string &peer);

}  // namespace cuframes
