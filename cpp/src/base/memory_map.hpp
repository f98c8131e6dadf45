// Owner of one mmap'ed region: move-only, unmapped exactly once.
#pragma once

#include <cstddef>
#include <string>
#include <utility>

namespace cuframes {

class MemoryMap {
public:
    MemoryMap() noexcept = default;
    // mmap(MAP_SHARED) of `length` bytes of fd; writable selects PROT_WRITE.
    // Throws (OS/PERMISSION) naming `what` on failure.
    MemoryMap(int fd, size_t length, bool writable, const std::string &what);
    ~MemoryMap() { reset(); }
    MemoryMap(MemoryMap &&other) noexcept
        : data_(std::exchange(other.data_, nullptr)), length_(std::exchange(other.length_, 0)) {}
    MemoryMap &operator=(MemoryMap &&other) noexcept {
        if (this != &other) {
            reset();
            data_ = std::exchange(other.data_, nullptr);
            length_ = std::exchange(other.length_, 0);
        }
        return *this;
    }
    MemoryMap(const MemoryMap &) = delete;
    MemoryMap &operator=(const MemoryMap &) = delete;

    void *data() const noexcept { return data_; }
    size_t length() const noexcept { return length_; }
    void reset() noexcept;

private:
    void *data_ = nullptr;
    size_t length_ = 0;
};

}  // namespace cuframes
