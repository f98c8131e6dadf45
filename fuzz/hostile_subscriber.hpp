// The input format of fuzz_producer_handshake: a script of operations that
// hostile (and honest) subscribers perform against a running producer.
//
// Each operation starts with one byte: bits 0-4 the Op (modulo Op::Count),
// bits 5-7 which of kPeers peers it applies to. Its arguments follow (see
// each Op); an argument past the end of the input reads as zero. Only the
// first 64 operations run, and only the first 12 handshakes among them.
#pragma once

#include <cstdint>
#include <string>

namespace cuframes_fuzz {

constexpr unsigned kPeers = 8;  // more than max_subscribers, so LIMIT is reachable

enum class Op : uint8_t {
    Connect = 0,    // a raw connection (replacing the peer's)
    SendRaw,        // u16 length % 1024, u8 descriptors (bits 0-2 FdKind, bits 3-7 count * 3), the bytes
    SendMessage,    // u8 faults (0 bad magic, 1 length field lies, 2 count field lies), u16 version, u16 type,
                    // u8 body length, u8 descriptors (as SendRaw), the body
    SendHello,      // u8 faults (0 version from the next u16, 1 client_version from the next u32, 2 a
                    // descriptor attached, 3 a byte short, 4-5 the role: frames, packets, observe,
                    // unknown), u16 version, u32 client_version
    Drain,          // wait for the producer's answer to what was sent, read it and close what it carried
    Handshake,      // a real Connection (the subscriber's handshake code) on a fresh socket
    WriteLease,     // u8 offset, u8 length % 64, the bytes: written into the peer's lease page
    Borrow,         // u8 entry % 16, u8 age: an honest lease (try_borrow) on frame latest - age
    Produce,        // u16 metadata size % 4200, u8 fill, the metadata's first min(size, 16) bytes: acquire,
                    // write the slot, publish
    AcquireAbort,   // as Produce, but abort instead of publishing
    ShutdownWrite,  // shutdown(SHUT_WR) of a raw connection
    Close,          // close the peer (raw or handshaken)
    Flood,          // u8 count % 48 silent connections (64 at most an input), held until the input ends
    Count
};

constexpr uint8_t op_byte(Op op, unsigned peer) {
    return static_cast<uint8_t>(static_cast<uint8_t>(op) | (peer % kPeers) << 5);
}

// Writes the seed scripts into `dir`. Returns false if one could not be written.
bool write_producer_seeds(const std::string &dir);

}  // namespace cuframes_fuzz
