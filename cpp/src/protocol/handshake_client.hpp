// The peer side of the handshake, shared by frame subscribers, packet
// subscribers and observers: connecting to a producer's socket, the hello,
// reading a reject, and checking what a producer says about its stream.
#pragma once

#include <time.h>

#include <algorithm>
#include <atomic>
#include <string>

#include "base/clock.hpp"
#include "cuframes/error.hpp"

#include "base/unique_fd.hpp"
#include "cuframes/format.hpp"
#include "protocol/shm_layout.hpp"
#include "protocol/wire.hpp"

namespace cuframes {

// Connects to the key's socket, waiting up to timeout_ms (-1: forever) for a
// producer that is not up yet. Throws NOT_FOUND after the wait, PERMISSION.
UniqueFd connect_to_producer(const std::string &key, const std::string &path, int timeout_ms);

// Whether a refusal may clear up by itself, so that a subscriber tries again
// within its connect timeout, as it does for a producer that is not up yet:
// a producer's Reject(LIMIT), which carries no errno. Every one of them names
// the producer's momentary state, which changes as other peers come and go:
// connections still in the handshake (all of them, or of one uid), its
// descriptors, its subscriber count (a subscriber restarting after a crash
// finds its former connection counted until the producer sees it hang up).
// A LIMIT with an errno is this process's own RLIMIT_NOFILE: waiting does not
// raise that. (python/cuframes/_slices.py applies the same rule.)
inline bool transient_refusal(const Error &error) noexcept {
    return error.status() == CUFRAMES_ERR_LIMIT && error.os_errno() == 0;
}

// attach(remaining_ms) until it returns, trying again after a transient
// refusal until timeout_ms (-1: forever) has passed; then that refusal is
// thrown, saying that it lasted. Anything else attach throws passes.
template <typename Attach>
auto attach_within(Attach attach, int timeout_ms) -> decltype(attach(0)) {
    const uint64_t deadline =
        timeout_ms < 0 ? UINT64_MAX : monotonic_ns() + static_cast<uint64_t>(timeout_ms) * 1'000'000ull;
    long backoff_ms = 2;  // the producer is busy: do not add to its load
    while (true) {
        uint64_t now = monotonic_ns();
        int remaining_ms = timeout_ms < 0 ? -1 : static_cast<int>((deadline > now ? deadline - now : 0) / 1'000'000);
        try {
            return attach(remaining_ms);
        } catch (const Error &error) {
            if (!transient_refusal(error)) throw;
            if (monotonic_ns() + static_cast<uint64_t>(backoff_ms) * 1'000'000ull >= deadline)
                throw Error(error.status(),
                            std::string(error.what()) + " (still refused when the connect timeout ran out)");
        }
        const timespec pause{0, backoff_ms * 1'000'000};
        ::nanosleep(&pause, nullptr);
        backoff_ms = std::min(backoff_ms * 2, 50L);
    }
}

// Sends a hello in `role`, then returns the producer's answer, which is of
// this protocol version and not a reject (a reject becomes an Error with the
// producer's status and reason). Throws TIMEOUT, DISCONNECTED, PROTOCOL,
// VERSION_MISMATCH.
// `flags`: kHelloFlag* (kHelloFlagNotify).
ReceivedMessage say_hello(int socket, HelloRole role, int timeout_ms, const std::string &peer, uint32_t flags = 0);

// For a subscriber following its key across producer restarts: calls
// connect(slice_ms) in slices of at most 100 ms (so that a close() is noticed
// through `closing`) until it returns an attachment that is_successor()
// accepts. It keeps on while no producer is up, a new one died in its
// handshake or refuses for now (transient_refusal), or the one reached is no
// successor (the old producer itself, still answering while it closes: the
// same epoch). Throws TIMEOUT at the deadline, STATE once closing,
// or whatever else connect throws. `what` names the subscriber.
template <typename Connect, typename IsSuccessor>
auto wait_for_next_producer(Connect connect, IsSuccessor is_successor, const std::atomic<bool> &closing,
                            uint64_t deadline, int timeout_ms, const std::string &key, const std::string &what)
    -> decltype(connect(0)) {
    constexpr uint64_t kSliceMs = 100;
    // Between two looks at a producer that is not the successor: it is going
    // away, which takes it milliseconds.
    constexpr timespec kNotYetPause{0, 5'000'000};
    // One look even when the deadline has passed: a poll (timeout 0) takes a
    // successor that is up already.
    for (bool first = true;; first = false) {
        if (closing.load(std::memory_order_relaxed))
            throw Error(CUFRAMES_ERR_STATE, what + " of '" + key + "' closed while waiting for its producer to return");
        uint64_t now = monotonic_ns();
        if (now >= deadline && !first)
            throw Error(CUFRAMES_ERR_TIMEOUT, "the producer of '" + key + "' has gone and none came back within " +
                                                  std::to_string(timeout_ms) + " ms");
        int slice_ms =
            now >= deadline ? 0 : static_cast<int>(std::min<uint64_t>((deadline - now) / 1'000'000 + 1, kSliceMs));
        try {
            auto attached = connect(slice_ms);
            if (is_successor(*attached)) return attached;
        } catch (const Error &error) {
            // Nobody listening yet (a connect's NOT_FOUND carries its errno; a
            // producer's refusal does not), or it died in the handshake: the
            // connect waited already. A transient refusal: pause, as below.
            bool not_up = error.status() == CUFRAMES_ERR_NOT_FOUND && error.os_errno() != 0;
            if (not_up || error.status() == CUFRAMES_ERR_DISCONNECTED) continue;
            if (!transient_refusal(error)) throw;
        }
        ::nanosleep(&kNotYetPause, nullptr);
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
