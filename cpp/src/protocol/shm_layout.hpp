// The memory shared between a producer and its subscribers.
//
// Two kinds of region, both memfds sealed against shrinking and growing:
//  - SharedHeader: one per producer. Written only by the producer; every
//    subscriber maps it read-only (it receives an O_RDONLY descriptor).
//  - LeasePage: one per connected subscriber, created by the producer at
//    accept time. The subscriber writes the frames it holds there; the
//    producer reads it and treats every value as untrusted.
// Only trivially copyable, fixed-size fields; no pointers. Layouts are pinned
// with static_assert because other processes, maybe built from another
// version, read them.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "cuframes/cuframes.h"
#include "cuframes/types.hpp"

namespace cuframes {

constexpr uint64_t kHeaderMagic = 0x314D524643554346ull;     // "FCUCFRM1" read as little-endian bytes
constexpr uint64_t kLeasePageMagic = 0x3153454C43554346ull;  // "FCUCLES1"
constexpr uint32_t kMaxSlots = 128;
constexpr uint32_t kMaxHeldLimit = 16;
constexpr uint32_t kMaxSubscribersLimit = 1024;
// Index ring from sequence number to slot. Twice the largest pool, so an entry
// is overwritten only long after its slot has been reused.
constexpr uint32_t kPublishRingSize = 256;
constexpr uint32_t kMetadataStride = CUFRAMES_MAX_METADATA;

enum class StreamState : uint32_t { Running = 1, Closed = 2 };

// StreamDescription::flags.
// Stream-ordered publishing: a frame's sequence is announced when its work is
// queued on the producer's stream, and its SlotRecord::ready_seq reaches that
// sequence when the GPU has finished it. Subscribers wait for both.
constexpr uint32_t kStreamFlagStreamOrdered = 1u;
constexpr uint32_t kKnownStreamFlags = kStreamFlagStreamOrdered;

// A published frame's (sequence, slot) in one word, so that one atomic load
// gives both. Slot indices fit in 8 bits (kMaxSlots <= 256).
constexpr uint64_t kMaxSeq = (uint64_t{1} << 56) - 1;  // what pack_slot_ref can carry
inline uint64_t pack_slot_ref(uint64_t seq, uint32_t slot) { return (seq << 8) | (slot & 0xffu); }
inline uint64_t slot_ref_seq(uint64_t ref) { return ref >> 8; }
inline uint32_t slot_ref_slot(uint64_t ref) { return static_cast<uint32_t>(ref & 0xffu); }

// What a subscriber needs to interpret the slots. Sent in the handshake and
// repeated in the header; the subscriber requires both copies to agree and to
// match the layout it computes itself from (format, width, height).
struct StreamDescription {
    uint32_t backend;  // cuframes_backend, never AUTO
    uint32_t format;   // cuframes_format
    uint32_t width;
    uint32_t height;
    uint32_t plane_count;
    uint32_t slot_count;
    uint32_t max_held;
    uint32_t flags;  // kStreamFlag*
    uint64_t slot_size;
    uint64_t epoch;  // random per producer instance: tells restarts apart
    cuframes_plane planes[CUFRAMES_MAX_PLANES];
    uint8_t device_uuid[16];  // CUuuid of the producer's GPU; zero on host
    StreamFacts facts;        // v4: time base, rate, colour, aspect ratio
};
static_assert(std::is_trivially_copyable_v<StreamDescription>);
static_assert(sizeof(cuframes_plane) == 24);
static_assert(std::is_trivially_copyable_v<StreamFacts> && std::is_standard_layout_v<StreamFacts>);
static_assert(sizeof(StreamFacts) == 32);
static_assert(offsetof(StreamFacts, frame_rate) == 8 && offsetof(StreamFacts, sample_aspect_ratio) == 16 &&
              offsetof(StreamFacts, color_matrix) == 24 && offsetof(StreamFacts, reserved) == 28);
static_assert(offsetof(StreamDescription, facts) == 160);
static_assert(sizeof(StreamDescription) == 192);

struct alignas(64) SlotRecord {
    // 0 while the slot is free or being written; otherwise the sequence number
    // of the frame it holds. Producer stores with seq_cst (see ring.cpp).
    std::atomic<uint64_t> seq;
    int64_t pts;
    uint64_t timestamp_ns;
    uint32_t metadata_size;
    uint32_t reserved0;
    // Stream-ordered streams only: written by the producer's GPU (a stream
    // write-value) once the frame `seq` in this slot is complete.
    std::atomic<uint64_t> ready_seq;
    uint8_t reserved1[24];
};
static_assert(sizeof(SlotRecord) == 64);

struct alignas(64) SharedHeader {
    uint64_t magic;
    uint32_t version;
    uint32_t header_bytes;  // bytes of the whole region, metadata included
    StreamDescription stream;
    uint32_t metadata_offset;  // from the start of the header
    uint32_t metadata_stride;
    uint8_t reserved0[40];

    alignas(64) std::atomic<uint32_t> state;  // StreamState
    // Futex word: bumped after every publish and at close.
    std::atomic<uint32_t> wake_word;
    uint8_t reserved1[56];

    // Newest published sequence number; 0 before the first frame.
    alignas(64) std::atomic<uint64_t> latest_seq;
    uint8_t reserved2[56];

    std::atomic<uint64_t> publish_ring[kPublishRingSize];  // pack_slot_ref, indexed by seq % size
    SlotRecord slots[kMaxSlots];
    // followed by slot_count * metadata_stride bytes of user metadata
};
static_assert(std::atomic<uint64_t>::is_always_lock_free && std::atomic<uint32_t>::is_always_lock_free,
              "shared-memory atomics must be lock-free to work across processes");
static_assert(std::is_standard_layout_v<SharedHeader>);
static_assert(offsetof(SharedHeader, stream) == 16);
static_assert(offsetof(SharedHeader, metadata_offset) == 208);
static_assert(offsetof(SharedHeader, state) == 256);
static_assert(offsetof(SharedHeader, latest_seq) == 320);
static_assert(offsetof(SharedHeader, publish_ring) == 384);
static_assert(offsetof(SharedHeader, slots) == 384 + 8 * kPublishRingSize);
static_assert(sizeof(SharedHeader) == 384 + 8 * kPublishRingSize + 64 * kMaxSlots);

inline uint64_t header_region_bytes(uint32_t slot_count) {
    return sizeof(SharedHeader) + static_cast<uint64_t>(slot_count) * kMetadataStride;
}

struct alignas(64) LeasePage {
    uint64_t magic;
    uint32_t version;
    uint32_t max_held;
    uint8_t reserved0[48];
    // One entry per frame the subscriber holds: pack_slot_ref(seq, slot), or 0.
    // Written by the subscriber, read by the producer.
    std::atomic<uint64_t> leases[kMaxHeldLimit];
    // Counters the subscriber keeps for observers; the producer never acts on them.
    std::atomic<uint64_t> frames_received;
    std::atomic<uint64_t> frames_missed;
    // Publish-to-take latency of the last frame taken (CLOCK_MONOTONIC), ns.
    std::atomic<uint64_t> last_latency_ns;
};
static_assert(std::is_standard_layout_v<LeasePage>);
static_assert(offsetof(LeasePage, leases) == 64);
constexpr size_t kLeasePageBytes = 4096;
static_assert(sizeof(LeasePage) <= kLeasePageBytes);

}  // namespace cuframes
