#include "base/memory_map.hpp"

#include <sys/mman.h>

#include <cstdio>
#include <cstring>

#include "cuframes/error.hpp"

namespace cuframes {

MemoryMap::MemoryMap(int fd, size_t length, bool writable, const std::string &what) : length_(length) {
    int protection = PROT_READ | (writable ? PROT_WRITE : 0);
    void *address = ::mmap(nullptr, length, protection, MAP_SHARED, fd, 0);
    if (address == MAP_FAILED) {
        length_ = 0;
        throw_os_error("mmap of " + what + " (" + std::to_string(length) + " bytes)");
    }
    data_ = address;
}

void MemoryMap::reset() noexcept {
    if (data_ != nullptr && ::munmap(data_, length_) != 0)
        std::fprintf(stderr, "cuframes: munmap failed: %s\n", std::strerror(errno));
    data_ = nullptr;
    length_ = 0;
}

}  // namespace cuframes
