// The packet ring: encoded access units (Annex-B H.264/H.265) in one memfd
// beside the frame ring, under the same key.
//
// Layout: PacketRingHeader, then index_count PacketRecords, then a byte ring
// of data_bytes. Only the producer writes (subscribers and observers map it
// read-only), and it never waits for a reader: a record's bytes are simply
// overwritten once the ring wraps. Readers copy a record out and then check
// that it was not overwritten meanwhile (a seqlock per record, plus the
// ring's write position); a record that was is an overrun, counted and
// skipped. Every field is untrusted by readers.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace cuframes {

constexpr uint64_t kPacketRingMagic = 0x31544B5043554346ull;  // "FCUCPKT1" read as little-endian bytes
// Records kept in the index: at 60 packets/s about 68 s of history.
constexpr uint32_t kPacketIndexCount = 4096;
// The latest parameter sets (VPS/SPS/PPS), kept for subscribers that join
// mid-stream at a keyframe that does not carry them.
constexpr uint32_t kMaxParameterSetBytes = 4096;
constexpr uint64_t kMinPacketRingBytes = 64 * 1024;
constexpr uint64_t kMaxPacketRingBytes = uint64_t{1} << 30;

// PacketRecord::flags.
constexpr uint32_t kPacketFlagKeyframe = 1u;
constexpr uint32_t kKnownPacketFlags = kPacketFlagKeyframe;

struct alignas(64) PacketRecord {
    // 0 while the record is being (re)written; else its sequence number.
    std::atomic<uint64_t> seq;
    // Position of the first byte in the data ring, counted from the start of
    // the stream (never wraps): the byte lives at data[offset % data_bytes].
    std::atomic<uint64_t> offset;
    std::atomic<uint32_t> size;
    std::atomic<uint32_t> flags;  // kPacketFlag*
    std::atomic<int64_t> pts;
    std::atomic<int64_t> dts;
    std::atomic<uint32_t> codec;  // cuframes_codec
    uint32_t reserved0;
    std::atomic<uint64_t> timestamp_ns;  // CLOCK_MONOTONIC when written
    uint8_t reserved1[8];
};
static_assert(sizeof(PacketRecord) == 64);

struct alignas(64) PacketRingHeader {
    uint64_t magic;
    uint32_t version;
    uint32_t index_count;
    uint64_t data_bytes;    // size of the byte ring
    uint64_t data_offset;   // from the start of the region
    uint64_t region_bytes;  // the whole memfd
    uint64_t epoch;         // the frame stream's epoch: same producer instance
    uint8_t reserved0[16];

    alignas(64) std::atomic<uint32_t> state;  // StreamState
    std::atomic<uint32_t> wake_word;          // futex word: bumped after every packet and at close
    uint8_t reserved1[56];

    alignas(64) std::atomic<uint64_t> latest_seq;  // newest complete record; 0 before the first
    std::atomic<uint64_t> latest_keyframe_seq;     // newest keyframe record; 0 before the first
    // Bytes handed out so far: a writer moves it before it overwrites, so a
    // record at `offset` is intact while write_end - offset <= data_bytes.
    std::atomic<uint64_t> write_end;
    std::atomic<uint64_t> keyframes;  // keyframe records written
    // Oldest record whose bytes are still intact (1 before the ring wraps):
    // the ones before it were overwritten.
    std::atomic<uint64_t> oldest_seq;
    std::atomic<uint32_t> codec;  // codec of the newest record (cuframes_codec), 0 before the first
    uint8_t reserved2[20];

    // The latest parameter sets, Annex-B with start codes. A seqlock: the
    // version is odd while the producer rewrites them.
    alignas(64) std::atomic<uint64_t> parameter_sets_version;
    std::atomic<uint32_t> parameter_sets_size;
    std::atomic<uint32_t> parameter_sets_codec;
    uint8_t reserved3[48];
    uint8_t parameter_sets[kMaxParameterSetBytes];
    // followed by index_count PacketRecords, then the data ring
};
static_assert(std::is_standard_layout_v<PacketRingHeader>);
static_assert(offsetof(PacketRingHeader, state) == 64);
static_assert(offsetof(PacketRingHeader, latest_seq) == 128);
static_assert(offsetof(PacketRingHeader, parameter_sets_version) == 192);
static_assert(offsetof(PacketRingHeader, parameter_sets) == 256);
static_assert(sizeof(PacketRingHeader) == 256 + kMaxParameterSetBytes);

inline uint64_t packet_index_offset() { return sizeof(PacketRingHeader); }
inline uint64_t packet_data_offset(uint32_t index_count) {
    return sizeof(PacketRingHeader) + static_cast<uint64_t>(index_count) * sizeof(PacketRecord);
}
inline uint64_t packet_region_bytes(uint64_t data_bytes) { return packet_data_offset(kPacketIndexCount) + data_bytes; }

}  // namespace cuframes
