// The C ABI's growth rules (cuframes.h, "How the ABI grows"), its versions,
// and the close calls that wake a blocked call from another thread.
#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <future>
#include <string>
#include <vector>

#include "cuframes/cuframes.h"
#include "temp_dir.hpp"

namespace {

class CAbiRules : public ::testing::Test {
protected:
    void SetUp() override {
        cuframes_publisher_options_init(&pub_options);
        pub_options.key = "cam0";
        pub_options.dir = dir.c_str();
        pub_options.width = 64;
        pub_options.height = 32;
        pub_options.backend = CUFRAMES_BACKEND_HOST;
        pub_options.packet_ring_bytes = 1 << 16;
        cuframes_subscriber_options_init(&sub_options);
        sub_options.key = "cam0";
        sub_options.dir = dir.c_str();
    }
    void TearDown() override {
        cuframes_subscriber_destroy(sub);
        cuframes_publisher_destroy(pub);
    }
    // Options copied into a buffer `extra` bytes larger than the struct, tail zero.
    template <typename Options>
    static std::vector<unsigned char> grown(const Options &options, size_t extra) {
        std::vector<unsigned char> bytes(sizeof(Options) + extra, 0);
        std::memcpy(bytes.data(), &options, sizeof(Options));
        const uint32_t size = static_cast<uint32_t>(bytes.size());
        std::memcpy(bytes.data(), &size, sizeof(size));
        return bytes;
    }
    void publish_one(int64_t pts) {
        cuframes_buffer buffer;
        cuframes_buffer_init(&buffer);
        ASSERT_EQ(cuframes_publisher_acquire(pub, &buffer), CUFRAMES_OK) << cuframes_last_error();
        ASSERT_EQ(cuframes_publisher_publish(pub, nullptr, pts, nullptr, 0, nullptr), CUFRAMES_OK);
    }

    TempDir dir;
    cuframes_publisher_options pub_options;
    cuframes_subscriber_options sub_options;
    cuframes_publisher *pub = nullptr;
    cuframes_subscriber *sub = nullptr;
};

TEST_F(CAbiRules, VersionsAtRunTimeMatchTheHeader) {
    EXPECT_EQ(cuframes_abi_version(), static_cast<uint32_t>(CUFRAMES_ABI_VERSION));
    const std::string expected = std::to_string(CUFRAMES_VERSION_MAJOR) + "." + std::to_string(CUFRAMES_VERSION_MINOR) +
                                 "." + std::to_string(CUFRAMES_VERSION_PATCH);
    EXPECT_EQ(std::string(cuframes_version()), expected);
    EXPECT_EQ(pub_options.abi_version, static_cast<uint32_t>(CUFRAMES_ABI_VERSION));
}

TEST_F(CAbiRules, InitSizeWritesOnlyTheCallersBytes) {
    std::vector<unsigned char> bytes(sizeof(cuframes_subscriber_options) + 16, 0xA5);
    const uint32_t small = offsetof(cuframes_subscriber_options, delivery);
    cuframes_subscriber_options_init_size(reinterpret_cast<cuframes_subscriber_options *>(bytes.data()), small);
    cuframes_subscriber_options seen;
    std::memcpy(&seen, bytes.data(), sizeof(seen));
    EXPECT_EQ(seen.struct_size, small);
    EXPECT_EQ(seen.connect_timeout_ms, 5000);
    for (size_t i = small; i < bytes.size(); ++i) ASSERT_EQ(bytes[i], 0xA5) << "byte " << i;
}

TEST_F(CAbiRules, SmallerOptionsTakeTheDefaultsForWhatTheyLack) {
    // Ends before the stream facts: the garbage there must not be read.
    pub_options.struct_size = offsetof(cuframes_publisher_options, time_base);
    pub_options.time_base = {-5, 0};
    pub_options.color_matrix = 999;
    ASSERT_EQ(cuframes_publisher_create(&pub_options, &pub), CUFRAMES_OK) << cuframes_last_error();
    sub_options.struct_size = offsetof(cuframes_subscriber_options, spin_ns);
    sub_options.spin_ns = -12345;  // invalid, but beyond struct_size
    ASSERT_EQ(cuframes_subscriber_create(&sub_options, &sub), CUFRAMES_OK) << cuframes_last_error();
    cuframes_stream_facts facts;
    cuframes_stream_facts_init(&facts);
    ASSERT_EQ(cuframes_subscriber_stream_facts(sub, &facts), CUFRAMES_OK);
    EXPECT_EQ(facts.time_base.num, 0);
    EXPECT_EQ(facts.color_matrix, static_cast<uint32_t>(CUFRAMES_COLOR_UNSPECIFIED));
}

TEST_F(CAbiRules, LargerOptionsNeedAZeroTail) {
    std::vector<unsigned char> bytes = grown(pub_options, 16);
    const auto *options = reinterpret_cast<const cuframes_publisher_options *>(bytes.data());
    ASSERT_EQ(cuframes_publisher_create(options, &pub), CUFRAMES_OK) << cuframes_last_error();
    cuframes_publisher_destroy(pub);
    pub = nullptr;

    bytes.back() = 1;  // a field this library does not know, set
    EXPECT_EQ(cuframes_publisher_create(options, &pub), CUFRAMES_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(pub, nullptr);
    EXPECT_NE(std::string(cuframes_last_error()).find("newer cuframes.h"), std::string::npos) << cuframes_last_error();

    std::vector<unsigned char> sub_bytes = grown(sub_options, 8);
    sub_bytes.back() = 1;
    EXPECT_EQ(cuframes_subscriber_create(reinterpret_cast<const cuframes_subscriber_options *>(sub_bytes.data()), &sub),
              CUFRAMES_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(dir.entries().empty());
}

TEST_F(CAbiRules, UninitializedOptionsAreRefused) {
    pub_options.abi_version = 0;  // what a struct that skipped *_init looks like
    EXPECT_EQ(cuframes_publisher_create(&pub_options, &pub), CUFRAMES_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(cuframes_last_error()).find("abi_version"), std::string::npos);
    cuframes_packet_subscriber_options packet_options;
    std::memset(&packet_options, 0x5A, sizeof(packet_options));
    cuframes_packet_subscriber *packets = nullptr;
    EXPECT_EQ(cuframes_packet_subscriber_create(&packet_options, &packets), CUFRAMES_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(cuframes_last_error()).find("struct_size"), std::string::npos);
    EXPECT_TRUE(dir.entries().empty());
}

TEST_F(CAbiRules, OutputStructsAreWrittenExactlyToTheirSize) {
    ASSERT_EQ(cuframes_publisher_create(&pub_options, &pub), CUFRAMES_OK) << cuframes_last_error();
    ASSERT_EQ(cuframes_subscriber_create(&sub_options, &sub), CUFRAMES_OK) << cuframes_last_error();
    publish_one(77);
    cuframes_frame *frame = nullptr;
    ASSERT_EQ(cuframes_subscriber_next(sub, 2000, &frame), CUFRAMES_OK) << cuframes_last_error();

    // An older, smaller struct: only its bytes are written.
    std::vector<unsigned char> bytes(sizeof(cuframes_frame_info) + 32, 0xA5);
    const uint32_t small = offsetof(cuframes_frame_info, missed);
    std::memcpy(bytes.data(), &small, sizeof(small));
    auto *info = reinterpret_cast<cuframes_frame_info *>(bytes.data());
    ASSERT_EQ(cuframes_frame_get_info(frame, info), CUFRAMES_OK) << cuframes_last_error();
    EXPECT_EQ(info->struct_size, small);
    EXPECT_EQ(info->seq, 1u);
    EXPECT_EQ(info->pts, 77);
    for (size_t i = small; i < bytes.size(); ++i) ASSERT_EQ(bytes[i], 0xA5) << "byte " << i;

    // A newer, larger struct: the fields this library does not know are zeroed, no further.
    const uint32_t large = sizeof(cuframes_frame_info) + 16;
    std::memcpy(bytes.data(), &large, sizeof(large));
    ASSERT_EQ(cuframes_frame_get_info(frame, info), CUFRAMES_OK) << cuframes_last_error();
    EXPECT_EQ(info->struct_size, large);
    EXPECT_EQ(info->width, 64u);
    for (size_t i = sizeof(cuframes_frame_info); i < large; ++i) ASSERT_EQ(bytes[i], 0) << "byte " << i;
    for (size_t i = large; i < bytes.size(); ++i) ASSERT_EQ(bytes[i], 0xA5) << "byte " << i;

    // Not initialized: refused, nothing written.
    cuframes_frame_info unset{};
    EXPECT_EQ(cuframes_frame_get_info(frame, &unset), CUFRAMES_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(cuframes_last_error()).find("cuframes_frame_info_init"), std::string::npos);
    EXPECT_EQ(unset.seq, 0u);
    cuframes_frame_release(frame);
    // Without a frame nothing tells the caller's generation: nothing is written.
    std::memset(bytes.data(), 0xA5, bytes.size());
    EXPECT_EQ(cuframes_frame_get_info(nullptr, info), CUFRAMES_ERR_INVALID_ARGUMENT);
    for (size_t i = 0; i < bytes.size(); ++i) ASSERT_EQ(bytes[i], 0xA5) << "byte " << i;

    // acquire checks its struct before it takes a slot: a good one right after works.
    cuframes_buffer buffer{};
    EXPECT_EQ(cuframes_publisher_acquire(pub, &buffer), CUFRAMES_ERR_INVALID_ARGUMENT);
    cuframes_buffer_init(&buffer);
    EXPECT_EQ(cuframes_publisher_acquire(pub, &buffer), CUFRAMES_OK) << cuframes_last_error();
    EXPECT_EQ(buffer.plane_count, 2u);
}

// cuframes_subscriber_get_info: what an FFmpeg input needs before the first frame
// (backend, size, format) and the hold count it steers its zero-copy by.
TEST_F(CAbiRules, SubscriberInfoSaysBackendLayoutAndHolds) {
    pub_options.max_held = 3;
    pub_options.slots = 14;  // max_subscribers (4) * max_held + 2
    ASSERT_EQ(cuframes_publisher_create(&pub_options, &pub), CUFRAMES_OK) << cuframes_last_error();
    ASSERT_EQ(cuframes_subscriber_create(&sub_options, &sub), CUFRAMES_OK) << cuframes_last_error();
    cuframes_subscriber_info info;
    cuframes_subscriber_info_init(&info);
    ASSERT_EQ(cuframes_subscriber_get_info(sub, &info), CUFRAMES_OK) << cuframes_last_error();
    EXPECT_EQ(info.backend, CUFRAMES_BACKEND_HOST);
    EXPECT_EQ(info.device, -1);
    EXPECT_EQ(info.width, 64u);
    EXPECT_EQ(info.height, 32u);
    EXPECT_EQ(info.format, CUFRAMES_FORMAT_NV12);
    EXPECT_EQ(info.slots, pub_options.slots);
    EXPECT_EQ(info.max_held, 3u);
    EXPECT_EQ(info.held, 0u);

    publish_one(1);
    cuframes_frame *frame = nullptr;
    ASSERT_EQ(cuframes_subscriber_next(sub, 2000, &frame), CUFRAMES_OK) << cuframes_last_error();
    ASSERT_EQ(cuframes_subscriber_get_info(sub, &info), CUFRAMES_OK) << cuframes_last_error();
    EXPECT_EQ(info.held, 1u);
    cuframes_frame_release(frame);
    ASSERT_EQ(cuframes_subscriber_get_info(sub, &info), CUFRAMES_OK) << cuframes_last_error();
    EXPECT_EQ(info.held, 0u);

    // A smaller struct gets only its bytes; an unset one is refused with the helper named.
    std::vector<unsigned char> bytes(sizeof(info) + 8, 0xA5);
    const uint32_t small = offsetof(cuframes_subscriber_info, width);
    std::memcpy(bytes.data(), &small, sizeof(small));
    auto *sized = reinterpret_cast<cuframes_subscriber_info *>(bytes.data());
    ASSERT_EQ(cuframes_subscriber_get_info(sub, sized), CUFRAMES_OK) << cuframes_last_error();
    EXPECT_EQ(sized->backend, CUFRAMES_BACKEND_HOST);
    for (size_t i = small; i < bytes.size(); ++i) ASSERT_EQ(bytes[i], 0xA5) << "byte " << i;
    cuframes_subscriber_info unset{};
    EXPECT_EQ(cuframes_subscriber_get_info(sub, &unset), CUFRAMES_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(cuframes_last_error()).find("cuframes_subscriber_info_init"), std::string::npos);
    EXPECT_EQ(cuframes_subscriber_get_info(nullptr, &info), CUFRAMES_ERR_INVALID_ARGUMENT);
}

TEST_F(CAbiRules, CloseWakesANextBlockedInAnotherThread) {
    ASSERT_EQ(cuframes_publisher_create(&pub_options, &pub), CUFRAMES_OK) << cuframes_last_error();
    ASSERT_EQ(cuframes_subscriber_create(&sub_options, &sub), CUFRAMES_OK) << cuframes_last_error();
    cuframes_packet_subscriber_options packet_options;
    cuframes_packet_subscriber_options_init(&packet_options);
    packet_options.key = "cam0";
    packet_options.dir = dir.c_str();
    cuframes_packet_subscriber *packets = nullptr;
    ASSERT_EQ(cuframes_packet_subscriber_create(&packet_options, &packets), CUFRAMES_OK) << cuframes_last_error();

    auto blocked_frame = std::async(std::launch::async, [&] {
        cuframes_frame *frame = nullptr;
        return cuframes_subscriber_next(sub, -1, &frame);  // forever, unless closed
    });
    auto blocked_packet = std::async(std::launch::async, [&] {
        unsigned char data[64];
        cuframes_packet_info info;
        cuframes_packet_info_init(&info);
        return cuframes_packet_subscriber_next(packets, -1, data, sizeof data, &info);
    });
    // Both are waiting (nothing is published); closing must end the waits.
    EXPECT_EQ(blocked_frame.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
    cuframes_subscriber_close(sub);
    cuframes_packet_subscriber_close(packets);
    ASSERT_EQ(blocked_frame.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    ASSERT_EQ(blocked_packet.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    EXPECT_EQ(blocked_frame.get(), CUFRAMES_ERR_STATE);
    EXPECT_EQ(blocked_packet.get(), CUFRAMES_ERR_STATE);
    cuframes_subscriber_close(sub);  // idempotent
    cuframes_frame *frame = nullptr;
    EXPECT_EQ(cuframes_subscriber_next(sub, 0, &frame), CUFRAMES_ERR_STATE);
    cuframes_packet_subscriber_destroy(packets);
}

}  // namespace
