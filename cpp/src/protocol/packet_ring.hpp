// The two sides of the packet ring (layout in packet_layout.hpp): the
// producer's writer, which never blocks, and the validated reader that
// subscribers and observers use.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/memory_map.hpp"
#include "base/unique_fd.hpp"
#include "cuframes/cuframes.h"
#include "cuframes/packets.hpp"
#include "protocol/packet_layout.hpp"

namespace cuframes {

// Writes a fresh header (this version, the fixed index, an empty ring of
// data_bytes) at the start of a zero-filled region of
// packet_region_bytes(data_bytes). The writer's layout; tests and the fuzzer
// start from it too.
PacketRingHeader &init_packet_ring_header(void *region, uint64_t data_bytes, uint64_t epoch);

class PacketRingWriter {
public:
    // A sealed memfd with a byte ring of data_bytes, mapped writable here.
    PacketRingWriter(uint64_t data_bytes, uint64_t epoch);
    PacketRingWriter(const PacketRingWriter &) = delete;
    PacketRingWriter &operator=(const PacketRingWriter &) = delete;

    // Read-only descriptor for subscribers and observers.
    int read_only_fd() const noexcept { return read_only_fd_.get(); }
    uint64_t region_bytes() const noexcept { return map_.length(); }
    uint64_t data_bytes() const noexcept { return header_->data_bytes; }
    // The largest record: half the ring, so that a reader can copy a record
    // while the next one is written.
    uint64_t max_record_bytes() const noexcept { return header_->data_bytes / 2; }

    // Appends one access unit and returns its sequence number. Never waits
    // for readers. Keyframes' in-band parameter sets become the latest ones.
    // Throws INVALID_ARGUMENT (empty, too large, not Annex-B, unknown codec).
    uint64_t write(const uint8_t *data, uint64_t size, int64_t pts, int64_t dts, cuframes_codec codec, bool keyframe);
    // Replaces the kept parameter sets (Annex-B VPS/SPS/PPS, e.g. from a
    // container's extradata).
    void set_parameter_sets(cuframes_codec codec, const uint8_t *data, uint64_t size);
    // Wakes every reader asleep on the ring. Returns 0 or an errno.
    int wake() noexcept;
    // Marks the ring closed and wakes the readers.
    void close() noexcept;
    uint64_t latest_seq() const noexcept { return seq_; }

private:
    void store_parameter_sets(cuframes_codec codec, std::string sets) noexcept;
    void retire_overwritten(uint64_t new_end) noexcept;

    UniqueFd fd_;
    UniqueFd read_only_fd_;
    MemoryMap map_;
    PacketRingHeader *header_ = nullptr;
    PacketRecord *records_ = nullptr;
    uint8_t *data_ = nullptr;
    uint64_t seq_ = 0;     // last written
    uint64_t end_ = 0;     // write_end
    uint64_t oldest_ = 1;  // oldest intact record
    std::string parameter_sets_;
};

// One record copied out of the ring, checked.
struct PacketRecordCopy {
    uint64_t seq = 0;
    int64_t pts = 0;
    int64_t dts = 0;
    uint64_t timestamp_ns = 0;
    uint32_t flags = 0;
    cuframes_codec codec = CUFRAMES_CODEC_H264;
    std::vector<uint8_t> data;
};

class PacketRingReader {
public:
    // Checks the descriptor (a sealed, write-sealed memfd of region_bytes)
    // and the header's geometry before mapping anything else. Throws
    // PROTOCOL naming `peer`.
    PacketRingReader(UniqueFd fd, uint64_t region_bytes, uint64_t epoch, const std::string &peer);
    PacketRingReader(const PacketRingReader &) = delete;
    PacketRingReader &operator=(const PacketRingReader &) = delete;

    const PacketRingHeader &header() const noexcept { return *header_; }
    uint64_t data_bytes() const noexcept { return data_bytes_; }

    enum class Read { Ok, NotYet, Overwritten };
    // Copies record `seq` into out. NotYet: not written yet. Overwritten: the
    // producer reused its index entry or its bytes. Throws PROTOCOL when the
    // record is malformed (a hostile or broken producer).
    Read read(uint64_t seq, PacketRecordCopy &out) const;
    // Whether record `seq` is a keyframe, without copying its bytes (for
    // finding where to join). Read::Ok when `keyframe` was set.
    Read peek_keyframe(uint64_t seq, bool &keyframe) const noexcept;
    // The kept parameter sets and their codec ("" when none, or when the
    // producer kept rewriting them while we read).
    std::string parameter_sets(cuframes_codec &codec) const;

private:
    UniqueFd fd_;
    MemoryMap map_;
    const PacketRingHeader *header_ = nullptr;
    const PacketRecord *records_ = nullptr;
    const uint8_t *data_ = nullptr;
    uint64_t data_bytes_ = 0;
    std::string peer_;
};

bool is_known_codec(uint32_t codec) noexcept;

}  // namespace cuframes
