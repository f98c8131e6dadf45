// What both fuzz targets need to play a hostile peer: descriptors of every
// kind a peer could attach in place of a memfd, and raw sends that bypass
// the core's own send_message (which only ever builds well-formed messages).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/unique_fd.hpp"

namespace cuframes_fuzz {

// What a peer can put where a memfd is expected. The first is the honest one.
enum class FdKind : uint8_t {
    Memfd,            // read-write descriptor of a sealable memfd
    MemfdReadOnly,    // the same memfd re-opened O_RDONLY (what the producer sends)
    MemfdUnsealable,  // a memfd created without MFD_ALLOW_SEALING
    Pipe,
    Socket,
    Eventfd,
    DevNull,      // a character device
    RegularFile,  // a file on disk (this executable): mappable, never sealed
};
constexpr unsigned kFdKindCount = 8;

// Seals put on a memfd. Right: against resizing, plus against writes where
// the region is one subscribers must not write (header, slots), plus
// F_SEAL_SEAL. All: also F_SEAL_WRITE, which forbids any writable mapping.
enum class Seals : uint8_t { Right, None, ShrinkOnly, All };

// A descriptor of `kind`. Memfd kinds are `size` bytes long (0 if the kernel
// refuses that size) and start with `contents`; other kinds ignore both.
// Aborts if the harness itself cannot make it (out of descriptors...).
cuframes::UniqueFd make_descriptor(FdKind kind, uint64_t size, const std::vector<uint8_t> &contents, Seals seals,
                                   bool write_sealed);

// A message as it goes on the wire: the 16-byte header with exactly the given
// fields (which may lie), then the body.
std::vector<uint8_t> frame_message(uint32_t magic, uint16_t version, uint16_t type, uint32_t body_bytes_field,
                                   uint32_t fd_count_field, const void *body, size_t body_size);

// One datagram with `fd_count` descriptors attached (the same descriptor may
// appear several times). Never blocks; returns false when the kernel refused
// it (full queue, peer gone, too many descriptors): a hostile peer's sends
// fail the same way, so callers just carry on.
bool send_raw(int socket, const void *bytes, size_t size, const int *fds, size_t fd_count);

// Reads and discards every message queued on `socket`, closing the
// descriptors they carry. Returns false once the peer has hung up.
bool drain(int socket);

// A new, empty folder under $TMPDIR (or /tmp) for a target's sockets.
// Aborts if it cannot be made.
std::string make_scratch_dir();

}  // namespace cuframes_fuzz
