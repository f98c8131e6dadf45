// Sealed memfds: the shared header, lease pages and host-backend slots.
#pragma once

#include <cstdint>
#include <string>

#include "unique_fd.hpp"

namespace cuframes {

// A memfd of `size` bytes sealed against shrinking, growing and further
// sealing, so no process can truncate it under a reader (which would SIGBUS).
UniqueFd create_sealed_memfd(const char *name, uint64_t size);

// A new read-only open file description of the same memfd (through
// /proc/self/fd): a peer given it cannot map the memory writable.
UniqueFd reopen_read_only(int fd, const std::string &what);

// Checks a peer's descriptor before mapping it: a regular file (memfd) of at
// least min_size bytes that carries F_SEAL_SHRINK and F_SEAL_GROW. Throws
// PROTOCOL naming `what`. Returns its size.
uint64_t check_sealed_region(int fd, uint64_t min_size, const std::string &what);

}  // namespace cuframes
