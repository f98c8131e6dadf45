// Publish -> borrow latency through the C++ API alone, producer and subscriber
// in two processes: what the core costs without Python on either side.
//
//   latency_probe BACKEND SPIN_NS FRAMES WARMUP PERIOD_US
//
// forks a subscriber (SPIN_NS: 0 sleeps on the futex, -1 spins), then
// publishes FRAMES + WARMUP small frames (64x64 gray8: the copy is not what is
// measured) every PERIOD_US on BACKEND (host or cuda), and prints one line:
//   p50_us p99_us p999_us max_us missed
// over the last FRAMES samples, each CLOCK_MONOTONIC at the subscriber's
// borrow minus the frame's timestamp (taken after the producer's sync).
// Exits non-zero, with the reason on stderr, on any failure. Compiled by
// bench/harness/core_probe.py against the installed package, or by CMake with
// the micro-benchmarks.
#include <fcntl.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuframes/error.hpp"
#include "cuframes/publisher.hpp"
#include "cuframes/subscriber.hpp"

namespace {

uint64_t now_ns() {
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    return static_cast<uint64_t>(t.tv_sec) * 1000000000ull + static_cast<uint64_t>(t.tv_nsec);
}

// The subscriber process: writes its samples (ns) and missed count to `out`.
int subscribe(const std::string &key, const std::string &dir, int64_t spin_ns, size_t wanted, int out) {
    cuframes::SubscriberOptions options;
    options.key = key;
    options.dir = dir;
    options.connect_timeout_ms = 30000;
    options.spin_ns = spin_ns;
    cuframes::Subscriber subscriber(options);
    std::vector<uint64_t> samples;
    samples.reserve(wanted + 1);
    uint64_t missed = 0;
    while (samples.size() < wanted) {
        auto frame = subscriber.next(10000);
        uint64_t now = now_ns();
        samples.push_back(now - frame->info().timestamp_ns);
        missed += frame->info().missed;
    }
    samples.push_back(missed);
    const char *bytes = reinterpret_cast<const char *>(samples.data());
    size_t left = samples.size() * sizeof(uint64_t);
    while (left > 0) {
        ssize_t n = ::write(out, bytes, left);
        if (n <= 0) return 3;
        bytes += n;
        left -= static_cast<size_t>(n);
    }
    return 0;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 6) {
        std::fprintf(stderr, "usage: %s host|cuda SPIN_NS FRAMES WARMUP PERIOD_US\n", argv[0]);
        return 2;
    }
    const std::string backend = argv[1];
    const int64_t spin_ns = std::atoll(argv[2]);
    const size_t frames = std::strtoull(argv[3], nullptr, 10);
    const size_t warmup = std::strtoull(argv[4], nullptr, 10);
    const long period_us = std::atol(argv[5]);
    if (frames < 1 || period_us < 0 || period_us >= 1000000) {
        std::fprintf(stderr, "latency_probe: FRAMES must be >= 1 and PERIOD_US in 0..999999\n");
        return 2;
    }
    char dir_template[] = "/tmp/cuframes-probe-XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) {
        std::perror("mkdtemp");
        return 1;
    }
    const std::string dir = dir_template;
    const std::string key = "probe";
    int pipe_fds[2];
    if (::pipe(pipe_fds) != 0) {
        std::perror("pipe");
        return 1;
    }
    int status = 1;
    pid_t child = -1;
    try {
        cuframes::PublisherOptions options;
        options.key = key;
        options.dir = dir;
        options.width = 64;
        options.height = 64;
        options.format = CUFRAMES_FORMAT_GRAY8;
        options.slots = 8;
        options.max_subscribers = 1;
        options.backend = backend == "cuda" ? cuframes::Backend::Cuda : cuframes::Backend::Host;
        // Fork before the publisher exists: a CUDA context must not cross a fork.
        child = ::fork();
        if (child < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
        if (child == 0) {
            ::close(pipe_fds[0]);
            int code = 4;
            try {
                code = subscribe(key, dir, spin_ns, frames + warmup, pipe_fds[1]);
            } catch (const std::exception &error) {
                std::fprintf(stderr, "subscriber: %s\n", error.what());
            }
            ::_exit(code);
        }
        ::close(pipe_fds[1]);
        cuframes::Publisher publisher(options);
        // Publish until the subscriber has its samples (it may join late).
        std::vector<uint64_t> samples(frames + warmup + 1);
        size_t got = 0;
        char *into = reinterpret_cast<char *>(samples.data());
        const size_t want = samples.size() * sizeof(uint64_t);
        timespec period{0, period_us * 1000};
        const uint64_t deadline = now_ns() + 120ull * 1000000000ull;
        if (::fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK) != 0)
            throw std::runtime_error(std::string("fcntl O_NONBLOCK: ") + std::strerror(errno));
        int64_t pts = 0;
        while (got < want) {
            if (now_ns() > deadline) throw std::runtime_error("the subscriber did not finish in 120 s");
            publisher.publish(publisher.loan(), 0, pts++, nullptr, 0);
            ::nanosleep(&period, nullptr);
            ssize_t n = ::read(pipe_fds[0], into + got, want - got);
            if (n > 0) got += static_cast<size_t>(n);
            if (n == 0) throw std::runtime_error("the subscriber exited early");
            if (n < 0 && errno != EAGAIN && errno != EINTR)
                throw std::runtime_error(std::string("read from the subscriber: ") + std::strerror(errno));
        }
        int child_status = 0;
        if (::waitpid(child, &child_status, 0) != child)
            throw std::runtime_error(std::string("waitpid: ") + std::strerror(errno));
        child = -1;
        if (!WIFEXITED(child_status) || WEXITSTATUS(child_status) != 0)
            throw std::runtime_error("the subscriber failed");
        const uint64_t missed = samples.back();
        std::vector<uint64_t> kept(samples.begin() + static_cast<long>(warmup), samples.end() - 1);
        std::sort(kept.begin(), kept.end());
        auto at = [&](double q) { return kept[std::min(kept.size() - 1, static_cast<size_t>(q * kept.size()))] / 1e3; };
        std::printf("%.3f %.3f %.3f %.3f %llu\n", at(0.5), at(0.99), at(0.999), kept.back() / 1e3,
                    static_cast<unsigned long long>(missed));
        status = 0;
    } catch (const std::exception &error) {
        std::fprintf(stderr, "latency_probe: %s\n", error.what());
    }
    if (child > 0) {  // failed before the subscriber was reaped: leave nothing behind
        ::kill(child, SIGKILL);
        ::waitpid(child, nullptr, 0);
    }
    ::close(pipe_fds[0]);
    // The publisher removed its socket and lock: the folder is empty again.
    if (::rmdir(dir.c_str()) != 0)
        std::fprintf(stderr, "latency_probe: rmdir %s: %s\n", dir.c_str(), std::strerror(errno));
    return status;
}
