// fuzz_packet_ring: a hostile producer's packet ring, as a packet subscriber
// or an observer maps it. The input patches a valid region (header, index
// and data ring) anywhere; the reader must refuse or read it without
// crashing, reading out of bounds, or looping, and the Annex-B scanner must
// survive any bytes.
//
// Input: u8 setup (bit 0: start with three honest records, bit 1: honest
// parameter sets), then patches until the input ends: u32 offset (modulo the
// region), u16 length, bytes. Finally the bytes left are scanned as an access unit.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "base/memfd.hpp"
#include "base/memory_map.hpp"
#include "cuframes/annexb.hpp"
#include "cuframes/error.hpp"
#include "cuframes/types.hpp"
#include "fuzz_input.hpp"
#include "protocol/packet_ring.hpp"

namespace {

using namespace cuframes;

constexpr uint64_t kEpoch = 7;
constexpr uint64_t kDataBytes = kMinPacketRingBytes;

void write_honest_records(PacketRingHeader &header, PacketRecord *records, uint8_t *data) {
    static const uint8_t kAccessUnit[] = {0, 0, 0, 1, 0x67, 0x42, 0, 0x1e, 0, 0, 0, 1, 0x65, 0x88, 0x84, 0};
    for (uint64_t seq = 1; seq <= 3; ++seq) {
        uint64_t offset = (seq - 1) * sizeof kAccessUnit;
        std::memcpy(data + offset, kAccessUnit, sizeof kAccessUnit);
        PacketRecord &record = records[seq % kPacketIndexCount];
        record.offset = offset;
        record.size = sizeof kAccessUnit;
        record.flags = seq == 1 ? kPacketFlagKeyframe : 0;
        record.codec = CUFRAMES_CODEC_H264;
        record.pts = static_cast<int64_t>(seq);
        record.seq = seq;
    }
    header.write_end = 3 * sizeof kAccessUnit;
    header.latest_seq = 3;
    header.latest_keyframe_seq = 1;
    header.oldest_seq = 1;
}

// Seeds: honest rings, and one patch each to the places a hostile producer
// would aim at (record size, write position, parameter-set size), so the
// fuzzer starts next to the checks.
bool write_seeds(const std::string &dir) {
    using cuframes_fuzz::SeedWriter;
    auto patch = [](uint8_t setup, uint32_t offset, std::vector<uint8_t> bytes) {
        SeedWriter seed;
        seed.u8(setup).u32(offset).u16(static_cast<uint16_t>(bytes.size())).bytes(bytes.data(), bytes.size());
        return seed.data();
    };
    const uint32_t record1 = static_cast<uint32_t>(packet_index_offset() + sizeof(PacketRecord));
    const uint32_t huge_size = 0x00100000;
    std::vector<uint8_t> size_bytes(4);
    std::memcpy(size_bytes.data(), &huge_size, 4);
    const uint64_t behind = 4;
    std::vector<uint8_t> end_bytes(8);
    std::memcpy(end_bytes.data(), &behind, 8);
    const uint32_t sets_size = kMaxParameterSetBytes + 1;
    std::vector<uint8_t> sets_bytes(4);
    std::memcpy(sets_bytes.data(), &sets_size, 4);
    static const uint8_t kAccessUnit[] = {0, 0, 0, 1, 0x40, 1, 0, 0, 1, 0x42, 1, 0, 0, 1, 0x26, 1, 0xaf};
    SeedWriter scan;
    scan.u8(3).bytes(kAccessUnit, sizeof kAccessUnit);
    return cuframes_fuzz::save_seed(dir, "honest", SeedWriter().u8(3).data()) &&
           cuframes_fuzz::save_seed(dir, "record-too-large",
                                    patch(1, record1 + offsetof(PacketRecord, size), size_bytes)) &&
           cuframes_fuzz::save_seed(dir, "write-end-behind",
                                    patch(1, offsetof(PacketRingHeader, write_end), end_bytes)) &&
           cuframes_fuzz::save_seed(dir, "parameter-sets-too-large",
                                    patch(3, offsetof(PacketRingHeader, parameter_sets_size), sets_bytes)) &&
           cuframes_fuzz::save_seed(dir, "hevc-access-unit", scan.data());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    if (const char *dir = std::getenv("CUFRAMES_FUZZ_WRITE_SEEDS")) std::exit(write_seeds(dir) ? 0 : 1);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *input, size_t size) {
    cuframes_fuzz::ByteReader in(input, size);
    const uint64_t region_bytes = packet_region_bytes(kDataBytes);
    UniqueFd fd = create_sealed_memfd("fuzz-packets", region_bytes);
    {
        MemoryMap map(fd.get(), region_bytes, true, "fuzz packet ring");
        auto *base = static_cast<uint8_t *>(map.data());
        auto *header = &init_packet_ring_header(base, kDataBytes, kEpoch);
        auto *records = reinterpret_cast<PacketRecord *>(base + packet_index_offset());
        uint8_t setup = in.u8();
        if (setup & 1) write_honest_records(*header, records, base + header->data_offset);
        if (setup & 2) {
            static const uint8_t kSets[] = {0, 0, 0, 1, 0x67, 0x42, 0, 0x1e, 0, 0, 0, 1, 0x68, 0xce};
            std::memcpy(header->parameter_sets, kSets, sizeof kSets);
            header->parameter_sets_size = sizeof kSets;
            header->parameter_sets_codec = CUFRAMES_CODEC_H264;
            header->parameter_sets_version = 2;
        }
        // Patches: at most 16, so that the rest of the input is left for the scanner.
        for (int patch = 0; patch < 16 && in.remaining() >= 6; ++patch) {
            uint64_t offset = in.u32() % region_bytes;
            uint16_t length = in.u16();
            std::vector<uint8_t> bytes = in.take(std::min<uint64_t>(length, region_bytes - offset));
            if (!bytes.empty()) std::memcpy(base + offset, bytes.data(), bytes.size());
        }
    }
    seal_final(fd.get(), true, "fuzz packet ring");
    try {
        PacketRingReader reader(std::move(fd), region_bytes, kEpoch, "the fuzzed producer");
        const PacketRingHeader &header = reader.header();
        uint64_t latest = header.latest_seq.load();
        // What a joining subscriber and an observer look at: a bounded window.
        uint64_t first = latest > 64 ? latest - 64 : 1;
        for (uint64_t seq = first; seq <= latest + 1 && seq - first < 80; ++seq) {
            bool keyframe = false;
            reader.peek_keyframe(seq, keyframe);
            PacketRecordCopy out;
            try {
                if (reader.read(seq, out) == PacketRingReader::Read::Ok) {
                    if (out.data.size() > kDataBytes / 2) __builtin_trap();  // a record larger than promised
                    carries_parameter_sets(out.codec, out.data.data(), out.data.size());
                }
            } catch (const Error &) {
                // A refused record: the subscriber raises it; the next ones may still be read.
            }
        }
        cuframes_codec codec = CUFRAMES_CODEC_H264;
        std::string sets = reader.parameter_sets(codec);
        if (sets.size() > kMaxParameterSetBytes) __builtin_trap();
    } catch (const Error &) {
        // Refused: what a subscriber does with a malformed ring.
    }
    std::vector<uint8_t> rest = in.take(in.remaining());
    for (cuframes_codec codec : {CUFRAMES_CODEC_H264, CUFRAMES_CODEC_HEVC}) {
        std::string sets = extract_parameter_sets(codec, rest.data(), rest.size());
        if (sets.size() > 4 * rest.size() + 4) __builtin_trap();  // each NAL gains a 4-byte start code at most
        carries_parameter_sets(codec, rest.data(), rest.size());
    }
    return 0;
}
