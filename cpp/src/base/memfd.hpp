// Sealed memfds: the shared header, lease pages and host-backend slots.
#pragma once

#include <cstdint>
#include <string>

#include "base/unique_fd.hpp"

namespace cuframes {

// A memfd of `size` bytes sealed against shrinking and growing, so no process
// can truncate it under a reader (which would SIGBUS). Finish it with
// seal_final() once the creator has mapped it.
UniqueFd create_sealed_memfd(const char *name, uint64_t size);

// Adds F_SEAL_SEAL, and with against_writes also F_SEAL_FUTURE_WRITE: from
// then on nobody can map it writable or write(2) to it, whatever descriptor
// they hold (a read-only descriptor could otherwise be re-opened read-write
// through /proc), while mappings made before keep writing.
void seal_final(int fd, bool against_writes, const std::string &what);

// A new read-only open file description of the same memfd (through
// /proc/self/fd): a peer given it cannot map the memory writable.
UniqueFd reopen_read_only(int fd, const std::string &what);

// Checks a peer's descriptor before mapping it: a regular file (memfd) of at
// least min_size bytes that carries F_SEAL_SHRINK and F_SEAL_GROW, and
// F_SEAL_FUTURE_WRITE when write_sealed. Throws PROTOCOL naming `what`.
// Returns its size.
uint64_t check_sealed_region(int fd, uint64_t min_size, const std::string &what, bool write_sealed);

}  // namespace cuframes
