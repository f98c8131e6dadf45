// read_into through pinned host memory, issued from C++ (issue 19, "read_into off the compute
// engine"): does a bounce's download and upload overlap, and does it escape the GPU's switch
// between contexts?
//
//   bounce_probe NBYTES ROUNDS WARMUP [DEVICE]
//
// The engines section's Python bounce (bench/harness/engines_read.py) took 125 µs back to back at
// 1080p: the download plus the upload, as if they never overlapped. Python issues four driver calls
// per chunk, a few µs each, which may be what serialised them. This probe issues the same copies
// from C++ and times, for one frame of NBYTES in this process's own memory:
//
//   dtod                 cuMemcpyDtoDAsync (what read_into's copy does, on the switch-paying engine)
//   dtoh, htod           one direction alone, through pinned host memory (cuMemHostAlloc)
//   bounce, serial       the download, then the upload, on one stream
//   bounce, CHUNK        per chunk: download on stream 1, an event, stream 2 waits for it, upload on
//                        stream 2; chunks of 2 MiB, 1 MiB, 512 KiB and 256 KiB
//
// each ROUNDS times after WARMUP, in two phases: "alone", and "after peer", where every sample is
// the first GPU work after another process's frame copy + sync (the peer is forked before either
// process touches CUDA; a SOCK_SEQPACKET pair hands the turn over, outside the timing). Each sample
// gives the CPU's submit -> sync-returned time and the GPU's (events around the copy). Before the
// timing, every variant's copy is checked at three bytes. Output: one JSON object on stdout; errors:
// a message on stderr and exit status 1 (2 for bad arguments).
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "probe_driver.hpp"

namespace {

using probe::Driver;
using probe::fail;

constexpr int kTurnMs = 10000;  // the peer took longer than this: it stalled or died
constexpr unsigned char kFill = 0xa7;
constexpr size_t kSmallestChunk = size_t(256) << 10;  // the last variant's: it needs the most events

struct Variant {
    const char *name;
    enum Kind { DtoD, DtoH, HtoD, Bounce } kind;
    size_t chunk;  // Bounce: 0 = serial on one stream
};

const Variant kVariants[] = {
    {"dtod", Variant::DtoD, 0},
    {"dtoh", Variant::DtoH, 0},
    {"htod", Variant::HtoD, 0},
    {"bounce, serial", Variant::Bounce, 0},
    {"bounce, 2 MiB", Variant::Bounce, size_t(2) << 20},
    {"bounce, 1 MiB", Variant::Bounce, size_t(1) << 20},
    {"bounce, 512 KiB", Variant::Bounce, size_t(512) << 10},
    {"bounce, 256 KiB", Variant::Bounce, kSmallestChunk},
};
constexpr size_t kVariantCount = sizeof kVariants / sizeof kVariants[0];

// The shared context (its stream downloads) plus what the bounce needs: an upload stream, pinned
// host memory and events; these are freed here, before the context is released.
struct Context : probe::Context {
    CUstream up{};
    std::vector<void *> pinned;
    std::vector<CUevent> events;

    Context(const Driver &driver, int ordinal) : probe::Context(driver, ordinal) {
        cu.check(cu.stream_create(&up, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
    }
    ~Context() {
        cu.ctx_sync();
        for (CUevent e : events) cu.event_destroy(e);
        for (void *p : pinned) cu.host_free(p);
        if (up != nullptr) cu.stream_destroy(up);
    }

    unsigned char *host(size_t nbytes) {
        void *ptr = nullptr;
        cu.check(cu.host_alloc(&ptr, nbytes, 0), "cuMemHostAlloc");
        pinned.push_back(ptr);
        return static_cast<unsigned char *>(ptr);
    }
    CUevent event(unsigned flags) {
        CUevent e{};
        cu.check(cu.event_create(&e, flags), "cuEventCreate");
        events.push_back(e);
        return e;
    }
};

// One variant's copy of src into dst (through host where it bounces), submitted and synced;
// the GPU's time between `start` (recorded first on the download stream) and `end` (last, on the
// stream that finishes) in `gpu_ms`.
struct Copier {
    Context &ctx;
    CUdeviceptr src, dst;
    unsigned char *host;
    size_t nbytes;
    std::vector<CUevent> landed;  // one per chunk: the upload of chunk i waits for its download
    CUevent start, end;

    void run(const Variant &v, float *gpu_ms) {
        const Driver &cu = ctx.cu;
        CUstream last = ctx.stream;
        cu.check(cu.event_record(start, ctx.stream), "cuEventRecord");
        switch (v.kind) {
            case Variant::DtoD: cu.check(cu.copy(dst, src, nbytes, ctx.stream), "cuMemcpyDtoDAsync"); break;
            case Variant::DtoH: cu.check(cu.to_host_async(host, src, nbytes, ctx.stream), "cuMemcpyDtoHAsync"); break;
            case Variant::HtoD: cu.check(cu.to_device_async(dst, host, nbytes, ctx.stream), "cuMemcpyHtoDAsync"); break;
            case Variant::Bounce:
                if (v.chunk == 0) {
                    cu.check(cu.to_host_async(host, src, nbytes, ctx.stream), "cuMemcpyDtoHAsync");
                    cu.check(cu.to_device_async(dst, host, nbytes, ctx.stream), "cuMemcpyHtoDAsync");
                    break;
                }
                for (size_t offset = 0, i = 0; offset < nbytes; offset += v.chunk, ++i) {
                    const size_t length = std::min(v.chunk, nbytes - offset);
                    cu.check(cu.to_host_async(host + offset, src + offset, length, ctx.stream), "cuMemcpyDtoHAsync");
                    cu.check(cu.event_record(landed[i], ctx.stream), "cuEventRecord");
                    cu.check(cu.stream_wait_event(ctx.up, landed[i], 0), "cuStreamWaitEvent");
                    cu.check(cu.to_device_async(dst + offset, host + offset, length, ctx.up), "cuMemcpyHtoDAsync");
                }
                last = ctx.up;  // it waited for every download: its sync covers both
                break;
        }
        cu.check(cu.event_record(end, last), "cuEventRecord");
        cu.check(cu.stream_sync(last), "cuStreamSynchronize");
        cu.check(cu.event_elapsed(gpu_ms, start, end), "cuEventElapsedTime");
    }

    // The copy is what it should be: the first, a middle and the last byte of dst (or of host).
    void verify(const Variant &v) {
        const Driver &cu = ctx.cu;
        cu.check(cu.memset(dst, 0, nbytes), "cuMemsetD8");
        std::memset(host, v.kind == Variant::HtoD ? kFill : 0, nbytes);
        cu.check(cu.ctx_sync(), "cuCtxSynchronize");
        float ignored = 0;
        run(v, &ignored);
        for (size_t at : {size_t(0), nbytes / 2, nbytes - 1}) {
            const unsigned char byte = v.kind == Variant::DtoH ? host[at] : ctx.byte_at(dst + at);
            if (byte != kFill)
                fail(std::string(v.name) + ": byte " + std::to_string(at) + " of the copy is " + std::to_string(byte) +
                     ", not " + std::to_string(kFill));
        }
    }
};

void send_byte(int fd, char byte) {
    if (send(fd, &byte, 1, MSG_NOSIGNAL) != 1) fail(std::string("send to the peer failed: ") + std::strerror(errno));
}

// The next byte from the other process; timeout_ms -1 waits as long as it lives (its exit closes
// the socket).
char receive_byte(int fd, int timeout_ms) {
    pollfd pfd{fd, POLLIN, 0};
    int ready = poll(&pfd, 1, timeout_ms);
    if (ready < 0) fail(std::string("poll failed: ") + std::strerror(errno));
    if (ready == 0) fail("the other process did not answer within " + std::to_string(timeout_ms / 1000) + " s");
    char byte = 0;
    ssize_t got = recv(fd, &byte, 1, 0);
    if (got == 0) fail("the other process closed the socket");
    if (got < 0) fail(std::string("recv failed: ") + std::strerror(errno));
    return byte;
}

// The other process: on 'g', a frame copy in its own context and a sync, then 'd'; 'q' ends it.
int peer(int fd, int ordinal, size_t nbytes) {
    Driver driver;
    Context ctx(driver, ordinal);
    CUdeviceptr src = ctx.alloc(nbytes, 1), dst = ctx.alloc(nbytes, 0);
    send_byte(fd, 'r');
    for (;;) {
        char byte = receive_byte(fd, -1);  // the measuring process may be busy alone for long
        if (byte == 'q') return 0;
        if (byte != 'g') fail("an unknown request from the measuring process");
        ctx.copy(dst, src, nbytes);
        send_byte(fd, 'd');
    }
}

int measure(int fd, int ordinal, size_t nbytes, long rounds, long warmup) {
    Driver driver;
    Context ctx(driver, ordinal);
    Copier copier{ctx, ctx.alloc(nbytes, kFill), ctx.alloc(nbytes, 0), ctx.host(nbytes), nbytes, {}, {}, {}};
    const size_t chunks = (nbytes + kSmallestChunk - 1) / kSmallestChunk;
    for (size_t i = 0; i < chunks; ++i) copier.landed.push_back(ctx.event(CU_EVENT_DISABLE_TIMING));
    copier.start = ctx.event(CU_EVENT_DEFAULT);
    copier.end = ctx.event(CU_EVENT_DEFAULT);
    for (const Variant &v : kVariants) copier.verify(v);
    std::memset(copier.host, kFill, nbytes);  // htod's source from here on
    if (receive_byte(fd, kTurnMs) != 'r') fail("the peer did not come up");

    // [phase][variant]: CPU and GPU µs. Rounds outermost, so that drift hits every variant alike.
    std::vector<double> cpu[2][kVariantCount], gpu[2][kVariantCount];
    for (int phase = 0; phase < 2; ++phase) {
        for (long round = 0; round < warmup + rounds; ++round) {
            for (size_t k = 0; k < kVariantCount; ++k) {
                if (phase == 1) {  // the peer's frame copy first, its turn handed back before the clock starts
                    send_byte(fd, 'g');
                    if (receive_byte(fd, kTurnMs) != 'd') fail("the peer answered out of turn");
                }
                float gpu_ms = 0;
                const uint64_t t0 = probe::now_ns();
                copier.run(kVariants[k], &gpu_ms);
                const uint64_t t1 = probe::now_ns();
                if (round < warmup) continue;
                cpu[phase][k].push_back(double(t1 - t0) / 1e3);
                gpu[phase][k].push_back(double(gpu_ms) * 1e3);
            }
        }
    }
    send_byte(fd, 'q');
    std::printf("{\"nbytes\": %zu, \"cases\": [", nbytes);
    for (int phase = 0; phase < 2; ++phase) {
        for (size_t k = 0; k < kVariantCount; ++k) {
            std::printf("%s{\"variant\": \"%s\", \"phase\": \"%s\", ", phase + k == 0 ? "" : ", ", kVariants[k].name,
                        phase == 0 ? "alone" : "after peer");
            probe::print_percentiles("cpu_us", cpu[phase][k]);
            std::printf(", ");
            probe::print_percentiles("gpu_us", gpu[phase][k]);
            std::printf("}");
        }
    }
    std::printf("]}\n");
    return 0;
}

long number(const char *text, const char *what, long low) {
    char *end = nullptr;
    errno = 0;
    long value = std::strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < low) {
        std::fprintf(stderr, "bounce_probe: %s must be an integer >= %ld, got '%s'\n", what, low, text);
        std::exit(2);
    }
    return value;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 4 && argc != 5) {
        std::fprintf(stderr, "usage: bounce_probe NBYTES ROUNDS WARMUP [DEVICE]\n");
        return 2;
    }
    const size_t nbytes = size_t(number(argv[1], "NBYTES", 1));
    const long rounds = number(argv[2], "ROUNDS", 1), warmup = number(argv[3], "WARMUP", 0);
    const int ordinal = argc == 5 ? int(number(argv[4], "DEVICE", 0)) : 0;
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
        std::fprintf(stderr, "bounce_probe: socketpair failed: %s\n", std::strerror(errno));
        return 1;
    }
    std::fflush(stdout);
    const pid_t child = fork();  // before either process touches CUDA: a forked context is unusable
    if (child < 0) {
        std::fprintf(stderr, "bounce_probe: fork failed: %s\n", std::strerror(errno));
        return 1;
    }
    const bool is_peer = child == 0;
    close(pair[is_peer ? 0 : 1]);
    int status = 1;
    try {
        status = is_peer ? peer(pair[1], ordinal, nbytes) : measure(pair[0], ordinal, nbytes, rounds, warmup);
    } catch (const std::exception &error) {
        std::fprintf(stderr, "bounce_probe %s: %s\n", is_peer ? "peer" : "measure", error.what());
        status = 1;
    }
    if (is_peer) _exit(status);  // no atexit handlers of the parent's in the child
    close(pair[0]);              // a peer still waiting sees the socket close and ends
    int peer_status = 0;
    while (waitpid(child, &peer_status, 0) < 0 && errno == EINTR) {}
    if (status == 0 && !(WIFEXITED(peer_status) && WEXITSTATUS(peer_status) == 0)) {
        std::fprintf(stderr, "bounce_probe: the peer process failed (status %d)\n", peer_status);
        status = 1;
    }
    return status;
}
