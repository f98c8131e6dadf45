// options.notify through the C ABI (docs/asyncio.md): the descriptor is quiet
// until a frame or packet is published, next(timeout 0) takes what is ready
// and reads the notification bytes, and the producer's end wakes the poller.
#include <gtest/gtest.h>
#include <poll.h>

#include <cstring>
#include <string>

#include "cuframes/cuframes.h"
#include "temp_dir.hpp"

namespace {

bool readable(int fd, int timeout_ms) {
    pollfd waiter{fd, POLLIN, 0};
    return ::poll(&waiter, 1, timeout_ms) == 1 && (waiter.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
}

class Notify : public ::testing::Test {
protected:
    void SetUp() override {
        cuframes_publisher_options options;
        cuframes_publisher_options_init(&options);
        options.key = "cam";
        options.dir = dir.c_str();
        options.width = 64;
        options.height = 32;
        options.format = CUFRAMES_FORMAT_GRAY8;
        options.backend = CUFRAMES_BACKEND_HOST;
        options.packet_ring_bytes = 1 << 16;
        ASSERT_EQ(cuframes_publisher_create(&options, &pub), CUFRAMES_OK) << cuframes_last_error();
    }
    void TearDown() override {
        cuframes_packet_subscriber_destroy(packets);
        cuframes_subscriber_destroy(sub);
        cuframes_publisher_destroy(pub);
    }

    void publish(int64_t pts) {
        cuframes_buffer buffer;
        cuframes_buffer_init(&buffer);
        ASSERT_EQ(cuframes_publisher_acquire(pub, &buffer), CUFRAMES_OK) << cuframes_last_error();
        std::memset(reinterpret_cast<void *>(buffer.data), static_cast<int>(pts), buffer.size);
        ASSERT_EQ(cuframes_publisher_publish(pub, nullptr, pts, nullptr, 0, nullptr), CUFRAMES_OK);
        static const unsigned char kKeyframe[] = {0, 0, 0, 1, 0x65, 0x88};
        ASSERT_EQ(cuframes_publisher_publish_packet(pub, kKeyframe, sizeof kKeyframe, pts, pts, CUFRAMES_CODEC_H264, 1,
                                                    nullptr),
                  CUFRAMES_OK)
            << cuframes_last_error();
    }

    TempDir dir;
    cuframes_publisher *pub = nullptr;
    cuframes_subscriber *sub = nullptr;
    cuframes_packet_subscriber *packets = nullptr;
};

TEST_F(Notify, ThePollLoopTakesEachFrameOnceAndWakesAtTheEnd) {
    cuframes_subscriber_options options;
    cuframes_subscriber_options_init(&options);
    options.key = "cam";
    options.dir = dir.c_str();
    options.delivery = CUFRAMES_DELIVERY_SEQUENTIAL;
    options.notify = 1;
    ASSERT_EQ(cuframes_subscriber_create(&options, &sub), CUFRAMES_OK) << cuframes_last_error();
    const int fd = cuframes_subscriber_fd(sub);
    ASSERT_GE(fd, 0);
    EXPECT_FALSE(readable(fd, 0)) << "readable before anything was published";

    for (int64_t pts = 1; pts <= 3; ++pts) publish(pts);
    ASSERT_TRUE(readable(fd, 5000));
    int64_t expected = 1;
    cuframes_frame *frame = nullptr;
    cuframes_status status;
    while ((status = cuframes_subscriber_next(sub, 0, &frame)) == CUFRAMES_OK) {
        cuframes_frame_info info;
        cuframes_frame_info_init(&info);
        ASSERT_EQ(cuframes_frame_get_info(frame, &info), CUFRAMES_OK);
        EXPECT_EQ(info.pts, expected++);
        EXPECT_EQ(reinterpret_cast<const unsigned char *>(info.data)[0], static_cast<unsigned char>(info.pts));
        cuframes_frame_release(frame);
    }
    EXPECT_EQ(status, CUFRAMES_ERR_TIMEOUT) << cuframes_last_error();
    EXPECT_EQ(expected, 4);
    EXPECT_FALSE(readable(fd, 0)) << "still readable after next(0) drained it";

    cuframes_publisher_destroy(pub);  // a clean close: the loop wakes and learns it
    pub = nullptr;
    ASSERT_TRUE(readable(fd, 5000));
    EXPECT_EQ(cuframes_subscriber_next(sub, 0, &frame), CUFRAMES_ERR_DISCONNECTED) << cuframes_last_error();
}

TEST_F(Notify, PacketsToo) {
    cuframes_packet_subscriber_options options;
    cuframes_packet_subscriber_options_init(&options);
    options.key = "cam";
    options.dir = dir.c_str();
    options.notify = 1;
    ASSERT_EQ(cuframes_packet_subscriber_create(&options, &packets), CUFRAMES_OK) << cuframes_last_error();
    const int fd = cuframes_packet_subscriber_fd(packets);
    ASSERT_GE(fd, 0);
    EXPECT_FALSE(readable(fd, 0));
    for (int64_t pts = 1; pts <= 3; ++pts) publish(pts);
    ASSERT_TRUE(readable(fd, 5000));
    unsigned char data[64];
    cuframes_packet_info info;
    cuframes_packet_info_init(&info);
    int64_t expected = 1;
    cuframes_status status;
    while ((status = cuframes_packet_subscriber_next(packets, 0, data, sizeof data, &info)) == CUFRAMES_OK)
        EXPECT_EQ(info.pts, expected++);
    EXPECT_EQ(status, CUFRAMES_ERR_TIMEOUT) << cuframes_last_error();
    EXPECT_EQ(expected, 4);
    EXPECT_FALSE(readable(fd, 0)) << "still readable after next(0) drained it";
}

TEST_F(Notify, WithoutNotifyThereIsNoDescriptorAndTheOptionIsChecked) {
    cuframes_subscriber_options options;
    cuframes_subscriber_options_init(&options);
    options.key = "cam";
    options.dir = dir.c_str();
    EXPECT_EQ(options.notify, 0);
    ASSERT_EQ(cuframes_subscriber_create(&options, &sub), CUFRAMES_OK) << cuframes_last_error();
    EXPECT_EQ(cuframes_subscriber_fd(sub), -1);
    EXPECT_EQ(cuframes_subscriber_fd(nullptr), -1);
    options.notify = 2;
    cuframes_subscriber *bad = nullptr;
    EXPECT_EQ(cuframes_subscriber_create(&options, &bad), CUFRAMES_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(cuframes_last_error()).find("notify"), std::string::npos) << cuframes_last_error();
    EXPECT_EQ(bad, nullptr);
}

}  // namespace
