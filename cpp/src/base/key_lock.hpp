// Ownership of a key: an flock on <dir>/<key>.lock. The kernel drops the
// lock when its holder dies, so a crashed producer's key can be taken over,
// while a live producer's key cannot.
#pragma once

#include <string>

#include "base/unique_fd.hpp"

namespace cuframes {

class KeyLock {
public:
    // Takes the lock or throws KEY_IN_USE naming the key.
    KeyLock(const std::string &path, const std::string &key);
    ~KeyLock() { release(); }
    KeyLock(const KeyLock &) = delete;
    KeyLock &operator=(const KeyLock &) = delete;

    // Removes the lock file, then drops the lock. Idempotent.
    void release() noexcept;

private:
    std::string path_;
    UniqueFd fd_;
};

}  // namespace cuframes
