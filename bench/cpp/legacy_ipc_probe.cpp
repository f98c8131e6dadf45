// Legacy CUDA IPC at its best, stamped in C++: the peer cuframes' C++ probe is compared with.
//
// One binary, two modes, two processes joined by a socketpair (SOCK_SEQPACKET) that the caller
// (bench/harness/alt_legacy_probe.py) passes as an inherited descriptor:
//
//   legacy_ipc_probe producer FD DEVICE NBYTES SLOTS FRAMES WARMUP PERIOD_US
//   legacy_ipc_probe consumer FD DEVICE NBYTES SLOTS FRAMES WARMUP PERIOD_US
//
// The producer cuMemAlloc's ONE allocation holding SLOTS frames (slot k at k * stride) and sends
// its cuIpcGetMemHandle once; the consumer opens it once and finds slots by offset. Per frame the
// producer copies one of 4 sources into its private buffer, syncs and stamps CLOCK_MONOTONIC (the
// frame is complete in its private buffer: the stamp point of every method), copies it into the
// slot, syncs, and sends (seq, slot, stamp) — the frame is dropped when the consumer may still be
// reading that slot. It sleeps PERIOD_US after each frame. The consumer sleeps in poll(), takes
// the newest message (older ones count as missed), stamps "borrow" (it holds the slot's pointer),
// copies the slot into its own buffer, syncs, stamps "read_into", and acknowledges the frame.
//
// libcuda is dlopen'ed (no link-time dependency; probe_driver.hpp), as in the cuframes core. Output: one JSON
// object on stdout; errors: a message on stderr and exit status 1 (2 for bad arguments), e.g.
// on a machine without a GPU.
#include <poll.h>
#include <sys/socket.h>
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

constexpr uint32_t kMagic = 0x4c495043;  // "LIPC"
constexpr uint32_t kVersion = 1;
constexpr int kSources = 4;
constexpr int kStallMs = 5000;  // no message for this long: the peer stalled or died
constexpr int kChecked = 20;    // warm-up frames whose last byte is checked
constexpr size_t kAlign = 256;  // slots start on 256-byte boundaries (bench/harness/alt_support.py)

enum Kind : uint32_t { kHello = 1, kReady, kFrame, kDone, kStop, kEnd, kClosed };

struct Message {
    uint32_t magic;
    uint32_t kind;
    int64_t seq;
    uint64_t stamp_ns;
    uint64_t shared_ns;  // kFrame: after the copy into the slot and its sync (cuframes' C++ probe's point)
    uint64_t nbytes;
    uint64_t stride;
    uint32_t slot;   // kFrame: the slot; kHello: the slot count
    uint32_t value;  // kFrame: the byte the frame holds
    unsigned char handle[CU_IPC_HANDLE_SIZE];
};

using probe::Context;
using probe::Driver;
using probe::fail;
using probe::now_ns;
using probe::print_percentiles;

unsigned char fill_value(int index) { return static_cast<unsigned char>((37 * (index + 1)) % 251 + 1); }

void send_message(int fd, Message msg) {
    msg.magic = kMagic;
    if (send(fd, &msg, sizeof msg, MSG_NOSIGNAL) != ssize_t(sizeof msg))
        fail(std::string("send to the peer failed: ") + std::strerror(errno));
}

// The next message; false when none came within timeout_ms (0: do not wait). A peer's bytes are
// untrusted: size and magic are checked.
bool receive(int fd, Message *msg, int timeout_ms) {
    pollfd pfd{fd, POLLIN, 0};
    int ready = poll(&pfd, 1, timeout_ms);
    if (ready < 0) fail(std::string("poll failed: ") + std::strerror(errno));
    if (ready == 0) return false;
    ssize_t got = recv(fd, msg, sizeof *msg, MSG_DONTWAIT);
    if (got == 0) fail("the peer closed the socket");
    if (got < 0) fail(std::string("recv failed: ") + std::strerror(errno));
    if (got != ssize_t(sizeof *msg) || msg->magic != kMagic) fail("a malformed message from the peer");
    return true;
}

Message expect(int fd, uint32_t kind, const char *what) {
    Message msg{};
    if (!receive(fd, &msg, 60000)) fail(std::string("no ") + what + " from the peer within 60 s");
    if (msg.kind != kind) fail(std::string("expected ") + what + ", got message kind " + std::to_string(msg.kind));
    return msg;
}

struct Args {
    int fd, device;
    size_t nbytes;
    int slots;
    long frames, warmup, period_us;
};

int producer(const Args &a) {
    Driver driver;
    Context ctx(driver, a.device);
    const size_t stride = (a.nbytes + kAlign - 1) & ~(kAlign - 1);
    CUdeviceptr shared = ctx.alloc(stride * size_t(a.slots), 0);
    CUdeviceptr priv = ctx.alloc(a.nbytes, 0);
    std::vector<CUdeviceptr> sources;
    for (int i = 0; i < kSources; ++i) sources.push_back(ctx.alloc(a.nbytes, fill_value(i)));
    Message hello{};
    hello.kind = kHello;
    hello.nbytes = a.nbytes;
    hello.stride = stride;
    hello.slot = uint32_t(a.slots);
    CUipcMemHandle handle{};
    driver.check(driver.ipc_get(&handle, shared), "cuIpcGetMemHandle");
    std::memcpy(hello.handle, handle.reserved, CU_IPC_HANDLE_SIZE);
    send_message(a.fd, hello);
    expect(a.fd, kReady, "the consumer's ready");
    int64_t consumed = -1;  // the newest frame the consumer finished with
    long published = 0, dropped = 0;
    const timespec period{a.period_us / 1000000, (a.period_us % 1000000) * 1000};
    for (int64_t seq = 0;; ++seq) {
        Message msg{};
        bool stop = false;
        while (receive(a.fd, &msg, 0)) {
            if (msg.kind == kDone) consumed = std::max(consumed, msg.seq);
            if (msg.kind == kStop) stop = true;
        }
        if (stop) break;
        int source = int(seq % kSources);
        ctx.copy(priv, sources[size_t(source)], a.nbytes);
        Message frame{};
        frame.stamp_ns = now_ns();  // the frame is complete in the producer's private buffer
        if (seq - consumed >= a.slots - 1) {
            ++dropped;  // its slot may still be read by the consumer
        } else {
            frame.kind = kFrame;
            frame.seq = seq;
            frame.slot = uint32_t(seq % a.slots);
            frame.value = fill_value(source);
            ctx.copy(shared + frame.slot * stride, priv, a.nbytes);
            frame.shared_ns = now_ns();
            send_message(a.fd, frame);
            ++published;
        }
        if (a.period_us > 0) nanosleep(&period, nullptr);
    }
    Message end{};
    end.kind = kEnd;
    send_message(a.fd, end);
    // cuMemFree of an exported allocation before the importer closed it is undefined behaviour.
    for (;;) {
        Message msg = expect(a.fd, kDone, "the consumer's acknowledgements");
        if (msg.seq == -1) break;  // kDone with seq -1: the consumer closed its mapping
    }
    std::printf("{\"published\": %ld, \"dropped\": %ld}\n", published, dropped);
    return 0;
}

int consumer(const Args &a) {
    Driver driver;
    Context ctx(driver, a.device);
    Message hello = expect(a.fd, kHello, "the producer's handle");
    if (hello.nbytes != a.nbytes || hello.stride < hello.nbytes || hello.slot != uint32_t(a.slots))
        fail("the producer's pool does not match the arguments");
    CUipcMemHandle handle{};
    std::memcpy(handle.reserved, hello.handle, CU_IPC_HANDLE_SIZE);
    CUdeviceptr shared{};
    driver.check(driver.ipc_open(&shared, handle, CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS), "cuIpcOpenMemHandle");
    CUdeviceptr dst = ctx.alloc(a.nbytes, 0);
    Message ready{};
    ready.kind = kReady;
    send_message(a.fd, ready);
    std::vector<double> borrow, read_into, copy, borrow_over_sync;
    long missed = 0, got = 0;
    int64_t last = -1;
    const long wanted = a.warmup + a.frames;
    while (got < wanted) {
        Message msg{};
        if (!receive(a.fd, &msg, kStallMs)) fail("no frame for 5 s: the producer stalled");
        Message newer{};
        while (receive(a.fd, &newer, 0)) msg = newer;  // delivery "latest": older frames are missed
        if (msg.kind != kFrame || msg.slot >= hello.slot) fail("a malformed frame message from the producer");
        const uint64_t held = now_ns();  // borrow: the consumer holds the slot's device pointer
        ctx.copy(dst, shared + msg.slot * hello.stride, a.nbytes);
        const uint64_t copied = now_ns();
        const bool warming = got < a.warmup;
        if (warming && got < kChecked && ctx.byte_at(dst + a.nbytes - 1) != msg.value)
            fail("the copied frame is not what the producer wrote");
        Message done{};
        done.kind = kDone;
        done.seq = msg.seq;
        send_message(a.fd, done);
        if (!warming) {
            borrow.push_back(double(held - msg.stamp_ns) / 1e3);
            read_into.push_back(double(copied - msg.stamp_ns) / 1e3);
            copy.push_back(double(copied - held) / 1e3);
            borrow_over_sync.push_back(double(held - msg.shared_ns) / 1e3);
            missed += msg.seq - last - 1;
        }
        last = msg.seq;
        ++got;
    }
    Message stop{};
    stop.kind = kStop;
    send_message(a.fd, stop);
    for (Message msg{}; msg.kind != kEnd;) {
        if (!receive(a.fd, &msg, kStallMs)) fail("no end message from the producer within 5 s");
    }
    driver.check(driver.ipc_close(shared), "cuIpcCloseMemHandle");
    Message closed{};
    closed.kind = kDone;
    closed.seq = -1;
    send_message(a.fd, closed);
    std::printf("{");
    print_percentiles("borrow", borrow);
    std::printf(", ");
    print_percentiles("read_into", read_into);
    std::printf(", ");
    print_percentiles("copy", copy);
    std::printf(", ");
    print_percentiles("borrow_over_sync", borrow_over_sync);
    std::printf(", \"missed\": %ld, \"stride\": %llu}\n", missed, static_cast<unsigned long long>(hello.stride));
    return 0;
}

long number(const char *text, const char *what, long low) {
    char *end = nullptr;
    errno = 0;
    long value = std::strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < low) {
        std::fprintf(stderr, "legacy_ipc_probe: %s must be an integer >= %ld, got '%s'\n", what, low, text);
        std::exit(2);
    }
    return value;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 9 || (std::strcmp(argv[1], "producer") != 0 && std::strcmp(argv[1], "consumer") != 0)) {
        std::fprintf(stderr,
                     "usage: legacy_ipc_probe producer|consumer FD DEVICE NBYTES SLOTS FRAMES WARMUP PERIOD_US\n");
        return 2;
    }
    Args a{int(number(argv[2], "FD", 0)),    int(number(argv[3], "DEVICE", 0)), size_t(number(argv[4], "NBYTES", 1)),
           int(number(argv[5], "SLOTS", 2)), number(argv[6], "FRAMES", 1),      number(argv[7], "WARMUP", 0),
           number(argv[8], "PERIOD_US", 0)};
    try {
        return std::strcmp(argv[1], "producer") == 0 ? producer(a) : consumer(a);
    } catch (const std::exception &error) {
        std::fprintf(stderr, "legacy_ipc_probe %s: %s\n", argv[1], error.what());
        return 1;
    }
}
