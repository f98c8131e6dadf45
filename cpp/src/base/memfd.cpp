#include "base/memfd.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "cuframes/error.hpp"

// Linux 5.1; older C libraries lack the name.
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

namespace cuframes {

UniqueFd create_sealed_memfd(const char *name, uint64_t size) {
    UniqueFd fd(::memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!fd) throw_os_error(std::string("memfd_create(") + name + ")");
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0)
        throw_os_error(std::string("ftruncate of ") + name + " to " + std::to_string(size) + " bytes");
    if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) != 0)
        throw_os_error(std::string("sealing ") + name);
    return fd;
}

void seal_final(int fd, bool against_writes, const std::string &what) {
    int seals = F_SEAL_SEAL | (against_writes ? F_SEAL_FUTURE_WRITE : 0);
    if (::fcntl(fd, F_ADD_SEALS, seals) != 0)
        throw_os_error("sealing " + what + (against_writes ? " against writes" : ""));
}

UniqueFd reopen_read_only(int fd, const std::string &what) {
    std::string path = "/proc/self/fd/" + std::to_string(fd);
    UniqueFd read_only(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!read_only) throw_os_error("reopening " + what + " read-only through " + path + " (is /proc mounted?)");
    return read_only;
}

uint64_t check_sealed_region(int fd, uint64_t min_size, const std::string &what, bool write_sealed) {
    struct stat info {};
    if (::fstat(fd, &info) != 0) throw_os_error("fstat of the " + what + " descriptor");
    if (!S_ISREG(info.st_mode))
        throw Error(CUFRAMES_ERR_PROTOCOL, "the producer sent a " + what + " descriptor that is not a memfd");
    if (static_cast<uint64_t>(info.st_size) < min_size)
        throw Error(CUFRAMES_ERR_PROTOCOL, "the producer's " + what + " is " + std::to_string(info.st_size) +
                                               " bytes, expected at least " + std::to_string(min_size));
    int seals = ::fcntl(fd, F_GET_SEALS);
    if (seals < 0) throw Error(CUFRAMES_ERR_PROTOCOL, "the producer's " + what + " cannot be sealed (not a memfd)");
    if ((seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW))
        throw Error(CUFRAMES_ERR_PROTOCOL,
                    "the producer's " + what + " is not sealed against resizing; refusing to map it");
    if (write_sealed && !(seals & F_SEAL_FUTURE_WRITE))
        throw Error(CUFRAMES_ERR_PROTOCOL,
                    "the producer's " + what + " is not sealed against writes by subscribers; refusing to map it");
    return static_cast<uint64_t>(info.st_size);
}

}  // namespace cuframes
