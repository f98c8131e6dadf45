#include "base/key_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "base/paths.hpp"
#include "cuframes/error.hpp"

namespace cuframes {

KeyLock::KeyLock(const std::string &path, const std::string &key) : path_(path) {
    // A holder removes the file before unlocking, so the file we locked may
    // already be unlinked: then retry on the new one.
    for (int attempt = 0; attempt < 8; ++attempt) {
        // O_NOFOLLOW: a symlink planted in a shared folder must not make us
        // create or lock a file elsewhere.
        UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0660));
        if (!fd) throw_os_error("cannot open the lock file " + path);
        int locked;
        do {
            locked = ::flock(fd.get(), LOCK_EX | LOCK_NB);
        } while (locked != 0 && errno == EINTR);
        if (locked != 0) {
            if (errno == EWOULDBLOCK)
                throw Error(CUFRAMES_ERR_KEY_IN_USE,
                            "key '" + key + "' is already published by a live producer (lock " + path + ")");
            throw_os_error("flock " + path);
        }
        struct stat opened {};
        struct stat named {};
        if (::fstat(fd.get(), &opened) != 0) throw_os_error("fstat " + path);
        if (::stat(path.c_str(), &named) == 0 && named.st_ino == opened.st_ino && named.st_dev == opened.st_dev) {
            fd_ = std::move(fd);
            return;
        }
    }
    throw Error(CUFRAMES_ERR_KEY_IN_USE,
                "key '" + key + "' is being taken over by another producer (lock " + path + ")");
}

void KeyLock::release() noexcept {
    if (!fd_) return;
    // Unlink while still holding the lock, so nobody locks a file we then remove.
    remove_file_noexcept(path_);
    fd_.reset();
}

}  // namespace cuframes
