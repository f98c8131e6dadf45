// Who is on the other end of a Unix socket, and whether the producer lets
// them subscribe.
//
// The socket file's mode and group are the first gate (the kernel checks
// them at connect). This is the second: the kernel-attested credentials of
// the connected process (SO_PEERCRED, SO_PEERGROUPS), checked against the
// producer's allow-lists before any descriptor is sent. Both are needed: a
// shared folder's permissions are easy to get wrong, and a descriptor, once
// sent, cannot be taken back.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace cuframes {

struct PeerCredentials {
    pid_t pid = 0;  // in our PID namespace; 0 when the peer lives in another one
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;  // supplementary groups (SO_PEERGROUPS); may be empty on old kernels
};

// The credentials the kernel recorded for the peer of a connected socket.
// Throws OS on failure.
PeerCredentials peer_credentials(int socket);

// Which peers may subscribe. Empty lists: anyone the socket's mode admits.
// Otherwise a peer needs the producer's own uid, a uid in `uids`, or a gid
// (primary or supplementary) in `gids`.
struct AccessPolicy {
    std::vector<uint32_t> uids;
    std::vector<uint32_t> gids;
    uid_t owner_uid = 0;  // the producer's effective uid: always allowed

    bool restricted() const noexcept { return !uids.empty() || !gids.empty(); }
    bool allows(const PeerCredentials &peer) const noexcept;
    // Why `peer` is refused, for the Reject message and the log.
    std::string refusal(const PeerCredentials &peer, const std::string &key) const;
};

}  // namespace cuframes
