// Stream facts (protocol v4): what the publisher and subscribers accept, and
// every fact going from the C options to frame and packet subscribers unchanged.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <string>

#include "cuframes/cuframes.h"
#include "cuframes/error.hpp"
#include "cuframes/publisher.hpp"
#include "cuframes/types.hpp"
#include "temp_dir.hpp"

namespace {

cuframes::StreamFacts full_facts() {
    cuframes::StreamFacts facts;
    facts.time_base = {1, 90000};
    facts.frame_rate = {30000, 1001};
    facts.sample_aspect_ratio = {4, 3};
    facts.color_matrix = 6;  // SMPTE 170M
    facts.color_range = CUFRAMES_COLOR_RANGE_FULL;
    facts.color_primaries = 9;  // BT.2020
    facts.color_transfer = 18;  // HLG
    return facts;
}

TEST(StreamFacts, DefaultsAndEveryValidValueAreAccepted) {
    EXPECT_EQ(cuframes::stream_facts_problem(cuframes::StreamFacts{}), "");
    EXPECT_EQ(cuframes::stream_facts_problem(full_facts()), "");
    cuframes::StreamFacts unknown;
    unknown.time_base = {0, 1};  // FFmpeg's "unknown" spelling is accepted too
    unknown.sample_aspect_ratio = {0, 1};
    EXPECT_EQ(cuframes::stream_facts_problem(unknown), "");
    cuframes::StreamFacts largest;
    largest.color_matrix = cuframes::kMaxColorMatrix;
    largest.color_primaries = cuframes::kMaxColorPrimaries;
    largest.color_transfer = cuframes::kMaxColorTransfer;
    largest.color_range = CUFRAMES_COLOR_RANGE_FULL;
    EXPECT_EQ(cuframes::stream_facts_problem(largest), "");
}

TEST(StreamFacts, BadFactsAreNamed) {
    struct Case {
        const char *field;
        void (*spoil)(cuframes::StreamFacts &);
    };
    const Case cases[] = {
        {"time_base",
         [](cuframes::StreamFacts &f) {
             f.time_base = {1, 0};
         }},
        {"time_base",
         [](cuframes::StreamFacts &f) {
             f.time_base = {-1, 25};
         }},
        {"frame_rate",
         [](cuframes::StreamFacts &f) {
             f.frame_rate = {30, 0};
         }},
        {"frame_rate",
         [](cuframes::StreamFacts &f) {
             f.frame_rate = {30, -1};
         }},
        {"sample_aspect_ratio",
         [](cuframes::StreamFacts &f) {
             f.sample_aspect_ratio = {16, 0};
         }},
        {"color_matrix", [](cuframes::StreamFacts &f) { f.color_matrix = cuframes::kMaxColorMatrix + 1; }},
        {"color_primaries", [](cuframes::StreamFacts &f) { f.color_primaries = cuframes::kMaxColorPrimaries + 1; }},
        {"color_transfer", [](cuframes::StreamFacts &f) { f.color_transfer = cuframes::kMaxColorTransfer + 1; }},
        {"color_range", [](cuframes::StreamFacts &f) { f.color_range = 3; }},
        {"reserved", [](cuframes::StreamFacts &f) { f.reserved[2] = 1; }},
    };
    for (const Case &c : cases) {
        cuframes::StreamFacts facts = full_facts();
        c.spoil(facts);
        const std::string problem = cuframes::stream_facts_problem(facts);
        EXPECT_NE(problem.find(c.field), std::string::npos) << c.field << ": " << problem;
    }
}

TEST(StreamFacts, APublisherWithBadFactsIsRefused) {
    TempDir dir;
    cuframes::PublisherOptions options;
    options.key = "cam0";
    options.dir = dir.c_str();
    options.width = 64;
    options.height = 32;
    options.backend = cuframes::Backend::Host;
    options.facts.frame_rate = {25, 0};
    try {
        cuframes::Publisher publisher(options);
        FAIL() << "a zero denominator was accepted";
    } catch (const cuframes::Error &error) {
        EXPECT_EQ(error.status(), CUFRAMES_ERR_INVALID_ARGUMENT);
        EXPECT_NE(std::string(error.what()).find("frame_rate 25/0"), std::string::npos) << error.what();
    }
    EXPECT_TRUE(dir.entries().empty());
}

class CFacts : public ::testing::Test {
protected:
    void SetUp() override {
        cuframes_publisher_options_init(&options);
        options.key = "cam0";
        options.dir = dir.c_str();
        options.width = 64;
        options.height = 32;
        options.backend = CUFRAMES_BACKEND_HOST;
        options.packet_ring_bytes = 1 << 20;
    }
    void TearDown() override { cuframes_publisher_destroy(pub); }

    cuframes_stream_facts subscribed_facts(uint32_t struct_size = sizeof(cuframes_stream_facts)) {
        cuframes_subscriber_options sub_options;
        cuframes_subscriber_options_init(&sub_options);
        sub_options.key = "cam0";
        sub_options.dir = dir.c_str();
        cuframes_subscriber *sub = nullptr;
        EXPECT_EQ(cuframes_subscriber_create(&sub_options, &sub), CUFRAMES_OK) << cuframes_last_error();
        cuframes_stream_facts facts;
        std::memset(&facts, 0xee, sizeof facts);  // what the call must not write stays 0xee
        facts.struct_size = struct_size;
        EXPECT_EQ(cuframes_subscriber_stream_facts(sub, &facts), CUFRAMES_OK) << cuframes_last_error();
        cuframes_subscriber_destroy(sub);
        return facts;
    }

    TempDir dir;
    cuframes_publisher_options options{};
    cuframes_publisher *pub = nullptr;
};

TEST_F(CFacts, OptionDefaultsSayUnknown) {
    EXPECT_EQ(options.time_base.num, 0);
    EXPECT_EQ(options.frame_rate.num, 0);
    EXPECT_EQ(options.sample_aspect_ratio.num, 0);
    EXPECT_EQ(options.color_matrix, 2u);
    EXPECT_EQ(options.color_range, 0u);
    EXPECT_EQ(options.color_primaries, 2u);
    EXPECT_EQ(options.color_transfer, 2u);
    cuframes_stream_facts facts;
    cuframes_stream_facts_init(&facts);
    EXPECT_EQ(facts.struct_size, sizeof facts);
}

TEST_F(CFacts, EveryFactReachesFrameAndPacketSubscribers) {
    options.time_base = {1, 90000};
    options.frame_rate = {30000, 1001};
    options.sample_aspect_ratio = {4, 3};
    options.color_matrix = 1;
    options.color_range = CUFRAMES_COLOR_RANGE_LIMITED;
    options.color_primaries = 9;
    options.color_transfer = 16;
    ASSERT_EQ(cuframes_publisher_create(&options, &pub), CUFRAMES_OK) << cuframes_last_error();

    const cuframes_stream_facts seen = subscribed_facts();
    EXPECT_EQ(seen.struct_size, sizeof seen);
    EXPECT_EQ(seen.time_base.num, 1);
    EXPECT_EQ(seen.time_base.den, 90000);
    EXPECT_EQ(seen.frame_rate.num, 30000);
    EXPECT_EQ(seen.frame_rate.den, 1001);
    EXPECT_EQ(seen.sample_aspect_ratio.num, 4);
    EXPECT_EQ(seen.sample_aspect_ratio.den, 3);
    EXPECT_EQ(seen.color_matrix, 1u);
    EXPECT_EQ(seen.color_range, 1u);
    EXPECT_EQ(seen.color_primaries, 9u);
    EXPECT_EQ(seen.color_transfer, 16u);

    cuframes_packet_subscriber_options packet_options;
    cuframes_packet_subscriber_options_init(&packet_options);
    packet_options.key = "cam0";
    packet_options.dir = dir.c_str();
    cuframes_packet_subscriber *packets = nullptr;
    ASSERT_EQ(cuframes_packet_subscriber_create(&packet_options, &packets), CUFRAMES_OK) << cuframes_last_error();
    cuframes_stream_facts from_packets;
    cuframes_stream_facts_init(&from_packets);
    ASSERT_EQ(cuframes_packet_subscriber_stream_facts(packets, &from_packets), CUFRAMES_OK) << cuframes_last_error();
    EXPECT_EQ(std::memcmp(&from_packets, &seen, sizeof seen), 0);
    cuframes_packet_subscriber_destroy(packets);
}

TEST_F(CFacts, AShorterStructSizeGetsOnlyTheFieldsItHas) {
    options.time_base = {1, 1000};
    options.frame_rate = {25, 1};
    ASSERT_EQ(cuframes_publisher_create(&options, &pub), CUFRAMES_OK) << cuframes_last_error();
    const uint32_t through_time_base = offsetof(cuframes_stream_facts, frame_rate);
    const cuframes_stream_facts seen = subscribed_facts(through_time_base);
    EXPECT_EQ(seen.time_base.den, 1000);
    EXPECT_EQ(static_cast<uint32_t>(seen.frame_rate.num), 0xeeeeeeeeu);  // not written
}

TEST_F(CFacts, OptionsFromBeforeTheFactsStillWorkWithUnknownFacts) {
    options.frame_rate = {25, 0};  // beyond the older struct_size: never read
    options.struct_size = offsetof(cuframes_publisher_options, time_base);
    ASSERT_EQ(cuframes_publisher_create(&options, &pub), CUFRAMES_OK) << cuframes_last_error();
    const cuframes_stream_facts seen = subscribed_facts();
    EXPECT_EQ(seen.frame_rate.num, 0);
    EXPECT_EQ(seen.color_matrix, 2u);
}

TEST_F(CFacts, BadFactsInTheOptionsAreInvalid) {
    struct Case {
        const char *field;
        void (*spoil)(cuframes_publisher_options &);
    };
    const Case cases[] = {
        {"time_base",
         [](cuframes_publisher_options &o) {
             o.time_base = {1, 0};
         }},
        {"sample_aspect_ratio",
         [](cuframes_publisher_options &o) {
             o.sample_aspect_ratio = {-4, 3};
         }},
        {"color_matrix", [](cuframes_publisher_options &o) { o.color_matrix = 257; }},  // 1 once narrowed
        {"color_range", [](cuframes_publisher_options &o) { o.color_range = 3; }},
        {"color_transfer", [](cuframes_publisher_options &o) { o.color_transfer = 19; }},
    };
    for (const Case &c : cases) {
        cuframes_publisher_options spoiled = options;
        c.spoil(spoiled);
        cuframes_publisher *made = nullptr;
        EXPECT_EQ(cuframes_publisher_create(&spoiled, &made), CUFRAMES_ERR_INVALID_ARGUMENT) << c.field;
        EXPECT_EQ(made, nullptr);
        EXPECT_NE(std::string(cuframes_last_error()).find(c.field), std::string::npos) << cuframes_last_error();
    }
    EXPECT_TRUE(dir.entries().empty());
}

TEST_F(CFacts, TheGetterChecksItsStructSize) {
    ASSERT_EQ(cuframes_publisher_create(&options, &pub), CUFRAMES_OK) << cuframes_last_error();
    cuframes_subscriber_options sub_options;
    cuframes_subscriber_options_init(&sub_options);
    sub_options.key = "cam0";
    sub_options.dir = dir.c_str();
    cuframes_subscriber *sub = nullptr;
    ASSERT_EQ(cuframes_subscriber_create(&sub_options, &sub), CUFRAMES_OK) << cuframes_last_error();
    cuframes_stream_facts facts{};  // struct_size 0: init was not called
    EXPECT_EQ(cuframes_subscriber_stream_facts(sub, &facts), CUFRAMES_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(cuframes_last_error()).find("cuframes_stream_facts_init"), std::string::npos);
    EXPECT_EQ(cuframes_subscriber_stream_facts(sub, nullptr), CUFRAMES_ERR_INVALID_ARGUMENT);
    cuframes_subscriber_destroy(sub);
}

}  // namespace
