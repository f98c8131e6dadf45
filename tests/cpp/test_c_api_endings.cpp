// How a stream ends through the C ABI, with the producer in a forked process:
// a clean close is CUFRAMES_ERR_DISCONNECTED, a producer killed without
// closing is CUFRAMES_ERR_PRODUCER_DIED, for frames and packets alike; and a
// reconnecting subscriber takes each restarted producer once, with a new
// epoch, and never the closing one again (issue 11, items 1 and 3).
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cuframes/cuframes.h"

namespace {

const unsigned char kKeyframe[] = {0, 0, 0, 1, 0x67, 0x42, 0, 0x1e, 0, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65, 0x88};

std::string make_dir() {
    char pattern[] = "/tmp/cuframes-ctest-XXXXXX";
    const char *made = mkdtemp(pattern);
    if (made == nullptr) throw std::runtime_error("mkdtemp failed");
    return made;
}

// In the forked child: one producer of frames and packets under `key`.
cuframes_publisher *child_publisher(const std::string &dir, const char *key) {
    cuframes_publisher_options options;
    cuframes_publisher_options_init(&options);
    options.key = key;
    options.dir = dir.c_str();
    options.width = 64;
    options.height = 32;
    options.backend = CUFRAMES_BACKEND_HOST;
    options.packet_ring_bytes = 1 << 16;
    cuframes_publisher *pub = nullptr;
    if (cuframes_publisher_create(&options, &pub) != CUFRAMES_OK) {
        std::fprintf(stderr, "child: %s\n", cuframes_last_error());
        std::_Exit(2);
    }
    return pub;
}

void child_publish(cuframes_publisher *pub, int64_t pts) {
    cuframes_buffer buffer;
    cuframes_buffer_init(&buffer);
    if (cuframes_publisher_acquire(pub, &buffer) != CUFRAMES_OK ||
        cuframes_publisher_publish(pub, nullptr, pts, nullptr, 0, nullptr) != CUFRAMES_OK ||
        cuframes_publisher_publish_packet(pub, kKeyframe, sizeof kKeyframe, pts, pts, CUFRAMES_CODEC_H264, 1,
                                          nullptr) != CUFRAMES_OK) {
        std::fprintf(stderr, "child: %s\n", cuframes_last_error());
        std::_Exit(3);
    }
}

// The producer in a child process; killed at the end of the test whatever happened.
class ForkedProducer {
public:
    // body(ready, go): the child writes a byte to `ready` when it is up, and
    // may wait for one from `go` (ForkedProducer::go()).
    template <typename Body>
    explicit ForkedProducer(Body body) {
        if (::pipe(ready_) != 0 || ::pipe(go_) != 0) throw std::runtime_error("pipe failed");
        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            ::close(ready_[0]);
            ::close(go_[1]);
            body(ready_[1], go_[0]);
            std::_Exit(0);
        }
        ::close(ready_[1]);
        ::close(go_[0]);
    }
    ~ForkedProducer() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        ::close(ready_[0]);
        ::close(go_[1]);
    }
    // Waits for the child's one-byte signal that it is up.
    bool wait_ready() {
        char byte = 0;
        return ::read(ready_[0], &byte, 1) == 1;
    }
    bool go() { return ::write(go_[1], "g", 1) == 1; }
    static void wait_go(int fd) {
        char byte = 0;
        if (::read(fd, &byte, 1) != 1) std::_Exit(5);
    }
    int wait_exit(int signal_to_send = 0) {
        if (signal_to_send != 0) ::kill(pid_, signal_to_send);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        return status;
    }
    static void say_ready(int fd) {
        if (::write(fd, "r", 1) != 1) std::_Exit(4);
    }

private:
    pid_t pid_ = -1;
    int ready_[2] = {-1, -1};
    int go_[2] = {-1, -1};
};

struct Subscribers {
    cuframes_subscriber *frames = nullptr;
    cuframes_packet_subscriber *packets = nullptr;
    Subscribers(const std::string &dir, const char *key, int reconnect) {
        cuframes_packet_subscriber_options packet_options;
        cuframes_packet_subscriber_options_init(&packet_options);
        packet_options.key = key;
        packet_options.dir = dir.c_str();
        packet_options.connect_timeout_ms = 10000;
        packet_options.reconnect = reconnect;
        EXPECT_EQ(cuframes_packet_subscriber_create(&packet_options, &packets), CUFRAMES_OK) << cuframes_last_error();
        cuframes_subscriber_options options;
        cuframes_subscriber_options_init(&options);
        options.key = key;
        options.dir = dir.c_str();
        options.connect_timeout_ms = 10000;
        options.delivery = CUFRAMES_DELIVERY_SEQUENTIAL;
        options.reconnect = reconnect;
        EXPECT_EQ(cuframes_subscriber_create(&options, &frames), CUFRAMES_OK) << cuframes_last_error();
    }
    ~Subscribers() {
        cuframes_subscriber_destroy(frames);
        cuframes_packet_subscriber_destroy(packets);
    }
    // (status, pts, epoch, reconnected) of the next frame and the next packet.
    struct Item {
        cuframes_status status;
        int64_t pts;
        uint64_t epoch;
        int32_t reconnected;
    };
    Item next_frame(int timeout_ms) {
        cuframes_frame *frame = nullptr;
        cuframes_status status = cuframes_subscriber_next(frames, timeout_ms, &frame);
        if (status != CUFRAMES_OK) return {status, 0, 0, 0};
        cuframes_frame_info info;
        cuframes_frame_info_init(&info);
        cuframes_frame_get_info(frame, &info);
        cuframes_frame_release(frame);
        return {status, info.pts, info.epoch, info.reconnected};
    }
    Item next_packet(int timeout_ms) {
        unsigned char buffer[256];
        cuframes_packet_info info;
        cuframes_packet_info_init(&info);
        cuframes_status status = cuframes_packet_subscriber_next(packets, timeout_ms, buffer, sizeof buffer, &info);
        if (status != CUFRAMES_OK) return {status, 0, 0, 0};
        return {status, info.pts, info.epoch, info.reconnected};
    }
};

// The end of a stream, as each kind of subscriber sees it.
void expect_ending(bool killed) {
    const std::string dir = make_dir();
    ForkedProducer producer([&](int ready, int go) {
        cuframes_publisher *pub = child_publisher(dir, "cam0");
        ForkedProducer::say_ready(ready);
        ForkedProducer::wait_go(go);  // both subscribers have joined: they get every frame and packet
        for (int64_t pts = 1; pts <= 3; ++pts) child_publish(pub, pts);
        if (killed) ::pause();  // until SIGKILL: the stream is never closed
        cuframes_publisher_destroy(pub);
    });
    ASSERT_TRUE(producer.wait_ready());
    {
        Subscribers subs(dir, "cam0", 0);
        ASSERT_NE(subs.frames, nullptr);
        ASSERT_NE(subs.packets, nullptr);
        ASSERT_TRUE(producer.go());
        for (int64_t pts = 1; pts <= 3; ++pts) {
            EXPECT_EQ(subs.next_frame(10000).pts, pts);
            EXPECT_EQ(subs.next_packet(10000).pts, pts);
        }
        producer.wait_exit(killed ? SIGKILL : 0);
        const cuframes_status expected = killed ? CUFRAMES_ERR_PRODUCER_DIED : CUFRAMES_ERR_DISCONNECTED;
        cuframes_status frame_status = subs.next_frame(5000).status;
        EXPECT_EQ(frame_status, expected) << cuframes_status_name(frame_status) << ": " << cuframes_last_error();
        cuframes_status packet_status = subs.next_packet(5000).status;
        EXPECT_EQ(packet_status, expected) << cuframes_status_name(packet_status) << ": " << cuframes_last_error();
        if (killed) {
            EXPECT_NE(std::string(cuframes_last_error()).find("died without closing"), std::string::npos);
        }
    }
    ::rmdir(dir.c_str());
}

}  // namespace

TEST(CApiEndings, CleanCloseIsDisconnected) { expect_ending(false); }

TEST(CApiEndings, KilledProducerIsProducerDied) { expect_ending(true); }

// Producers one after another under one key, each closing cleanly: the
// follower takes each one once, flagged `reconnected` with a new epoch on its
// first item only, and never gets an item twice.
TEST(CApiEndings, ReconnectTakesEachRestartOnceWithANewEpoch) {
    constexpr int kRounds = 4, kCount = 10;
    const std::string dir = make_dir();
    ForkedProducer producer([&](int ready, int go) {
        for (int round = 0; round < kRounds; ++round) {
            cuframes_publisher *pub = child_publisher(dir, "cam0");
            if (round == 0) {
                ForkedProducer::say_ready(ready);
                ForkedProducer::wait_go(go);
            }
            for (int seq = 1; seq <= kCount; ++seq) {
                child_publish(pub, round * 1000 + seq);
                ::usleep(5'000);
            }
            cuframes_publisher_destroy(pub);
        }
    });
    ASSERT_TRUE(producer.wait_ready());
    Subscribers subs(dir, "cam0", 1);
    ASSERT_NE(subs.frames, nullptr);
    ASSERT_NE(subs.packets, nullptr);
    ASSERT_TRUE(producer.go());
    const int64_t last_pts = (kRounds - 1) * 1000 + kCount;
    // Both follow at once, each on its own thread: one left unread would skip producers.
    std::vector<Subscribers::Item> items[2];
    std::string failures[2];
    auto follow = [&](int kind) {
        while (items[kind].empty() || items[kind].back().pts != last_pts) {
            Subscribers::Item item = kind == 0 ? subs.next_frame(10000) : subs.next_packet(10000);
            if (item.status != CUFRAMES_OK) {
                failures[kind] = std::string(cuframes_status_name(item.status)) + ": " + cuframes_last_error();
                return;
            }
            items[kind].push_back(item);
        }
    };
    std::thread packets_follower(follow, 1);
    follow(0);
    packets_follower.join();
    for (int kind : {0, 1}) {
        SCOPED_TRACE(kind == 0 ? "frames" : "packets");
        EXPECT_EQ(failures[kind], "");
        std::set<std::pair<uint64_t, int64_t>> seen;
        std::set<uint64_t> epochs;
        const std::vector<Subscribers::Item> &got = items[kind];
        for (size_t i = 0; i < got.size(); ++i) {
            EXPECT_TRUE(seen.insert({got[i].epoch, got[i].pts}).second) << "pts " << got[i].pts << " twice";
            bool new_producer = i == 0 || got[i].epoch != got[i - 1].epoch;
            if (new_producer) epochs.insert(got[i].epoch);
            EXPECT_EQ(got[i].reconnected, (new_producer && i > 0) ? 1u : 0u) << "pts " << got[i].pts;
            // pts says which producer published it.
            EXPECT_EQ(got[i].pts / 1000, static_cast<int64_t>(epochs.size()) - 1) << "pts " << got[i].pts;
        }
        EXPECT_EQ(epochs.size(), static_cast<size_t>(kRounds));
    }
    EXPECT_EQ(producer.wait_exit(), 0);
    ::rmdir(dir.c_str());
}
