// The packet ring on its own, writer and reader in one process: records go
// through unchanged across the wrap, overwritten ones are detected, parameter
// sets are found, and a hostile region is refused before it is used.
#include <gtest/gtest.h>

#include <sys/mman.h>

#include <atomic>
#include <thread>

#include <cstring>
#include <string>
#include <vector>

#include "base/memfd.hpp"
#include "base/memory_map.hpp"
#include "cuframes/annexb.hpp"
#include "cuframes/error.hpp"
#include "cuframes/types.hpp"
#include "protocol/packet_ring.hpp"

namespace cuframes {
namespace {

constexpr uint64_t kEpoch = 42;
const std::string kSps = std::string("\0\0\0\1\x67\x42\x00\x1e", 8);
const std::string kPps = std::string("\0\0\0\1\x68\xce\x3c\x80", 8);
const std::string kIdr = std::string("\0\0\0\1\x65\x88\x84\x00", 8);
const std::string kSlice = std::string("\0\0\0\1\x41\x9a\x00\x10", 8);

std::string packet_of(size_t size, char fill) {
    std::string data("\0\0\1\x41", 4);
    data.resize(size, fill);
    return data;
}

UniqueFd dup_fd(int fd) {
    UniqueFd copy(::dup(fd));
    if (!copy) throw std::runtime_error("dup failed");
    return copy;
}

PacketRingReader reader_of(const PacketRingWriter &writer) {
    return PacketRingReader(dup_fd(writer.read_only_fd()), writer.region_bytes(), kEpoch, "test producer");
}

TEST(PacketRing, RecordsComeBackUnchangedAcrossTheWrap) {
    PacketRingWriter writer(kMinPacketRingBytes, kEpoch);
    PacketRingReader reader = reader_of(writer);
    // 3 x the ring in records of odd sizes: many land across the wrap.
    for (uint64_t seq = 1; seq <= 60; ++seq) {
        std::string data = packet_of(3000 + 7 * seq, static_cast<char>(seq));
        ASSERT_EQ(writer.write(reinterpret_cast<const uint8_t *>(data.data()), data.size(), 10 * seq, 10 * seq - 5,
                               CUFRAMES_CODEC_HEVC, seq % 5 == 0),
                  seq);
        PacketRecordCopy out;
        ASSERT_EQ(reader.read(seq, out), PacketRingReader::Read::Ok);
        EXPECT_EQ(std::string(out.data.begin(), out.data.end()), data);
        EXPECT_EQ(out.pts, static_cast<int64_t>(10 * seq));
        EXPECT_EQ(out.dts, static_cast<int64_t>(10 * seq - 5));
        EXPECT_EQ(out.codec, CUFRAMES_CODEC_HEVC);
        EXPECT_EQ((out.flags & kPacketFlagKeyframe) != 0, seq % 5 == 0);
    }
    PacketRecordCopy out;
    EXPECT_EQ(reader.read(61, out), PacketRingReader::Read::NotYet);
    EXPECT_EQ(reader.header().keyframes.load(), 12u);
}

TEST(PacketRing, RecordsWhoseBytesWereReusedReadAsOverwritten) {
    PacketRingWriter writer(kMinPacketRingBytes, kEpoch);
    PacketRingReader reader = reader_of(writer);
    std::string data = packet_of(10'000, 'x');
    for (int i = 0; i < 8; ++i)
        writer.write(reinterpret_cast<const uint8_t *>(data.data()), data.size(), i, i, CUFRAMES_CODEC_H264, false);
    PacketRecordCopy out;
    // 80 kB written into 64 KiB: the first two records' bytes are gone.
    EXPECT_EQ(reader.read(1, out), PacketRingReader::Read::Overwritten);
    EXPECT_EQ(reader.read(2, out), PacketRingReader::Read::Overwritten);
    EXPECT_EQ(reader.read(3, out), PacketRingReader::Read::Ok);
    EXPECT_EQ(reader.header().oldest_seq.load(), 3u);
}

TEST(PacketRing, IndexEntriesAreReusedAfterOneRingOfRecords) {
    PacketRingWriter writer(kMinPacketRingBytes, kEpoch);
    PacketRingReader reader = reader_of(writer);
    std::string data = packet_of(5, 'y');
    for (uint64_t seq = 1; seq <= kPacketIndexCount + 3; ++seq)
        writer.write(reinterpret_cast<const uint8_t *>(data.data()), data.size(), 0, 0, CUFRAMES_CODEC_H264, false);
    PacketRecordCopy out;
    EXPECT_EQ(reader.read(3, out), PacketRingReader::Read::Overwritten);
    EXPECT_EQ(reader.read(4, out), PacketRingReader::Read::Ok);
    EXPECT_EQ(reader.read(kPacketIndexCount + 3, out), PacketRingReader::Read::Ok);
}

// A reader that keeps up with a writer running at the same time never sees
// an overrun or a protocol error: not even across the index's wrap, and not
// when a record completes between the reader's loads (review finding: the
// reader once loaded the entry before latest_seq and saw false overruns).
TEST(PacketRing, AReaderThatKeepsUpSeesEveryRecordWhileTheWriterRuns) {
    PacketRingWriter writer(kMinPacketRingBytes, kEpoch);
    PacketRingReader reader = reader_of(writer);
    constexpr uint64_t kRecords = 40 * kPacketIndexCount + 17;
    std::atomic<uint64_t> consumed{0};
    std::thread producer([&] {
        std::string data = packet_of(24, 'w');
        for (uint64_t seq = 1; seq <= kRecords; ++seq) {
            // At most 64 records (1.5 KiB) ahead of the reader: far inside the ring,
            // and few enough hand-offs between the threads to run on one loaded core.
            while (seq > consumed.load(std::memory_order_acquire) + 64) std::this_thread::yield();
            data[5] = static_cast<char>(seq);
            writer.write(reinterpret_cast<const uint8_t *>(data.data()), data.size(), static_cast<int64_t>(seq), 0,
                         CUFRAMES_CODEC_H264, false);
        }
    });
    uint64_t overwritten = 0, wrong = 0;
    for (uint64_t seq = 1; seq <= kRecords;) {
        PacketRecordCopy out;
        PacketRingReader::Read read = reader.read(seq, out);
        if (read == PacketRingReader::Read::NotYet) {
            // Let the writer run: on one loaded core a reader that spins here
            // takes a whole time slice per record (minutes in all, under ASan).
            std::this_thread::yield();
            continue;
        }
        if (read == PacketRingReader::Read::Overwritten) {
            ++overwritten;
        } else if (out.pts != static_cast<int64_t>(seq) || out.data.size() != 24 ||
                   out.data[5] != static_cast<uint8_t>(seq)) {
            ++wrong;
        }
        consumed.store(seq++, std::memory_order_release);
    }
    producer.join();
    EXPECT_EQ(overwritten, 0u);
    EXPECT_EQ(wrong, 0u);
}

TEST(PacketRing, KeyframesParameterSetsAreKeptAndCanBeSetExplicitly) {
    PacketRingWriter writer(kMinPacketRingBytes, kEpoch);
    PacketRingReader reader = reader_of(writer);
    cuframes_codec codec = CUFRAMES_CODEC_HEVC;
    EXPECT_EQ(reader.parameter_sets(codec), "");
    std::string keyframe = kSps + kPps + kIdr;
    writer.write(reinterpret_cast<const uint8_t *>(keyframe.data()), keyframe.size(), 0, 0, CUFRAMES_CODEC_H264, true);
    EXPECT_EQ(reader.parameter_sets(codec), kSps + kPps);
    EXPECT_EQ(codec, CUFRAMES_CODEC_H264);
    writer.set_parameter_sets(CUFRAMES_CODEC_H264, reinterpret_cast<const uint8_t *>(kPps.data()), kPps.size());
    EXPECT_EQ(reader.parameter_sets(codec), kPps);
}

TEST(AnnexB, ParameterSetsAreFoundByNalType) {
    std::string keyframe = kSps + kPps + kIdr;
    auto bytes = [](const std::string &s) { return reinterpret_cast<const uint8_t *>(s.data()); };
    EXPECT_EQ(extract_parameter_sets(CUFRAMES_CODEC_H264, bytes(keyframe), keyframe.size()), kSps + kPps);
    EXPECT_TRUE(carries_parameter_sets(CUFRAMES_CODEC_H264, bytes(keyframe), keyframe.size()));
    EXPECT_FALSE(carries_parameter_sets(CUFRAMES_CODEC_H264, bytes(kIdr), kIdr.size()));
    EXPECT_EQ(extract_parameter_sets(CUFRAMES_CODEC_H264, bytes(kSlice), kSlice.size()), "");
    // H.265: VPS 32, SPS 33, PPS 34 live in bits 1..6 of the first byte.
    std::string vps("\0\0\1\x40\x01\x0c", 6), sps("\0\0\1\x42\x01\x01", 6), idr("\0\0\1\x26\x01\xaf", 6);
    std::string hevc = vps + sps + idr;
    EXPECT_TRUE(carries_parameter_sets(CUFRAMES_CODEC_HEVC, bytes(hevc), hevc.size()));
    EXPECT_FALSE(carries_parameter_sets(CUFRAMES_CODEC_HEVC, bytes(sps + idr), sps.size() + idr.size()));
    EXPECT_EQ(extract_parameter_sets(CUFRAMES_CODEC_HEVC, bytes(hevc), hevc.size()),
              std::string("\0\0\0\1\x40\x01\x0c\0\0\0\1\x42\x01\x01", 14));
}

TEST(PacketRing, TheWriterRefusesWhatIsNotAnAccessUnit) {
    PacketRingWriter writer(kMinPacketRingBytes, kEpoch);
    std::string avcc("\0\0\0\x04\x65\x88\x84\x00", 8);
    auto write = [&](const std::string &data, cuframes_codec codec) {
        writer.write(reinterpret_cast<const uint8_t *>(data.data()), data.size(), 0, 0, codec, false);
    };
    EXPECT_THROW(write(avcc, CUFRAMES_CODEC_H264), Error);
    EXPECT_THROW(write(packet_of(kMinPacketRingBytes / 2 + 1, 'z'), CUFRAMES_CODEC_H264), Error);
    // 3: in the enum's range (a C caller may pass anything; the C ABI reads it raw), but no codec.
    EXPECT_THROW(write(kIdr, static_cast<cuframes_codec>(3)), Error);
    EXPECT_THROW(PacketRingWriter(1000, kEpoch), Error);
    EXPECT_EQ(writer.latest_seq(), 0u);
}

// A region written by a hostile producer: the writer's layout, then bytes changed.
class HostileRing : public ::testing::Test {
protected:
    void SetUp() override {
        bytes_ = packet_region_bytes(kMinPacketRingBytes);
        fd_ = create_sealed_memfd("hostile-packets", bytes_);
        map_ = MemoryMap(fd_.get(), bytes_, true, "hostile ring");
        header_ = &init_packet_ring_header(map_.data(), kMinPacketRingBytes, kEpoch);
        records_ = reinterpret_cast<PacketRecord *>(static_cast<uint8_t *>(map_.data()) + packet_index_offset());
    }
    Status open_status() {
        seal_final(fd_.get(), true, "hostile ring");
        try {
            PacketRingReader reader(dup_fd(fd_.get()), bytes_, kEpoch, "a hostile producer");
            PacketRecordCopy out;
            reader.read(1, out);
            cuframes_codec codec;
            reader.parameter_sets(codec);
        } catch (const Error &error) {
            return error.status();
        }
        return CUFRAMES_OK;
    }
    void announce_record(uint32_t size, uint32_t flags, uint32_t codec) {
        records_[1].offset = 0;
        records_[1].size = size;
        records_[1].flags = flags;
        records_[1].codec = codec;
        records_[1].seq = 1;
        header_->write_end = size;
        header_->latest_seq = 1;
    }

    uint64_t bytes_ = 0;
    UniqueFd fd_;
    MemoryMap map_;
    PacketRingHeader *header_ = nullptr;
    PacketRecord *records_ = nullptr;
};

TEST_F(HostileRing, AnHonestLookingRegionIsAccepted) {
    announce_record(16, kPacketFlagKeyframe, CUFRAMES_CODEC_H264);
    EXPECT_EQ(open_status(), CUFRAMES_OK);
}
TEST_F(HostileRing, BadMagicIsRefused) {
    header_->magic = 0;
    EXPECT_EQ(open_status(), CUFRAMES_ERR_PROTOCOL);
}
TEST_F(HostileRing, AnotherVersionIsAMismatch) {
    header_->version = kProtocolVersion + 1;
    EXPECT_EQ(open_status(), CUFRAMES_ERR_VERSION_MISMATCH);
}
TEST_F(HostileRing, GeometryThatDisagreesWithTheRegionIsRefused) {
    header_->data_bytes = kMinPacketRingBytes * 2;
    EXPECT_EQ(open_status(), CUFRAMES_ERR_PROTOCOL);
}
TEST_F(HostileRing, AnotherProducersEpochIsRefused) {
    header_->epoch = kEpoch + 1;
    EXPECT_EQ(open_status(), CUFRAMES_ERR_PROTOCOL);
}
TEST_F(HostileRing, ARecordLargerThanHalfTheRingIsRefused) {
    announce_record(kMinPacketRingBytes, 0, CUFRAMES_CODEC_H264);
    EXPECT_EQ(open_status(), CUFRAMES_ERR_PROTOCOL);
}
TEST_F(HostileRing, UnknownFlagsOrCodecAreRefused) {
    announce_record(16, 0x80, CUFRAMES_CODEC_H264);
    EXPECT_EQ(open_status(), CUFRAMES_ERR_PROTOCOL);
}
TEST_F(HostileRing, ARecordBeyondTheWritePositionIsRefused) {
    announce_record(16, 0, CUFRAMES_CODEC_HEVC);
    header_->write_end = 8;
    EXPECT_EQ(open_status(), CUFRAMES_ERR_PROTOCOL);
}
TEST_F(HostileRing, OversizedParameterSetsAreRefused) {
    header_->parameter_sets_version = 2;
    header_->parameter_sets_size = kMaxParameterSetBytes + 1;
    header_->parameter_sets_codec = CUFRAMES_CODEC_H264;
    EXPECT_EQ(open_status(), CUFRAMES_ERR_PROTOCOL);
}
TEST_F(HostileRing, AWritableDescriptorIsRefused) {
    // Not sealed against writes: the producer could hand out a region that others can change.
    try {
        PacketRingReader reader(dup_fd(fd_.get()), bytes_, kEpoch, "a hostile producer");
        FAIL() << "accepted a region that is not write-sealed";
    } catch (const Error &error) {
        EXPECT_EQ(error.status(), CUFRAMES_ERR_PROTOCOL);
    }
}

}  // namespace
}  // namespace cuframes
