#include "base/peer_credentials.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "cuframes/error.hpp"

// Linux 4.13; older C libraries lack the name.
#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

namespace cuframes {
namespace {

std::vector<gid_t> peer_groups(int socket) {
    // The kernel answers ERANGE with the size it needs; a process has at most
    // NGROUPS_MAX (65536) groups, so a couple of tries always suffice.
    std::vector<gid_t> groups(64);
    for (int attempt = 0; attempt < 4; ++attempt) {
        socklen_t length = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
        if (::getsockopt(socket, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &length) == 0) {
            groups.resize(length / sizeof(gid_t));
            return groups;
        }
        if (errno == ENOPROTOOPT) return {};  // kernel older than 4.13: primary gid only
        if (errno != ERANGE) throw_os_error("getsockopt(SO_PEERGROUPS)");
        groups.resize(length / sizeof(gid_t) + 1);
    }
    throw Error(CUFRAMES_ERR_OS, "getsockopt(SO_PEERGROUPS): the group list kept growing");
}

std::string join(const std::vector<uint32_t> &values) {
    std::string text;
    for (uint32_t value : values) text += (text.empty() ? "" : ",") + std::to_string(value);
    return text.empty() ? "none" : text;
}

}  // namespace

PeerCredentials peer_credentials(int socket) {
    ucred credentials{};
    socklen_t length = sizeof credentials;
    if (::getsockopt(socket, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0)
        throw_os_error("getsockopt(SO_PEERCRED)");
    PeerCredentials peer;
    peer.pid = credentials.pid;
    peer.uid = credentials.uid;
    peer.gid = credentials.gid;
    peer.groups = peer_groups(socket);
    return peer;
}

bool AccessPolicy::allows(const PeerCredentials &peer) const noexcept {
    if (!restricted() || peer.uid == owner_uid) return true;
    auto listed = [](const std::vector<uint32_t> &list, uint32_t id) {
        return std::find(list.begin(), list.end(), id) != list.end();
    };
    if (listed(uids, peer.uid) || listed(gids, peer.gid)) return true;
    return std::any_of(peer.groups.begin(), peer.groups.end(), [&](gid_t group) { return listed(gids, group); });
}

std::string AccessPolicy::refusal(const PeerCredentials &peer, const std::string &key) const {
    return "uid " + std::to_string(peer.uid) + " (gid " + std::to_string(peer.gid) + ") may not subscribe to '" + key +
           "': the producer allows uids " + join(uids) + " and gids " + join(gids) + " (and its own uid " +
           std::to_string(owner_uid) + ")";
}

}  // namespace cuframes
