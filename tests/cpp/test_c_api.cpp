// The C ABI on the host backend, publisher and subscriber in one process:
// argument checking, status codes, and frames going through unchanged.
#include <gtest/gtest.h>

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "cuframes/cuframes.h"
#include "cuframes/format.hpp"
#include "temp_dir.hpp"

namespace {

std::string joined(const std::vector<std::string> &names) {
    std::string out;
    for (const std::string &name : names) out += name + " ";
    return out;
}

class CApi : public ::testing::Test {
protected:
    void SetUp() override {
        cuframes_publisher_options_init(&pub_options);
        pub_options.key = "cam0";
        pub_options.dir = dir.c_str();
        pub_options.width = 64;
        pub_options.height = 32;
        pub_options.format = CUFRAMES_FORMAT_NV12;
        pub_options.backend = CUFRAMES_BACKEND_HOST;
        cuframes_subscriber_options_init(&sub_options);
        sub_options.key = "cam0";
        sub_options.dir = dir.c_str();
        sub_options.connect_timeout_ms = 2000;
    }
    void TearDown() override {
        cuframes_subscriber_destroy(sub);
        cuframes_publisher_destroy(pub);
    }

    // Creation must fail with `expected`, return no object and leave no file behind.
    void expect_create_fails(cuframes_status expected, const char *what) {
        SCOPED_TRACE(what);
        cuframes_publisher *made = reinterpret_cast<cuframes_publisher *>(0x1);
        const cuframes_status status = cuframes_publisher_create(&pub_options, &made);
        EXPECT_EQ(status, expected) << cuframes_status_name(status) << ": " << cuframes_last_error();
        EXPECT_EQ(made, nullptr);
        EXPECT_GT(std::strlen(cuframes_last_error()), 0u);
        EXPECT_TRUE(dir.entries().empty()) << "left behind: " << joined(dir.entries());
        if (status == CUFRAMES_OK) cuframes_publisher_destroy(made);
    }

    void create_publisher() {
        ASSERT_EQ(cuframes_publisher_create(&pub_options, &pub), CUFRAMES_OK) << cuframes_last_error();
    }

    void create_both() {
        create_publisher();
        ASSERT_EQ(cuframes_subscriber_create(&sub_options, &sub), CUFRAMES_OK) << cuframes_last_error();
    }

    // Writes (pts + row) into every byte of every plane, then publishes.
    uint64_t publish_pattern(int64_t pts, const std::string &metadata = "") {
        cuframes_buffer buffer;
        cuframes_buffer_init(&buffer);
        EXPECT_EQ(cuframes_publisher_acquire(pub, &buffer), CUFRAMES_OK) << cuframes_last_error();
        for (uint32_t p = 0; p < buffer.plane_count; ++p) {
            for (uint32_t row = 0; row < buffer.planes[p].height; ++row) {
                auto *line = reinterpret_cast<unsigned char *>(buffer.data) + buffer.planes[p].offset +
                             static_cast<uint64_t>(row) * buffer.planes[p].pitch;
                std::memset(line, static_cast<int>((pts + row) & 0xff), buffer.planes[p].row_bytes);
            }
        }
        uint64_t seq = 0;
        EXPECT_EQ(cuframes_publisher_publish(pub, nullptr, pts, metadata.data(), static_cast<uint32_t>(metadata.size()),
                                             &seq),
                  CUFRAMES_OK)
            << cuframes_last_error();
        return seq;
    }

    static bool pattern_matches(const cuframes_frame_info &info) {
        for (uint32_t p = 0; p < info.plane_count; ++p) {
            for (uint32_t row = 0; row < info.planes[p].height; ++row) {
                auto *line = reinterpret_cast<const unsigned char *>(info.data) + info.planes[p].offset +
                             static_cast<uint64_t>(row) * info.planes[p].pitch;
                for (uint32_t i = 0; i < info.planes[p].row_bytes; ++i)
                    if (line[i] != static_cast<unsigned char>((info.pts + row) & 0xff)) return false;
            }
        }
        return true;
    }

    TempDir dir;
    cuframes_publisher_options pub_options{};
    cuframes_subscriber_options sub_options{};
    cuframes_publisher *pub = nullptr;
    cuframes_subscriber *sub = nullptr;
};

TEST(CApiStatus, EveryCodeHasItsOwnName) {
    const std::vector<std::pair<cuframes_status, std::string>> names = {
        {CUFRAMES_OK, "CUFRAMES_OK"},
        {CUFRAMES_ERR_INVALID_ARGUMENT, "CUFRAMES_ERR_INVALID_ARGUMENT"},
        {CUFRAMES_ERR_FORMAT, "CUFRAMES_ERR_FORMAT"},
        {CUFRAMES_ERR_NOT_FOUND, "CUFRAMES_ERR_NOT_FOUND"},
        {CUFRAMES_ERR_TIMEOUT, "CUFRAMES_ERR_TIMEOUT"},
        {CUFRAMES_ERR_DISCONNECTED, "CUFRAMES_ERR_DISCONNECTED"},
        {CUFRAMES_ERR_KEY_IN_USE, "CUFRAMES_ERR_KEY_IN_USE"},
        {CUFRAMES_ERR_PERMISSION, "CUFRAMES_ERR_PERMISSION"},
        {CUFRAMES_ERR_PROTOCOL, "CUFRAMES_ERR_PROTOCOL"},
        {CUFRAMES_ERR_VERSION_MISMATCH, "CUFRAMES_ERR_VERSION_MISMATCH"},
        {CUFRAMES_ERR_CUDA, "CUFRAMES_ERR_CUDA"},
        {CUFRAMES_ERR_CUDA_UNAVAILABLE, "CUFRAMES_ERR_CUDA_UNAVAILABLE"},
        {CUFRAMES_ERR_LIMIT, "CUFRAMES_ERR_LIMIT"},
        {CUFRAMES_ERR_STATE, "CUFRAMES_ERR_STATE"},
        {CUFRAMES_ERR_OS, "CUFRAMES_ERR_OS"},
        {CUFRAMES_ERR_PRODUCER_DIED, "CUFRAMES_ERR_PRODUCER_DIED"},
    };
    for (const auto &entry : names) EXPECT_EQ(cuframes_status_name(entry.first), entry.second);
    // 15 is now a code and the largest value C++ lets this enum hold: c_header_check.c
    // tries unknown ones (99 and -1) from C.
}

TEST(CApiStatus, OptionDefaults) {
    cuframes_publisher_options pub;
    std::memset(&pub, 0x5A, sizeof pub);
    cuframes_publisher_options_init(&pub);
    EXPECT_EQ(pub.struct_size, sizeof pub);
    EXPECT_EQ(pub.key, nullptr);
    EXPECT_EQ(pub.dir, nullptr);
    EXPECT_EQ(pub.width, 0u);
    EXPECT_EQ(pub.format, CUFRAMES_FORMAT_NV12);
    EXPECT_EQ(pub.slots, 10u);
    EXPECT_EQ(pub.max_subscribers, 4u);
    EXPECT_EQ(pub.max_held, 2u);
    EXPECT_EQ(pub.backend, CUFRAMES_BACKEND_AUTO);
    EXPECT_EQ(pub.device, 0);
    EXPECT_EQ(pub.socket_mode, 0660u);
    EXPECT_EQ(pub.socket_group, -1);
    EXPECT_EQ(pub.allowed_uids, nullptr);
    EXPECT_EQ(pub.allowed_uid_count, 0u);
    EXPECT_EQ(pub.allowed_gids, nullptr);
    EXPECT_EQ(pub.allowed_gid_count, 0u);
    cuframes_subscriber_options sub;
    std::memset(&sub, 0x5A, sizeof sub);
    cuframes_subscriber_options_init(&sub);
    EXPECT_EQ(sub.struct_size, sizeof sub);
    EXPECT_EQ(sub.key, nullptr);
    EXPECT_EQ(sub.dir, nullptr);
    EXPECT_EQ(sub.connect_timeout_ms, 5000);
    EXPECT_EQ(sub.delivery, CUFRAMES_DELIVERY_LATEST);
    EXPECT_EQ(sub.reconnect, 0);
    cuframes_publisher_options_init(nullptr);  // must not crash
    cuframes_subscriber_options_init(nullptr);
}

TEST(CApiStatus, LastErrorIsPerThread) {
    cuframes_publisher *made = nullptr;
    ASSERT_EQ(cuframes_publisher_create(nullptr, &made), CUFRAMES_ERR_INVALID_ARGUMENT);
    const std::string mine = cuframes_last_error();
    EXPECT_NE(mine.find("options"), std::string::npos) << mine;
    std::string theirs;
    std::thread other([&] {
        cuframes_subscriber *s = nullptr;
        EXPECT_EQ(cuframes_subscriber_create(nullptr, &s), CUFRAMES_ERR_INVALID_ARGUMENT);
        EXPECT_EQ(cuframes_subscriber_next(nullptr, 0, nullptr), CUFRAMES_ERR_INVALID_ARGUMENT);
        theirs = cuframes_last_error();
    });
    other.join();
    EXPECT_NE(theirs, mine);
    EXPECT_EQ(std::string(cuframes_last_error()), mine) << "another thread's failure changed this thread's message";
}

TEST_F(CApi, NullArgumentsAreNamed) {
    cuframes_publisher *made = nullptr;
    EXPECT_EQ(cuframes_publisher_create(&pub_options, nullptr), CUFRAMES_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(cuframes_last_error()).find("out"), std::string::npos) << cuframes_last_error();
    EXPECT_EQ(cuframes_publisher_create(nullptr, &made), CUFRAMES_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(cuframes_last_error()).find("options"), std::string::npos) << cuframes_last_error();
    pub_options.key = nullptr;
    EXPECT_EQ(cuframes_publisher_create(&pub_options, &made), CUFRAMES_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(cuframes_last_error()).find("key"), std::string::npos) << cuframes_last_error();
    EXPECT_EQ(made, nullptr);

    cuframes_buffer buffer;

    cuframes_buffer_init(&buffer);
    EXPECT_EQ(cuframes_publisher_acquire(nullptr, &buffer), CUFRAMES_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(cuframes_last_error()).find("publisher"), std::string::npos);
    EXPECT_EQ(cuframes_publisher_publish(nullptr, nullptr, 0, nullptr, 0, nullptr), CUFRAMES_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(cuframes_publisher_abort(nullptr), CUFRAMES_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(cuframes_publisher_subscriber_count(nullptr), 0u);

    cuframes_subscriber *s = nullptr;
    sub_options.key = nullptr;
    EXPECT_EQ(cuframes_subscriber_create(&sub_options, &s), CUFRAMES_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(cuframes_last_error()).find("key"), std::string::npos) << cuframes_last_error();
    EXPECT_EQ(cuframes_subscriber_create(nullptr, &s), CUFRAMES_ERR_INVALID_ARGUMENT);
    cuframes_frame *frame = nullptr;
    EXPECT_EQ(cuframes_subscriber_next(nullptr, 0, &frame), CUFRAMES_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(cuframes_last_error()).find("subscriber"), std::string::npos);
    char byte = 0;
    EXPECT_EQ(cuframes_subscriber_read_into(nullptr, 0, &byte, 1, nullptr, nullptr), CUFRAMES_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(cuframes_subscriber_packed_size(nullptr), 0u);

    // NULL is allowed where the header says so.
    cuframes_publisher_destroy(nullptr);
    cuframes_subscriber_destroy(nullptr);
    cuframes_frame_release(nullptr);
    EXPECT_TRUE(dir.entries().empty());
}

TEST_F(CApi, BadPublisherOptionsReturnTheRightCodeAndLeaveNoFile) {
    const cuframes_publisher_options good = pub_options;

    pub_options.struct_size = 8;  // smaller than any cuframes.h ever had
    expect_create_fails(CUFRAMES_ERR_INVALID_ARGUMENT, "struct_size");
    EXPECT_NE(std::string(cuframes_last_error()).find("struct_size"), std::string::npos);
    pub_options = good;

    for (const char *key : {"", "a/b", "..", ".hidden", "has space",
                            "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk" /* 65 */}) {
        pub_options = good;
        pub_options.key = key;
        expect_create_fails(CUFRAMES_ERR_INVALID_ARGUMENT, key);
    }

    pub_options = good;
    pub_options.width = 0;
    expect_create_fails(CUFRAMES_ERR_INVALID_ARGUMENT, "width 0");
    pub_options = good;
    pub_options.height = 16385;
    expect_create_fails(CUFRAMES_ERR_INVALID_ARGUMENT, "height 16385");
    pub_options = good;
    pub_options.width = 63;
    expect_create_fails(CUFRAMES_ERR_INVALID_ARGUMENT, "odd nv12 width");

    pub_options = good;
    // Values C++ can hold in these enums; c_header_check.c tries larger ones from C.
    pub_options.format = static_cast<cuframes_format>(15);
    expect_create_fails(CUFRAMES_ERR_FORMAT, "format 15");
    pub_options = good;
    pub_options.format = static_cast<cuframes_format>(0);
    expect_create_fails(CUFRAMES_ERR_FORMAT, "format 0");

    pub_options = good;
    pub_options.backend = static_cast<cuframes_backend>(3);
    expect_create_fails(CUFRAMES_ERR_INVALID_ARGUMENT, "backend 3");

    pub_options = good;
    pub_options.slots = 9;  // needs >= 4 * 2 + 2
    expect_create_fails(CUFRAMES_ERR_INVALID_ARGUMENT, "slots 9");
    pub_options = good;
    pub_options.slots = 129;
    pub_options.max_subscribers = 1;
    expect_create_fails(CUFRAMES_ERR_INVALID_ARGUMENT, "slots 129");
}

TEST_F(CApi, SecondPublisherOnALiveKeyIsKeyInUse) {
    ASSERT_EQ(cuframes_publisher_create(&pub_options, &pub), CUFRAMES_OK) << cuframes_last_error();
    cuframes_publisher *second = nullptr;
    EXPECT_EQ(cuframes_publisher_create(&pub_options, &second), CUFRAMES_ERR_KEY_IN_USE) << cuframes_last_error();
    EXPECT_EQ(second, nullptr);
    EXPECT_NE(std::string(cuframes_last_error()).find("cam0"), std::string::npos) << cuframes_last_error();
}

TEST_F(CApi, CleanCloseRemovesTheSocketAndLock) {
    ASSERT_EQ(cuframes_publisher_create(&pub_options, &pub), CUFRAMES_OK) << cuframes_last_error();
    EXPECT_FALSE(dir.entries().empty());
    cuframes_publisher_destroy(pub);
    pub = nullptr;
    EXPECT_TRUE(dir.entries().empty()) << "left behind: " << joined(dir.entries());
    // And the key is free again.
    ASSERT_EQ(cuframes_publisher_create(&pub_options, &pub), CUFRAMES_OK) << cuframes_last_error();
}

TEST_F(CApi, SubscriberWithoutProducerIsNotFoundAfterItsWait) {
    sub_options.connect_timeout_ms = 100;
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(cuframes_subscriber_create(&sub_options, &sub), CUFRAMES_ERR_NOT_FOUND) << cuframes_last_error();
    const auto waited = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(sub, nullptr);
    EXPECT_GE(waited, std::chrono::milliseconds(90));
    EXPECT_LT(waited, std::chrono::seconds(3));

    sub_options.struct_size = 0;
    EXPECT_EQ(cuframes_subscriber_create(&sub_options, &sub), CUFRAMES_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(cuframes_last_error()).find("struct_size"), std::string::npos);
}

TEST_F(CApi, UnknownDeliveryPolicyIsInvalid) {
    create_publisher();
    sub_options.delivery = static_cast<cuframes_delivery>(1);  // valid: sequential
    ASSERT_EQ(cuframes_subscriber_create(&sub_options, &sub), CUFRAMES_OK) << cuframes_last_error();
    cuframes_subscriber_destroy(sub);
    sub = nullptr;
    int32_t bad = 7;
    std::memcpy(&sub_options.delivery, &bad, sizeof bad);  // as a C caller could
    EXPECT_EQ(cuframes_subscriber_create(&sub_options, &sub), CUFRAMES_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(cuframes_last_error()).find("delivery"), std::string::npos);
    EXPECT_EQ(sub, nullptr);
}

TEST_F(CApi, SequentialDeliveryGivesEveryFrameStillInThePool) {
    create_publisher();
    sub_options.delivery = CUFRAMES_DELIVERY_SEQUENTIAL;
    ASSERT_EQ(cuframes_subscriber_create(&sub_options, &sub), CUFRAMES_OK) << cuframes_last_error();
    for (int64_t pts = 0; pts < 5; ++pts) publish_pattern(pts);
    for (uint64_t expected = 1; expected <= 5; ++expected) {
        cuframes_frame *frame = nullptr;
        ASSERT_EQ(cuframes_subscriber_next(sub, 2000, &frame), CUFRAMES_OK) << cuframes_last_error();
        cuframes_frame_info info;
        cuframes_frame_info_init(&info);
        cuframes_frame_get_info(frame, &info);
        EXPECT_EQ(info.seq, expected);
        EXPECT_EQ(info.missed, 0u);
        EXPECT_TRUE(pattern_matches(info));
        cuframes_frame_release(frame);
    }
}

TEST_F(CApi, FramesRoundTripWithLayoutPtsAndMetadata) {
    create_both();
    const uint64_t seq = publish_pattern(1234, "hello");
    EXPECT_EQ(seq, 1u);

    cuframes_frame *frame = nullptr;
    ASSERT_EQ(cuframes_subscriber_next(sub, 2000, &frame), CUFRAMES_OK) << cuframes_last_error();
    ASSERT_NE(frame, nullptr);
    cuframes_frame_info info;
    cuframes_frame_info_init(&info);
    cuframes_frame_get_info(frame, &info);
    EXPECT_EQ(info.seq, 1u);
    EXPECT_EQ(info.pts, 1234);
    EXPECT_EQ(info.missed, 0u);
    EXPECT_GT(info.timestamp_ns, 0u);
    EXPECT_EQ(info.width, 64u);
    EXPECT_EQ(info.height, 32u);
    EXPECT_EQ(info.format, CUFRAMES_FORMAT_NV12);
    const cuframes::FrameLayout layout = cuframes::compute_layout(CUFRAMES_FORMAT_NV12, 64, 32);
    ASSERT_EQ(info.plane_count, layout.plane_count);
    for (uint32_t p = 0; p < info.plane_count; ++p) {
        EXPECT_EQ(info.planes[p].offset, layout.planes[p].offset);
        EXPECT_EQ(info.planes[p].pitch, layout.planes[p].pitch);
        EXPECT_EQ(info.planes[p].row_bytes, layout.planes[p].row_bytes);
        EXPECT_EQ(info.planes[p].height, layout.planes[p].height);
    }
    EXPECT_GE(info.size, layout.bytes);
    EXPECT_NE(info.data, 0u);
    EXPECT_TRUE(pattern_matches(info));
    ASSERT_EQ(info.metadata_size, 5u);
    EXPECT_EQ(std::string(static_cast<const char *>(info.metadata), info.metadata_size), "hello");
    cuframes_frame_release(frame);

    EXPECT_EQ(cuframes_subscriber_packed_size(sub), layout.packed_bytes);
    cuframes_subscriber_info about;
    cuframes_subscriber_info_init(&about);
    ASSERT_EQ(cuframes_subscriber_get_info(sub, &about), CUFRAMES_OK) << cuframes_last_error();
    EXPECT_EQ(about.backend, CUFRAMES_BACKEND_HOST);
}

TEST_F(CApi, SubscriberCountFollowsConnections) {
    create_both();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (cuframes_publisher_subscriber_count(pub) != 1 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_EQ(cuframes_publisher_subscriber_count(pub), 1u);
    cuframes_subscriber_destroy(sub);
    sub = nullptr;
    const auto gone = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (cuframes_publisher_subscriber_count(pub) != 0 && std::chrono::steady_clock::now() < gone)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_EQ(cuframes_publisher_subscriber_count(pub), 0u);
}

TEST_F(CApi, SequenceNumbersAccountForSkippedFrames) {
    create_both();
    for (int64_t pts = 0; pts < 5; ++pts) EXPECT_EQ(publish_pattern(pts), static_cast<uint64_t>(pts + 1));
    uint64_t previous = 0;
    int frames = 0;
    while (previous < 5 && frames < 10) {
        cuframes_frame *frame = nullptr;
        ASSERT_EQ(cuframes_subscriber_next(sub, 2000, &frame), CUFRAMES_OK) << cuframes_last_error();
        cuframes_frame_info info;
        cuframes_frame_info_init(&info);
        cuframes_frame_get_info(frame, &info);
        if (previous != 0) {
            EXPECT_EQ(info.seq, previous + info.missed + 1);
        }
        EXPECT_EQ(info.pts, static_cast<int64_t>(info.seq) - 1);
        EXPECT_TRUE(pattern_matches(info));
        previous = info.seq;
        ++frames;
        cuframes_frame_release(frame);
    }
    EXPECT_EQ(previous, 5u);
    cuframes_frame *none = reinterpret_cast<cuframes_frame *>(0x1);
    EXPECT_EQ(cuframes_subscriber_next(sub, 0, &none), CUFRAMES_ERR_TIMEOUT);
    EXPECT_EQ(none, nullptr);
}

TEST_F(CApi, NextTimesOutWhenNothingIsPublished) {
    create_both();
    cuframes_frame *frame = nullptr;
    EXPECT_EQ(cuframes_subscriber_next(sub, 0, &frame), CUFRAMES_ERR_TIMEOUT);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(cuframes_subscriber_next(sub, 100, &frame), CUFRAMES_ERR_TIMEOUT);
    const auto waited = std::chrono::steady_clock::now() - start;
    EXPECT_GE(waited, std::chrono::milliseconds(90));
    EXPECT_LT(waited, std::chrono::seconds(2));
    EXPECT_EQ(frame, nullptr);
    EXPECT_EQ(cuframes_subscriber_next(sub, -2, &frame), CUFRAMES_ERR_INVALID_ARGUMENT);
}

TEST_F(CApi, ReadIntoCopiesThePackedFrame) {
    create_both();
    publish_pattern(42, "meta");
    const uint64_t packed = cuframes_subscriber_packed_size(sub);
    ASSERT_EQ(packed, 64u * 32u * 3u / 2u);
    std::vector<unsigned char> dst(packed + 16, 0xEE);
    cuframes_frame_info info;
    std::memset(&info, 0x5A, sizeof info);  // every field must be written
    info.struct_size = sizeof info;
    ASSERT_EQ(cuframes_subscriber_read_into(sub, 2000, dst.data(), packed, nullptr, &info), CUFRAMES_OK)
        << cuframes_last_error();
    EXPECT_EQ(info.seq, 1u);
    EXPECT_EQ(info.pts, 42);
    EXPECT_EQ(info.width, 64u);
    EXPECT_EQ(info.height, 32u);
    EXPECT_EQ(info.format, CUFRAMES_FORMAT_NV12);
    EXPECT_EQ(info.plane_count, 2u);
    EXPECT_EQ(info.metadata, nullptr);
    // y: 32 rows of 64 bytes, then uv: 16 rows of 64 bytes, each row (pts + row).
    size_t at = 0;
    for (uint32_t rows : {32u, 16u}) {
        for (uint32_t row = 0; row < rows; ++row) {
            for (uint32_t i = 0; i < 64; ++i, ++at) {
                ASSERT_EQ(dst[at], static_cast<unsigned char>((42 + row) & 0xff)) << "byte " << at;
            }
        }
    }
    EXPECT_EQ(at, packed);
    for (size_t i = packed; i < dst.size(); ++i) ASSERT_EQ(dst[i], 0xEE) << "wrote past the packed size";

    // Too small a destination is refused rather than overrun.
    publish_pattern(43);
    EXPECT_EQ(cuframes_subscriber_read_into(sub, 2000, dst.data(), packed - 1, nullptr, nullptr),
              CUFRAMES_ERR_INVALID_ARGUMENT)
        << cuframes_last_error();
    EXPECT_EQ(cuframes_subscriber_read_into(sub, 2000, nullptr, packed, nullptr, nullptr),
              CUFRAMES_ERR_INVALID_ARGUMENT);
}

TEST_F(CApi, HoldingMaxHeldFramesIsALimit) {
    create_both();
    std::vector<cuframes_frame *> held;
    for (int64_t pts = 0; pts < 2; ++pts) {
        publish_pattern(pts);
        cuframes_frame *frame = nullptr;
        ASSERT_EQ(cuframes_subscriber_next(sub, 2000, &frame), CUFRAMES_OK) << cuframes_last_error();
        held.push_back(frame);
    }
    publish_pattern(2);
    cuframes_frame *third = nullptr;
    EXPECT_EQ(cuframes_subscriber_next(sub, 100, &third), CUFRAMES_ERR_LIMIT) << cuframes_last_error();
    EXPECT_EQ(third, nullptr);
    // The held frames were not overwritten by the publisher.
    for (cuframes_frame *frame : held) {
        cuframes_frame_info info;
        cuframes_frame_info_init(&info);
        cuframes_frame_get_info(frame, &info);
        EXPECT_TRUE(pattern_matches(info)) << "seq " << info.seq;
    }
    cuframes_frame_release(held[0]);
    ASSERT_EQ(cuframes_subscriber_next(sub, 2000, &third), CUFRAMES_OK) << cuframes_last_error();
    cuframes_frame_info info;
    cuframes_frame_info_init(&info);
    cuframes_frame_get_info(third, &info);
    EXPECT_EQ(info.pts, 2);
    cuframes_frame_release(third);
    cuframes_frame_release(held[1]);
}

TEST_F(CApi, AcquireAndPublishFollowTheirOrder) {
    ASSERT_EQ(cuframes_publisher_create(&pub_options, &pub), CUFRAMES_OK) << cuframes_last_error();
    EXPECT_EQ(cuframes_publisher_publish(pub, nullptr, 0, nullptr, 0, nullptr), CUFRAMES_ERR_STATE)
        << "publish without acquire";
    cuframes_buffer buffer;
    cuframes_buffer_init(&buffer);
    ASSERT_EQ(cuframes_publisher_acquire(pub, &buffer), CUFRAMES_OK) << cuframes_last_error();
    EXPECT_NE(buffer.data, 0u);
    EXPECT_EQ(buffer.plane_count, 2u);
    EXPECT_GE(buffer.size, cuframes::compute_layout(CUFRAMES_FORMAT_NV12, 64, 32).bytes);
    EXPECT_LT(buffer.slot, 10u);
    cuframes_buffer again;
    cuframes_buffer_init(&again);
    EXPECT_EQ(cuframes_publisher_acquire(pub, &again), CUFRAMES_ERR_STATE) << "second acquire";
    EXPECT_EQ(cuframes_publisher_abort(pub), CUFRAMES_OK);
    EXPECT_EQ(cuframes_publisher_publish(pub, nullptr, 0, nullptr, 0, nullptr), CUFRAMES_ERR_STATE)
        << "publish after abort";
    ASSERT_EQ(cuframes_publisher_acquire(pub, &buffer), CUFRAMES_OK);
    EXPECT_EQ(cuframes_publisher_publish(pub, nullptr, 0, nullptr, 1, nullptr), CUFRAMES_ERR_INVALID_ARGUMENT)
        << "metadata NULL with a size";
    std::vector<char> too_big(CUFRAMES_MAX_METADATA + 1, 'm');
    EXPECT_NE(
        cuframes_publisher_publish(pub, nullptr, 0, too_big.data(), static_cast<uint32_t>(too_big.size()), nullptr),
        CUFRAMES_OK)
        << "metadata over " << CUFRAMES_MAX_METADATA << " bytes";
    uint64_t seq = 0;
    std::vector<char> largest(CUFRAMES_MAX_METADATA, 'm');
    if (cuframes_publisher_abort(pub) == CUFRAMES_OK && cuframes_publisher_acquire(pub, &buffer) == CUFRAMES_OK) {
        EXPECT_EQ(
            cuframes_publisher_publish(pub, nullptr, 7, largest.data(), static_cast<uint32_t>(largest.size()), &seq),
            CUFRAMES_OK)
            << cuframes_last_error();
        EXPECT_EQ(seq, 1u);
    } else {
        ADD_FAILURE() << cuframes_last_error();
    }
}

TEST_F(CApi, ProducerCloseDisconnectsButHeldFramesStayReadable) {
    create_both();
    publish_pattern(9);
    cuframes_frame *frame = nullptr;
    ASSERT_EQ(cuframes_subscriber_next(sub, 2000, &frame), CUFRAMES_OK) << cuframes_last_error();
    cuframes_publisher_destroy(pub);
    pub = nullptr;
    cuframes_frame *after = nullptr;
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(cuframes_subscriber_next(sub, 2000, &after), CUFRAMES_ERR_DISCONNECTED) << cuframes_last_error();
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
    EXPECT_EQ(after, nullptr);
    cuframes_frame_info info;
    cuframes_frame_info_init(&info);
    cuframes_frame_get_info(frame, &info);
    EXPECT_EQ(info.pts, 9);
    EXPECT_TRUE(pattern_matches(info));
    cuframes_frame_release(frame);
    EXPECT_TRUE(dir.entries().empty()) << "left behind: " << joined(dir.entries());
}

TEST_F(CApi, AllowListsAndSocketGroupAreChecked) {
    pub_options.allowed_uid_count = 2;  // without a list
    expect_create_fails(CUFRAMES_ERR_INVALID_ARGUMENT, "uid count without a list");
    pub_options.allowed_uid_count = 0;
    pub_options.allowed_gid_count = 1;
    expect_create_fails(CUFRAMES_ERR_INVALID_ARGUMENT, "gid count without a list");
    pub_options.allowed_gid_count = 0;
    pub_options.socket_group = -2;
    expect_create_fails(CUFRAMES_ERR_INVALID_ARGUMENT, "negative group");
    pub_options.socket_group = -1;
    // The producer's own uid is always allowed, so a list naming only others still admits us.
    const uint32_t others[] = {4242, 4343};
    pub_options.allowed_uids = others;
    pub_options.allowed_uid_count = 2;
    create_both();
    publish_pattern(1);
    cuframes_frame *frame = nullptr;
    ASSERT_EQ(cuframes_subscriber_next(sub, 2000, &frame), CUFRAMES_OK) << cuframes_last_error();
    cuframes_frame_info info;
    cuframes_frame_info_init(&info);
    cuframes_frame_get_info(frame, &info);
    EXPECT_EQ(info.seq, 1u);
    EXPECT_EQ(info.reconnected, 0u);
    EXPECT_NE(info.epoch, 0u);
    cuframes_frame_release(frame);
}

TEST_F(CApi, ReconnectFollowsARestartedProducer) {
    sub_options.reconnect = 2;
    create_publisher();
    EXPECT_EQ(cuframes_subscriber_create(&sub_options, &sub), CUFRAMES_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(sub, nullptr);
    sub_options.reconnect = 1;
    ASSERT_EQ(cuframes_subscriber_create(&sub_options, &sub), CUFRAMES_OK) << cuframes_last_error();
    publish_pattern(1);
    cuframes_frame *frame = nullptr;
    ASSERT_EQ(cuframes_subscriber_next(sub, 2000, &frame), CUFRAMES_OK) << cuframes_last_error();
    cuframes_frame_info info;
    cuframes_frame_info_init(&info);
    cuframes_frame_get_info(frame, &info);
    const uint64_t first_epoch = info.epoch;
    cuframes_frame_release(frame);
    publish_pattern(2);  // never taken: lost in the restart
    cuframes_publisher_destroy(pub);
    pub = nullptr;
    EXPECT_EQ(cuframes_subscriber_next(sub, 0, &frame), CUFRAMES_OK);  // frame 2 is still readable
    cuframes_frame_release(frame);
    EXPECT_EQ(cuframes_subscriber_next(sub, 50, &frame), CUFRAMES_ERR_TIMEOUT) << cuframes_last_error();
    create_publisher();
    publish_pattern(7);
    publish_pattern(8);
    ASSERT_EQ(cuframes_subscriber_next(sub, 2000, &frame), CUFRAMES_OK) << cuframes_last_error();
    cuframes_frame_get_info(frame, &info);
    EXPECT_EQ(info.seq, 2u);
    EXPECT_EQ(info.pts, 8);
    EXPECT_EQ(info.missed, 1u);  // the new producer's frame 1
    EXPECT_EQ(info.reconnected, 1u);
    EXPECT_NE(info.epoch, first_epoch);
    cuframes_frame_release(frame);
}

// Encoded packets through the C ABI: a keyframe with its parameter sets, then
// a slice; a buffer too small is LIMIT with the size, and the packet waits.
TEST_F(CApi, PacketsGoThroughAndATooSmallBufferKeepsThePacket) {
    pub_options.packet_ring_bytes = 1 << 20;
    pub_options.description = "c test";
    create_publisher();
    cuframes_packet_subscriber_options options;
    cuframes_packet_subscriber_options_init(&options);
    options.key = "cam0";
    options.dir = dir.c_str();
    cuframes_packet_subscriber *packets = nullptr;
    ASSERT_EQ(cuframes_packet_subscriber_create(&options, &packets), CUFRAMES_OK) << cuframes_last_error();

    const unsigned char keyframe[] = {0, 0, 0, 1, 0x67, 0x42, 0, 0x1e, 0, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65, 0x88};
    const unsigned char slice[] = {0, 0, 0, 1, 0x41, 0x9a, 0x10};
    uint64_t seq = 0;
    ASSERT_EQ(cuframes_publisher_publish_packet(pub, keyframe, sizeof keyframe, 100, 99, CUFRAMES_CODEC_H264, 1, &seq),
              CUFRAMES_OK)
        << cuframes_last_error();
    EXPECT_EQ(seq, 1u);
    ASSERT_EQ(cuframes_publisher_publish_packet(pub, slice, sizeof slice, 101, 100, CUFRAMES_CODEC_H264, 0, &seq),
              CUFRAMES_OK);

    unsigned char small[4];
    cuframes_packet_info info;
    cuframes_packet_info_init(&info);
    EXPECT_EQ(cuframes_packet_subscriber_next(packets, 1000, small, sizeof small, &info), CUFRAMES_ERR_LIMIT);
    EXPECT_EQ(info.size, sizeof keyframe);
    std::vector<unsigned char> buffer(64);
    ASSERT_EQ(cuframes_packet_subscriber_next(packets, 1000, buffer.data(), buffer.size(), &info), CUFRAMES_OK);
    EXPECT_EQ(info.seq, 1u);
    EXPECT_EQ(info.pts, 100);
    EXPECT_EQ(info.dts, 99);
    EXPECT_EQ(info.keyframe, 1u);
    EXPECT_EQ(info.discontinuity, 1u);
    EXPECT_EQ(info.codec, CUFRAMES_CODEC_H264);
    EXPECT_EQ(std::memcmp(buffer.data(), keyframe, sizeof keyframe), 0);
    ASSERT_EQ(cuframes_packet_subscriber_next(packets, 1000, buffer.data(), buffer.size(), &info), CUFRAMES_OK);
    EXPECT_EQ(info.seq, 2u);
    EXPECT_EQ(info.size, sizeof slice);
    EXPECT_EQ(info.keyframe, 0u);
    EXPECT_EQ(cuframes_packet_subscriber_next(packets, 0, buffer.data(), buffer.size(), &info), CUFRAMES_ERR_TIMEOUT);
    cuframes_packet_subscriber_destroy(packets);
}

TEST_F(CApi, BadPacketCallsAreRefusedWithTheRightCode) {
    create_publisher();  // no packet ring
    const unsigned char slice[] = {0, 0, 1, 0x41};
    EXPECT_EQ(cuframes_publisher_publish_packet(pub, slice, sizeof slice, 0, 0, CUFRAMES_CODEC_H264, 0, nullptr),
              CUFRAMES_ERR_STATE);
    EXPECT_EQ(cuframes_publisher_publish_packet(nullptr, slice, sizeof slice, 0, 0, CUFRAMES_CODEC_H264, 0, nullptr),
              CUFRAMES_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(
        cuframes_publisher_publish_packet(pub, slice, sizeof slice, 0, 0, static_cast<cuframes_codec>(3), 0, nullptr),
        CUFRAMES_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(cuframes_last_error()).find("codec must be"), std::string::npos);
    EXPECT_EQ(cuframes_publisher_publish_packet(pub, slice, sizeof slice, 0, 0, CUFRAMES_CODEC_H264, 2, nullptr),
              CUFRAMES_ERR_INVALID_ARGUMENT);

    cuframes_packet_subscriber_options options;
    cuframes_packet_subscriber_options_init(&options);
    options.key = "cam0";
    options.dir = dir.c_str();
    cuframes_packet_subscriber *packets = reinterpret_cast<cuframes_packet_subscriber *>(0x1);
    EXPECT_EQ(cuframes_packet_subscriber_create(&options, &packets), CUFRAMES_ERR_NOT_FOUND);
    EXPECT_EQ(packets, nullptr);
    EXPECT_NE(std::string(cuframes_last_error()).find("publishes no packets"), std::string::npos);
    options.reconnect = 2;
    EXPECT_EQ(cuframes_packet_subscriber_create(&options, &packets), CUFRAMES_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(cuframes_last_error()).find("reconnect must be 0 or 1"), std::string::npos);
    options.reconnect = 0;
    options.struct_size = 4;
    EXPECT_EQ(cuframes_packet_subscriber_create(&options, &packets), CUFRAMES_ERR_INVALID_ARGUMENT);
    cuframes_packet_info info;
    cuframes_packet_info_init(&info);
    EXPECT_EQ(cuframes_packet_subscriber_next(nullptr, 0, nullptr, 0, &info), CUFRAMES_ERR_INVALID_ARGUMENT);
    cuframes_packet_subscriber_destroy(nullptr);
}

}  // namespace
