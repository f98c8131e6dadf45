#include "producer/publisher_setup.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <random>
#include <utility>

#include "base/paths.hpp"
#include "cuframes/error.hpp"
#include "protocol/shm_layout.hpp"

namespace cuframes {

void validate_options(const PublisherOptions &options) {
    validate_key(options.key);
    if (std::string problem = stream_facts_problem(options.facts); !problem.empty())
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "stream facts of '" + options.key + "': " + problem);
    if (options.max_held < 1 || options.max_held > kMaxHeldLimit)
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "max_held is " + std::to_string(options.max_held) +
                                                       "; it must be 1.." + std::to_string(kMaxHeldLimit));
    if (options.max_subscribers < 1 || options.max_subscribers > kMaxSubscribersLimit)
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "max_subscribers is " + std::to_string(options.max_subscribers) +
                                                       "; it must be 1.." + std::to_string(kMaxSubscribersLimit));
    uint64_t needed = static_cast<uint64_t>(options.max_subscribers) * options.max_held + 2;
    if (options.slots < needed)
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT,
                    "a pool of " + std::to_string(options.slots) +
                        " slots is too small: " + std::to_string(options.max_subscribers) + " subscribers x " +
                        std::to_string(options.max_held) + " held frames + 1 newest frame + 1 being written needs " +
                        std::to_string(needed) + " (raise slots, or lower max_subscribers or max_held)");
    if (options.slots > kMaxSlots)
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "slots is " + std::to_string(options.slots) + "; at most " +
                                                       std::to_string(kMaxSlots) + " are supported");
    if (options.socket_mode > 0777)
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "socket_mode must be a permission mode (0..0777)");
    if (options.socket_group < -1 || options.socket_group >= static_cast<int64_t>(UINT32_MAX))
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT,
                    "socket_group is " + std::to_string(options.socket_group) + "; it must be a gid, or -1");
}

uint64_t random_epoch() {
    std::random_device source;
    uint64_t epoch = (static_cast<uint64_t>(source()) << 32) ^ source();
    return epoch == 0 ? 1 : epoch;
}

PathRemover::~PathRemover() {
    if (!path_.empty()) remove_file_noexcept(path_);
}

UniqueFd listen_on(const std::string &path, uint32_t mode, int64_t group) {
    UniqueFd socket(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!socket) throw_os_error("socket(AF_UNIX, SOCK_SEQPACKET)");
    sockaddr_un address = unix_address(path);
    // We hold the key's lock, so a socket file left here is a dead producer's.
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw_os_error("removing the stale socket " + path);
    if (::bind(socket.get(), reinterpret_cast<sockaddr *>(&address), sizeof address) != 0)
        throw_os_error("bind " + path);
    // From here a failure leaves the socket file behind: the caller's
    // PathRemover takes it away.
    if (group >= 0 && ::chown(path.c_str(), static_cast<uid_t>(-1), static_cast<gid_t>(group)) != 0)
        throw_os_error("chown " + path + " to group " + std::to_string(group));
    if (::chmod(path.c_str(), mode) != 0) throw_os_error("chmod " + path);
    if (::listen(socket.get(), 64) != 0) throw_os_error("listen " + path);
    return socket;
}

}  // namespace cuframes
