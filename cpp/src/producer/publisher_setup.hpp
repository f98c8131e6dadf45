// What the Publisher's constructor needs before the stream exists: the
// options checked, the producer instance's epoch, and the listening socket.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "base/unique_fd.hpp"
#include "cuframes/publisher.hpp"

namespace cuframes {

// Throws INVALID_ARGUMENT naming the option that is wrong and how to fix it.
void validate_options(const PublisherOptions &options);

// A random, non-zero id of one producer instance.
uint64_t random_epoch();

// Removes a path when destroyed, unless disarmed: keeps a failed constructor
// from leaving a socket file behind.
class PathRemover {
public:
    explicit PathRemover(std::string path) : path_(std::move(path)) {}
    ~PathRemover();
    PathRemover(const PathRemover &) = delete;
    PathRemover &operator=(const PathRemover &) = delete;
    void disarm() noexcept { path_.clear(); }

private:
    std::string path_;
};

// The producer's listening socket at `path` (a stale one there is removed:
// the caller holds the key's lock), with its mode and group (-1: unchanged).
UniqueFd listen_on(const std::string &path, uint32_t mode, int64_t group);

}  // namespace cuframes
