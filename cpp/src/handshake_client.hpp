// The peer side of the handshake, shared by frame subscribers, packet
// subscribers and observers: connecting to a producer's socket, the hello,
// reading a reject, and checking what a producer says about its stream.
#pragma once

#include <string>

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

// Everything a peer acts on in a description is checked against what it
// computes itself; a producer's numbers are not trusted. Returns the layout.
FrameLayout validate_description(const StreamDescription &description);

// The shared header's fixed fields, checked against the announced
// description: throws PROTOCOL or VERSION_MISMATCH naming `peer`.
void validate_shared_header(const SharedHeader &header, uint32_t header_bytes, const StreamDescription &description,
                            const std::string &peer);

}  // namespace cuframes
