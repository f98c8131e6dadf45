// What a subscriber checks of a producer's handshake (connection.cpp, wire.cpp,
// memfd.cpp), piece by piece:
//  - compute_layout: the core of validate_description, which recomputes the
//    frame layout to compare with the producer's (validate_description itself
//    is file-local in connection.cpp and cannot be called alone);
//  - check_sealed_region: the checks on each descriptor received;
//  - receive_message + body_as: the framing checks of one Welcome;
//  - a Connection over a socketpair with a scripted producer: the
//    subscriber's whole side of the handshake (all of the above, the shared
//    header and lease page checks, the mappings, the watcher thread) without
//    connect() or a producer's server thread (handshake_benchmarks.cpp has
//    the real thing).
#include <benchmark/benchmark.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "base/memfd.hpp"
#include "base/memory_map.hpp"
#include "base/unique_fd.hpp"
#include "bench_support.hpp"
#include "consumer/connection.hpp"
#include "cuframes/format.hpp"
#include "protocol/shm_layout.hpp"
#include "protocol/wire.hpp"

namespace cuframes_bench {
namespace {

using Clock = std::chrono::steady_clock;
using cuframes::UniqueFd;

void set_elapsed(benchmark::State &state, Clock::time_point start) {
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - start).count());
}

// The producer's side of a valid host-backend handshake, made once: the
// Welcome and the sealed memfds of the header, lease page and slots, as the
// Publisher makes them. send() queues the messages on a socket (the kernel
// duplicates the descriptors), so one script serves every iteration.
class ScriptedProducer {
public:
    explicit ScriptedProducer(uint32_t slots) {
        const cuframes::FrameLayout layout = cuframes::compute_layout(kFrameFormat, kFrameWidth, kFrameHeight);
        const auto page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
        cuframes::StreamDescription &stream = welcome_.stream;
        stream.backend = CUFRAMES_BACKEND_HOST;
        stream.format = static_cast<uint32_t>(layout.format);
        stream.width = layout.width;
        stream.height = layout.height;
        stream.plane_count = layout.plane_count;
        stream.slot_count = slots;
        stream.max_held = 1;
        stream.slot_size = (layout.bytes + page - 1) / page * page;
        stream.epoch = 1;
        std::memcpy(stream.planes, layout.planes.data(), sizeof stream.planes);
        welcome_.header_bytes = static_cast<uint32_t>(cuframes::header_region_bytes(slots));
        welcome_.lease_page_bytes = cuframes::kLeasePageBytes;
        welcome_.total_fds = 2 + slots;
        welcome_.subscriber_id = 2;

        descriptors_.push_back(make_header());
        descriptors_.push_back(make_lease_page());
        for (uint32_t i = 0; i < slots; ++i) {
            UniqueFd slot = cuframes::create_sealed_memfd("bench-slot", stream.slot_size);
            cuframes::seal_final(slot.get(), true, "a slot");
            descriptors_.push_back(cuframes::reopen_read_only(slot.get(), "a slot"));
        }
        for (const UniqueFd &fd : descriptors_) raw_fds_.push_back(fd.get());
    }

    const cuframes::WelcomeBody &welcome() const noexcept { return welcome_; }

    void send(int socket) const {
        cuframes::send_message(socket, cuframes::MessageType::Welcome, &welcome_, sizeof welcome_);
        for (uint32_t first = 0; first < raw_fds_.size(); first += cuframes::kMaxFdsPerMessage) {
            uint32_t count =
                std::min<uint32_t>(cuframes::kMaxFdsPerMessage, static_cast<uint32_t>(raw_fds_.size()) - first);
            cuframes::FdsBody body{first, count};
            cuframes::send_message(socket, cuframes::MessageType::Fds, &body, sizeof body, raw_fds_.data() + first,
                                   count);
        }
    }

private:
    UniqueFd make_header() const {
        UniqueFd fd = cuframes::create_sealed_memfd("bench-header", welcome_.header_bytes);
        {
            cuframes::MemoryMap map(fd.get(), welcome_.header_bytes, true, "the scripted header");
            auto *header = new (map.data()) cuframes::SharedHeader{};
            header->magic = cuframes::kHeaderMagic;
            header->version = cuframes::kProtocolVersion;
            header->header_bytes = welcome_.header_bytes;
            header->stream = welcome_.stream;
            header->metadata_offset = sizeof(cuframes::SharedHeader);
            header->metadata_stride = cuframes::kMetadataStride;
            header->state.store(static_cast<uint32_t>(cuframes::StreamState::Running), std::memory_order_relaxed);
        }
        cuframes::seal_final(fd.get(), true, "the scripted header");
        return cuframes::reopen_read_only(fd.get(), "the scripted header");
    }

    UniqueFd make_lease_page() const {
        // One page for every connection: the subscriber writes it only when it borrows.
        UniqueFd fd = cuframes::create_sealed_memfd("bench-lease", cuframes::kLeasePageBytes);
        {
            cuframes::MemoryMap map(fd.get(), cuframes::kLeasePageBytes, true, "the scripted lease page");
            auto *page = new (map.data()) cuframes::LeasePage{};
            page->magic = cuframes::kLeasePageMagic;
            page->version = cuframes::kProtocolVersion;
            page->max_held = welcome_.stream.max_held;
        }
        cuframes::seal_final(fd.get(), false, "the scripted lease page");
        return fd;
    }

    cuframes::WelcomeBody welcome_{};
    std::vector<UniqueFd> descriptors_;  // header, lease page, slots: the order the welcome announces
    std::vector<int> raw_fds_;
};

struct SocketPair {
    UniqueFd producer;
    UniqueFd subscriber;
};

SocketPair make_socket_pair() {
    int ends[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) != 0) cuframes::throw_os_error("socketpair");
    return SocketPair{UniqueFd(ends[0]), UniqueFd(ends[1])};
}

// compute_layout for the benchmark frame and two 1080p formats.
void BM_ComputeLayout(benchmark::State &state, cuframes::PixelFormat format, uint32_t width, uint32_t height) {
    guarded(state, [&] {
        for (auto _ : state) {
            cuframes::FrameLayout layout = cuframes::compute_layout(format, width, height);
            benchmark::DoNotOptimize(layout);
            if (layout.bytes == 0) {
                fail(state, "compute_layout gave an empty frame");
                break;
            }
        }
    });
}
BENCHMARK_CAPTURE(BM_ComputeLayout, gray8_64x64, CUFRAMES_FORMAT_GRAY8, 64, 64);
BENCHMARK_CAPTURE(BM_ComputeLayout, nv12_1920x1080, CUFRAMES_FORMAT_NV12, 1920, 1080);
BENCHMARK_CAPTURE(BM_ComputeLayout, i420_1920x1080, CUFRAMES_FORMAT_I420, 1920, 1080);

// check_sealed_region on a slot descriptor (fstat, F_GET_SEALS): done once
// for the header and once per slot at every connection.
void BM_CheckSealedRegion(benchmark::State &state) {
    guarded(state, [&] {
        constexpr uint64_t kSize = 4096;
        UniqueFd slot = cuframes::create_sealed_memfd("bench-slot", kSize);
        cuframes::seal_final(slot.get(), true, "a slot");
        const std::string what = "slot 0";
        for (auto _ : state) {
            uint64_t size = cuframes::check_sealed_region(slot.get(), kSize, what, true);
            if (size != kSize) {
                fail(state, "check_sealed_region measured " + std::to_string(size) + " bytes");
                break;
            }
        }
    });
}
BENCHMARK(BM_CheckSealedRegion);

// receive_message + body_as of a queued Welcome (poll, recvmsg, the framing
// checks). The send before it is not timed.
void BM_ReceiveWelcome(benchmark::State &state) {
    guarded(state, [&] {
        ScriptedProducer script(3);
        SocketPair pair = make_socket_pair();
        const std::string peer = "the scripted producer";
        for (auto _ : state) {
            cuframes::send_message(pair.producer.get(), cuframes::MessageType::Welcome, &script.welcome(),
                                   sizeof(cuframes::WelcomeBody));
            Clock::time_point start = Clock::now();
            cuframes::ReceivedMessage reply = cuframes::receive_message(pair.subscriber.get(), 0, peer);
            cuframes::WelcomeBody welcome = reply.body_as<cuframes::WelcomeBody>("welcome");
            set_elapsed(state, start);
            if (reply.type() != cuframes::MessageType::Welcome || welcome.total_fds != script.welcome().total_fds) {
                fail(state, "received message type " + std::to_string(reply.header.type) + " announcing " +
                                std::to_string(welcome.total_fds) + " descriptors");
                break;
            }
        }
    });
}
BENCHMARK(BM_ReceiveWelcome)->UseManualTime();

// The subscriber's side of the handshake against the scripted producer: the
// Connection constructor (hello, welcome, descriptors, every check, mappings,
// watcher thread) and its destructor. The socketpair and the producer's
// sends are not timed.
void BM_ScriptedHandshake(benchmark::State &state) {
    const auto slots = static_cast<uint32_t>(state.range(0));
    guarded(state, [&] {
        ScriptedProducer script(slots);
        for (auto _ : state) {
            SocketPair pair = make_socket_pair();
            script.send(pair.producer.get());
            Clock::time_point start = Clock::now();
            uint32_t seen_slots;
            {
                cuframes::Connection connection("scripted", std::move(pair.subscriber), 0);
                seen_slots = connection.description().slot_count;
            }
            set_elapsed(state, start);
            if (seen_slots != slots) {
                fail(state,
                     "the connection sees " + std::to_string(seen_slots) + " slots, expected " + std::to_string(slots));
                break;
            }
        }
    });
}
BENCHMARK(BM_ScriptedHandshake)
    ->ArgName("slots")
    ->Arg(4)
    ->Arg(16)
    ->Arg(128)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace cuframes_bench
