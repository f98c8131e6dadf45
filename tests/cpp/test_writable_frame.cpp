// Publisher::loan() -> WritableFrame -> publish(std::move(frame)): a move-only
// frame that hands its slot back when dropped unpublished.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cuframes/error.hpp"
#include "cuframes/publisher.hpp"
#include "cuframes/subscriber.hpp"
#include "temp_dir.hpp"

namespace {

class WritableFrameTest : public ::testing::Test {
protected:
    cuframes::PublisherOptions options(const std::string &key) const {
        cuframes::PublisherOptions o;
        o.key = key;
        o.dir = dir.c_str();
        o.width = 64;
        o.height = 32;
        o.backend = cuframes::Backend::Host;
        o.slots = 4;
        o.max_subscribers = 1;
        o.max_held = 1;
        return o;
    }
    cuframes::SubscriberOptions subscriber_options() const {
        cuframes::SubscriberOptions o;
        o.key = "cam0";
        o.dir = dir.c_str();
        o.connect_timeout_ms = 2000;
        return o;
    }
    static cuframes::Status status_of(const std::function<void()> &call) {
        try {
            call();
        } catch (const cuframes::Error &error) {
            return error.status();
        }
        return CUFRAMES_OK;
    }
    TempDir dir;
};

TEST_F(WritableFrameTest, PublishByMoveConsumesTheFrame) {
    cuframes::Publisher publisher(options("cam0"));
    cuframes::Subscriber subscriber(subscriber_options());
    cuframes::WritableFrame frame = publisher.loan();
    ASSERT_TRUE(frame);
    std::memset(reinterpret_cast<void *>(frame.data()), 9, publisher.layout().planes[0].row_bytes);
    const uint32_t slot = frame.index();
    EXPECT_EQ(publisher.publish(std::move(frame), 0, 5, "m", 1), 1u);
    EXPECT_FALSE(frame);  // NOLINT(bugprone-use-after-move): the moved-from state is the point
    EXPECT_EQ(status_of([&] { publisher.publish(std::move(frame), 0, 6, nullptr, 0); }), CUFRAMES_ERR_STATE);
    std::shared_ptr<cuframes::FrameLease> got = subscriber.next(2000);
    EXPECT_EQ(got->info().pts, 5);
    EXPECT_EQ(got->info().slot, slot);
    EXPECT_EQ(reinterpret_cast<const unsigned char *>(got->info().data)[0], 9);
}

TEST_F(WritableFrameTest, ADroppedFrameGoesBackUnpublished) {
    cuframes::Publisher publisher(options("cam0"));
    cuframes::Subscriber subscriber(subscriber_options());
    {
        cuframes::WritableFrame frame = publisher.loan();
        // One frame on loan at a time.
        EXPECT_EQ(status_of([&] { publisher.loan(); }), CUFRAMES_ERR_STATE);
    }
    // Dropped: the slot is free again, nothing was published.
    cuframes::WritableFrame again = publisher.loan();
    EXPECT_EQ(publisher.last_seq(), 0u);
    EXPECT_EQ(status_of([&] { subscriber.next(0); }), CUFRAMES_ERR_TIMEOUT);
    again.discard();
    EXPECT_FALSE(again);
    again.discard();  // idempotent
    // A move-assignment drops the frame it held.
    cuframes::WritableFrame first = publisher.loan();
    first = cuframes::WritableFrame(std::move(first));
    EXPECT_TRUE(first);
    first = std::move(again);  // `again` is empty: `first`'s slot is dropped
    EXPECT_FALSE(first);
    EXPECT_EQ(publisher.publish(publisher.loan(), 0, 1, nullptr, 0), 1u);
}

TEST_F(WritableFrameTest, AFailedPublishLeavesTheFrameOnLoan) {
    cuframes::Publisher publisher(options("cam0"));
    cuframes::WritableFrame frame = publisher.loan();
    std::vector<char> too_much(CUFRAMES_MAX_METADATA + 1, 'x');
    EXPECT_EQ(status_of([&] {
                  publisher.publish(std::move(frame), 0, 1, too_much.data(), static_cast<uint32_t>(too_much.size()));
              }),
              CUFRAMES_ERR_INVALID_ARGUMENT);
    ASSERT_TRUE(frame);  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(publisher.publish(std::move(frame), 0, 1, nullptr, 0), 1u);
}

TEST_F(WritableFrameTest, AFrameOfAnotherPublisherIsRefused) {
    cuframes::Publisher one(options("cam0"));
    cuframes::Publisher other(options("cam1"));
    cuframes::WritableFrame frame = one.loan();
    EXPECT_EQ(status_of([&] { other.publish(std::move(frame), 0, 1, nullptr, 0); }), CUFRAMES_ERR_INVALID_ARGUMENT);
    EXPECT_TRUE(frame);  // NOLINT(bugprone-use-after-move)
}

TEST_F(WritableFrameTest, CopyFromFillsTheSlotPacked) {
    cuframes::Publisher publisher(options("cam0"));
    cuframes::Subscriber subscriber(subscriber_options());
    std::vector<unsigned char> packed(publisher.layout().packed_bytes, 0x42);
    cuframes::WritableFrame frame = publisher.loan();
    frame.copy_from(reinterpret_cast<uint64_t>(packed.data()), packed.size(), cuframes::MemoryKind::Host, 0);
    publisher.publish(std::move(frame), 0, 3, nullptr, 0);
    std::vector<unsigned char> out(packed.size(), 0);
    subscriber.read_into(2000, reinterpret_cast<uint64_t>(out.data()), out.size(), cuframes::MemoryKind::Host, 0);
    EXPECT_EQ(out, packed);
    cuframes::WritableFrame empty = publisher.loan();
    empty.discard();
    EXPECT_EQ(status_of([&] { empty.copy_from(0, 0, cuframes::MemoryKind::Host, 0); }), CUFRAMES_ERR_STATE);
}

TEST_F(WritableFrameTest, AFrameMayOutliveItsPublisher) {
    auto publisher = std::make_unique<cuframes::Publisher>(options("cam0"));
    cuframes::WritableFrame frame = publisher->loan();
    publisher.reset();  // closes: the key is free again
    EXPECT_TRUE(frame);
    EXPECT_EQ(status_of([&] { frame.copy_from(0, 0, cuframes::MemoryKind::Host, 0); }), CUFRAMES_ERR_STATE);
    cuframes::Publisher successor(options("cam0"));
    EXPECT_EQ(successor.publish(successor.loan(), 0, 1, nullptr, 0), 1u);
    // `frame` is dropped last, against a closed publisher: nothing to hand back.
}

}  // namespace
