// The fake producer of fuzz_subscriber_handshake: how a fuzz input becomes
// the descriptors and messages a (possibly hostile) producer sends.
//
// Input layout (fields past the end read as zero):
//   16 bytes  control (FakeProducerInput's first fields, in order)
//  208 bytes  the Welcome body (StreamDescription, stream facts included, and sizes)
//  256 bytes  the start of the lease page
//    N bytes  raw messages, N = raw_length % kMaxRawSection; records of
//             u16 length % 1024, u8 descriptors attached, then the bytes
//   the rest  the start of the shared header region (up to kHeaderSection)
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/unique_fd.hpp"
#include "protocol/wire.hpp"

namespace cuframes_fuzz {

// Bits of FakeProducerInput::mode.
enum ModeBit : uint8_t {
    kRawMessages = 1 << 0,     // send the raw records instead of the built Welcome and Fds messages
    kFixHeader = 1 << 1,       // make the header's constant part agree with the welcome
    kFixWelcome = 1 << 2,      // make the welcome's layout, counts and sizes agree with its own description
    kFixLease = 1 << 3,        // give the lease page the right magic, version and max_held
    kRealSubscriber = 1 << 4,  // attach a real cuframes::Subscriber over a socket path
    kSequential = 1 << 5,      // ... with Delivery::Sequential
    kHangUp = 1 << 6,          // shut the producer's end after sending (or, for kRealSubscriber, after the handshake)
    kTrailing = 1 << 7,        // one more message after the descriptors
};

// A descriptor choice, one byte: bits 0-2 FdKind, bits 3-4 Seals, bits 5-7
// the size (0 and 6-7: as announced; 1: a page short; 2: a page more; 3: a
// byte short; 4: a byte more; 5: empty).
constexpr uint8_t descriptor_choice(uint8_t kind, uint8_t seals, uint8_t size) {
    return static_cast<uint8_t>((kind & 7) | (seals & 3) << 3 | (size & 7) << 5);
}

// Bits of welcome_framing: 0-1 version (right, right+1, 0, 0xffff); 2-3 type
// (Welcome, Reject, Fds, Hello); 4-5 body size (exact, a byte short, 4 bytes
// more, empty); 6 the length field says one byte more; 7 one descriptor
// announced but none attached.
// Bits of fds_framing, applied to the Fds message numbered by bits 6-7: 0
// version 0; 1 type Welcome; 2 count field + 1; 3 count field 0; 4
// first_index + 1; 5 body a byte short.

constexpr size_t kControlBytes = 16;
constexpr size_t kLeaseSection = 256;
constexpr size_t kMaxRawSection = 4096;
// The header's fixed part plus slot 0's metadata.
constexpr size_t kHeaderSection = sizeof(cuframes::SharedHeader) + cuframes::kMetadataStride;
constexpr size_t kMaxInputBytes =
    kControlBytes + sizeof(cuframes::WelcomeBody) + kLeaseSection + kMaxRawSection + kHeaderSection;

struct FakeProducerInput {
    uint8_t mode = 0;
    uint8_t header_fd = 0;
    uint8_t lease_fd = 0;
    uint8_t slot_fd = 0;  // one memfd, sent once per slot
    uint8_t odd_slot_index = 0;
    uint8_t odd_slot_fd = 0;      // 0: no odd slot; else the descriptor sent at odd_slot_index
    int8_t fd_delta = 0;          // descriptors sent: 2 + slot_count + fd_delta
    uint8_t fds_per_message = 0;  // 0: 64; more than 64 is truncated by the receiver
    uint8_t welcome_framing = 0;
    uint8_t fds_framing = 0;
    uint8_t borrow_ops = 0;  // bits 0-2: attempts - 1; bits 3-7: which attempts keep the frame
    uint8_t borrow_aux = 0;  // per attempt: read_into instead of next() / an older sequence number
    uint16_t raw_length = 0;
    uint16_t reserved = 0;
    cuframes::WelcomeBody welcome{};
    std::array<uint8_t, kLeaseSection> lease{};
    std::vector<uint8_t> raw;
    std::vector<uint8_t> header;  // always kHeaderSection bytes once parsed
};

FakeProducerInput parse_input(const uint8_t *data, size_t size);
std::vector<uint8_t> encode_input(const FakeProducerInput &input);

// Raw-section record builder, for seeds.
void append_raw_record(std::vector<uint8_t> &raw, const std::vector<uint8_t> &message, uint8_t descriptors);

// What the fake producer sends, in order, with every descriptor it made.
struct Script {
    struct Message {
        std::vector<uint8_t> bytes;
        std::vector<int> fds;
    };
    std::vector<cuframes::UniqueFd> owned;
    std::vector<Message> messages;
    cuframes::WelcomeBody welcome{};  // after the fix-ups
    std::vector<uint8_t> header;      // the header region's first bytes, after the fix-ups

    // Sends every message without blocking (a refused send is skipped, as a
    // peer's would be).
    void send(int socket) const;
};

// Applies the input's fix-ups and builds the messages. With forced_framing
// (the real-subscriber mode) framing faults and raw records are ignored, so
// the subscriber never waits for a message that is not coming: a real
// Subscriber cannot be given a shorter handshake timeout.
Script build_script(FakeProducerInput input, bool forced_framing);

// Writes the seed inputs (a valid handshake in every mode, and a few
// classic faults) into `dir`. Returns false if one could not be written.
bool write_subscriber_seeds(const std::string &dir);

}  // namespace cuframes_fuzz
