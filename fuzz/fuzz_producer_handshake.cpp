// libFuzzer target: everything a hostile subscriber can send to a producer.
//
// One real cuframes::Publisher (host backend) serves for the whole run. Each
// input is a script of operations (hostile_subscriber.hpp) by up to kPeers
// peers: raw connections that send arbitrary messages, with or without
// descriptors, and honest subscribers (the core's Connection) whose lease
// pages the input then scribbles on, while the harness acquires and
// publishes frames. The harness checks, and aborts (a finding) otherwise:
//  - loan() always finds a slot, never one that a live subscriber's lease
//    names, and never the newest frame's;
//  - a published frame is what the header then says it is;
//  - an honest handshake always succeeds (unless the subscriber limit, or a
//    full queue of pending handshakes after more than 32 connections by the
//    same input, refuses it), and every message is answered;
//  - once the peers are gone the producer counts no subscriber and holds no
//    extra descriptor;
//  - every kHealthCheckEvery inputs, a real Subscriber still receives a frame.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/paths.hpp"
#include "consumer/connection.hpp"
#include "cuframes/error.hpp"
#include "cuframes/publisher.hpp"
#include "cuframes/subscriber.hpp"
#include "fd_census.hpp"
#include "fuzz_input.hpp"
#include "hostile_peer.hpp"
#include "hostile_subscriber.hpp"
#include "protocol/ring.hpp"
#include "protocol/wire.hpp"

namespace {

using namespace cuframes_fuzz;
using cuframes::UniqueFd;

constexpr const char *kTarget = "fuzz_producer_handshake";
constexpr const char *kKey = "fuzz";
constexpr uint32_t kSlots = 10;  // max_subscribers * max_held + 2: the smallest pool allowed
constexpr uint32_t kMaxSubscribers = 4;
constexpr uint32_t kMaxHeld = 2;
// The producer answers at once; these only bound a stuck producer.
constexpr int kAnswerTimeoutMs = 2000;
// Longer than the producer's own 2 s handshake timeout: by then it has
// dropped every connection the input left behind.
constexpr int kSettleMs = 3000;
constexpr uint64_t kHealthCheckEvery = 256;
// Operations run per input, and honest handshakes among them: each handshake
// costs a thread and a round trip, and a few dozen operations already reach
// every state; longer inputs would only slow the search down.
constexpr int kMaxOperations = 64;
constexpr int kMaxHandshakes = 12;
// A frame's metadata starts with this many input bytes, then zeros: its
// contents are only copied, and 4 kB of them would crowd out operations.
constexpr size_t kMetadataFromInput = 16;
// The producer's limit on connections still in the handshake (server.cpp).
constexpr size_t kMaxPendingHandshakes = 32;

[[noreturn]] void fail(const std::string &what) {
    std::fprintf(stderr, "%s: %s\n", kTarget, what.c_str());
    std::abort();
}

void require(bool ok, const char *what) {
    if (!ok) fail(std::string(what) + " failed: " + std::strerror(errno));
}

// The producer under test, made once per process.
struct Stream {
    std::string dir;
    std::unique_ptr<cuframes::Publisher> publisher;
    uint32_t newest_slot = cuframes::kNoSlot;  // the slot of the last frame published
    uint64_t inputs = 0;

    Stream() {
        dir = make_scratch_dir();
        cuframes::PublisherOptions options;
        options.key = kKey;
        options.dir = dir;
        options.width = 64;
        options.height = 32;
        options.format = CUFRAMES_FORMAT_NV12;
        options.slots = kSlots;
        options.max_subscribers = kMaxSubscribers;
        options.max_held = kMaxHeld;
        options.backend = cuframes::Backend::Host;
        // Packet subscribers and observers are peers too: welcome them all.
        options.packet_ring_bytes = 64 * 1024;
        publisher = std::make_unique<cuframes::Publisher>(options);
    }
    ~Stream() {
        publisher.reset();  // removes its socket and lock file
        ::rmdir(dir.c_str());
    }
};

Stream &stream() {
    static Stream instance;
    return instance;
}

struct Peer {
    UniqueFd socket;                                 // a raw connection
    bool awaiting = false;                           // sent something not answered yet
    std::unique_ptr<cuframes::Connection> attached;  // an honest subscriber
    // The leases this subscriber took by the protocol (try_borrow succeeded),
    // by entry; 0 once the entry is overwritten by raw bytes. Only these bind
    // the producer: a lease written without the check against the slot's seq
    // protects nothing, and a hostile peer's reads of a slot it never leased
    // properly are its own affair.
    std::array<uint64_t, cuframes::kMaxHeldLimit> valid_leases{};
};

// One input's peers: all hang up when it ends.
struct Run {
    Run(Stream &producer, const uint8_t *data, size_t size) : stream(producer), in(data, size), peers(kPeers) {}
    Stream &stream;
    ByteReader in;
    std::vector<Peer> peers;
    std::vector<UniqueFd> flood;
    size_t connections = 0;  // opened by this input, closed ones included
    int handshakes = 0;
};

UniqueFd connect_to(const Stream &stream) {
    UniqueFd socket(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    require(socket.valid(), "socket");
    sockaddr_un address = cuframes::unix_address(stream.publisher->socket_path());
    if (::connect(socket.get(), reinterpret_cast<sockaddr *>(&address), sizeof address) == 0) return socket;
    // A full backlog (after a flood) refuses a non-blocking connect: a
    // peer's bad luck, not the producer's fault.
    require(errno == EAGAIN, "connect");
    return UniqueFd();
}

UniqueFd connect_raw(Run &run) {
    ++run.connections;
    return connect_to(run.stream);
}

// Descriptors to attach, one byte: bits 0-2 the FdKind, bits 3-7 how many / 3
// (up to 93: more than the producer's 64 a message). One descriptor, sent
// that many times: the kernel installs a copy for each.
struct Attachment {
    UniqueFd fd;
    std::vector<int> fds;
};

Attachment attachment(uint8_t spec) {
    Attachment out;
    size_t count = (spec >> 3) * 3u;
    if (count == 0) return out;
    out.fd = make_descriptor(static_cast<FdKind>(spec & 7), 4096, {}, Seals::Right, false);
    out.fds.assign(count, out.fd.get());
    return out;
}

void send_with(Peer &peer, const std::vector<uint8_t> &bytes, uint8_t fd_spec) {
    if (!peer.socket) return;
    Attachment attached = attachment(fd_spec);
    if (send_raw(peer.socket.get(), bytes.data(), bytes.size(), attached.fds.data(), attached.fds.size()))
        peer.awaiting = true;
}

void send_message(Run &run, Peer &peer) {
    uint8_t faults = run.in.u8();
    uint16_t version = run.in.u16();
    uint16_t type = run.in.u16();
    uint8_t body_length = run.in.u8();
    uint8_t fd_spec = run.in.u8();
    std::vector<uint8_t> body = run.in.take(body_length);
    uint32_t magic = faults & 1 ? cuframes::kWireMagic ^ 0x20 : cuframes::kWireMagic;
    uint32_t length_field = static_cast<uint32_t>(body.size()) + ((faults >> 1) & 1);
    uint32_t count_field = static_cast<uint32_t>((fd_spec >> 3) * 3u) + ((faults >> 2) & 1);
    send_with(peer, frame_message(magic, version, type, length_field, count_field, body.data(), body.size()), fd_spec);
}

void send_hello(Run &run, Peer &peer) {
    uint8_t faults = run.in.u8();
    uint16_t version = run.in.u16();
    uint32_t client_version = run.in.u32();
    // Bits 4-5: the role (frames, packets, observe, and one no producer knows).
    uint32_t role = (faults >> 4) & 3u;
    cuframes::HelloBody hello{faults & 2 ? client_version : cuframes::kProtocolVersion, role, 0};
    size_t body = sizeof hello - ((faults >> 3) & 1);
    uint16_t wire_version = faults & 1 ? version : static_cast<uint16_t>(cuframes::kProtocolVersion);
    uint8_t fd_spec = faults & 4 ? (1 << 3) : 0;  // three memfds
    send_with(peer,
              frame_message(cuframes::kWireMagic, wire_version, static_cast<uint16_t>(cuframes::MessageType::Hello),
                            static_cast<uint32_t>(body), fd_spec ? 3 : 0, &hello, body),
              fd_spec);
}

void drain_answer(Peer &peer) {
    if (!peer.socket) return;
    if (peer.awaiting) {
        // Every message gets an answer: a Reject, a Welcome, or a hang-up.
        pollfd waiter{peer.socket.get(), POLLIN, 0};
        int ready;
        do {
            ready = ::poll(&waiter, 1, kAnswerTimeoutMs);
        } while (ready < 0 && errno == EINTR);
        require(ready >= 0, "poll");
        if (ready == 0)
            fail("the producer did not answer a message within " + std::to_string(kAnswerTimeoutMs) + " ms");
        peer.awaiting = false;
    }
    drain(peer.socket.get());
}

void handshake(Run &run, Peer &peer) {
    if (++run.handshakes > kMaxHandshakes) return;
    peer = Peer{};
    UniqueFd socket = connect_raw(run);
    if (!socket) return;
    try {
        peer.attached = std::make_unique<cuframes::Connection>(kKey, std::move(socket), kAnswerTimeoutMs);
    } catch (const cuframes::Error &error) {
        // The only honest refusals: the subscriber limit, and a connection
        // closed at once because others fill the producer's queue of pending
        // handshakes (32). Connections this input already closed count there
        // too until the producer has read their hang-up, which it does only
        // after accepting everything in its backlog.
        bool flooded = run.connections > kMaxPendingHandshakes && error.status() == CUFRAMES_ERR_DISCONNECTED;
        if (error.status() != CUFRAMES_ERR_LIMIT && !flooded)
            fail(std::string("an honest handshake failed: ") + error.what());
    }
}

void write_lease(Run &run, Peer &peer) {
    uint8_t offset = run.in.u8();
    uint8_t length = run.in.u8() % 64;
    std::vector<uint8_t> bytes = run.in.take(length);
    if (!peer.attached || bytes.empty()) return;
    // The producer reads the page with atomic loads, here and on its waker
    // thread (claiming a slot ahead), as it would a hostile process's page.
    std::memcpy(reinterpret_cast<uint8_t *>(&peer.attached->lease_page()) + offset, bytes.data(), bytes.size());
    // Entries touched by raw bytes no longer hold a lease taken by the protocol.
    for (uint32_t i = 0; i < cuframes::kMaxHeldLimit; ++i) {
        size_t begin = offsetof(cuframes::LeasePage, leases) + i * sizeof(uint64_t);
        if (offset < begin + sizeof(uint64_t) && begin < offset + bytes.size()) peer.valid_leases[i] = 0;
    }
}

void borrow(Run &run, Peer &peer) {
    uint8_t entry = run.in.u8() % cuframes::kMaxHeldLimit;
    uint8_t age = run.in.u8();
    if (!peer.attached) return;
    const cuframes::SharedHeader &header = peer.attached->header();
    // acquire: pairs with the producer's release store of latest_seq.
    uint64_t seq = header.latest_seq.load(std::memory_order_acquire) - age;
    uint32_t slot = cuframes::find_slot(header, seq);
    if (slot == cuframes::kNoSlot || slot >= kSlots) return;
    bool held = cuframes::try_borrow(header, peer.attached->lease_page().leases[entry], seq, slot);
    peer.valid_leases[entry] = held ? cuframes::pack_slot_ref(seq, slot) : 0;
}

// The producer's promise: a slot it hands out is named by no lease taken by
// the protocol and still in place, and does not hold the newest frame. (The
// producer may claim a slot ahead, before loan(); a lease written after
// that claim without the protocol's check names a slot whose seq is 0, which
// an honest subscriber would have seen and backed off from.)
void check_acquired(const Run &run, uint32_t slot) {
    if (slot >= kSlots) fail("loan() returned slot " + std::to_string(slot));
    if (slot == run.stream.newest_slot) fail("loan() returned the newest frame's slot " + std::to_string(slot));
    for (size_t p = 0; p < run.peers.size(); ++p) {
        if (!run.peers[p].attached) continue;
        const cuframes::LeasePage &page = run.peers[p].attached->lease_page();
        for (uint32_t i = 0; i < kMaxHeld; ++i) {
            uint64_t ref = page.leases[i].load(std::memory_order_seq_cst);
            if (ref != 0 && ref == run.peers[p].valid_leases[i] && cuframes::slot_ref_slot(ref) == slot)
                fail("loan() returned slot " + std::to_string(slot) + ", which lease " + std::to_string(i) +
                     " of peer " + std::to_string(p) + " names");
        }
    }
}

// What a subscriber will find in the header for the frame just published.
void check_published(const Run &run, uint64_t seq, uint32_t slot, const std::vector<uint8_t> &metadata) {
    for (const Peer &peer : run.peers) {
        if (!peer.attached) continue;
        const cuframes::SharedHeader &header = peer.attached->header();
        if (header.latest_seq.load(std::memory_order_acquire) != seq)
            fail("latest_seq is not the frame just published");
        if (cuframes::find_slot(header, seq) != slot)
            fail("the ring does not map the frame just published to its slot");
        if (header.slots[slot].seq.load(std::memory_order_seq_cst) != seq) fail("the slot's seq is not the frame's");
        if (header.slots[slot].metadata_size != metadata.size() ||
            (!metadata.empty() &&
             std::memcmp(peer.attached->metadata_area(slot), metadata.data(), metadata.size()) != 0))
            fail("the frame's metadata is not what was published");
        return;  // every peer maps the same header
    }
}

cuframes::WritableFrame loan(Run &run) {
    try {
        cuframes::WritableFrame slot = run.stream.publisher->loan();
        check_acquired(run, slot.index());
        return slot;
    } catch (const cuframes::Error &error) {
        // The pool is sized so that max_subscribers * max_held leases and the
        // newest frame always leave one free.
        fail(std::string("loan() failed: ") + error.what());
    }
}

void produce(Run &run, bool publish) {
    uint16_t metadata_size = run.in.u16() % 4200;
    uint8_t fill = run.in.u8();
    std::vector<uint8_t> metadata = run.in.take(std::min<size_t>(metadata_size, kMetadataFromInput));
    metadata.resize(metadata_size, 0);
    cuframes::Publisher &publisher = *run.stream.publisher;
    cuframes::WritableFrame slot = loan(run);
    const uint32_t index = slot.index();
    std::memset(reinterpret_cast<void *>(slot.data()), fill, slot.size());
    if (!publish) return;  // dropped unpublished: the slot goes back
    try {
        uint64_t seq = publisher.publish(std::move(slot), 0, fill, metadata.data(), metadata_size);
        run.stream.newest_slot = index;
        check_published(run, seq, index, metadata);
    } catch (const cuframes::Error &error) {
        if (metadata_size <= cuframes::kMetadataStride) fail(std::string("publish() failed: ") + error.what());
        // too much metadata: refused, as it must be; the frame is dropped unpublished
    }
}

void flood(Run &run) {
    uint8_t count = run.in.u8() % 48;
    // Twice the producer's pending limit is plenty, and keeps the harness
    // well inside a CI runner's descriptor limit.
    for (uint8_t i = 0; i < count && run.flood.size() < 2 * kMaxPendingHandshakes; ++i) {
        UniqueFd socket = connect_raw(run);
        if (socket) run.flood.push_back(std::move(socket));
    }
}

void step(Run &run) {
    uint8_t code = run.in.u8();
    Peer &peer = run.peers[(code >> 5) % kPeers];
    switch (static_cast<Op>((code & 31) % static_cast<uint8_t>(Op::Count))) {
        case Op::Connect:
            peer = Peer{};
            peer.socket = connect_raw(run);
            break;
        case Op::SendRaw: {
            size_t length = run.in.u16() % 1024;
            uint8_t fd_spec = run.in.u8();
            send_with(peer, run.in.take(length), fd_spec);
            break;
        }
        case Op::SendMessage: send_message(run, peer); break;
        case Op::SendHello: send_hello(run, peer); break;
        case Op::Drain: drain_answer(peer); break;
        case Op::Handshake: handshake(run, peer); break;
        case Op::WriteLease: write_lease(run, peer); break;
        case Op::Borrow: borrow(run, peer); break;
        case Op::Produce: produce(run, true); break;
        case Op::AcquireAbort: produce(run, false); break;
        case Op::ShutdownWrite:
            if (peer.socket) ::shutdown(peer.socket.get(), SHUT_WR);  // ENOTCONN after a hang-up is fine
            break;
        case Op::Close: peer = Peer{}; break;
        case Op::Flood: flood(run); break;
        case Op::Count: break;
    }
}

// True once the producer has answered a hello of another protocol version
// on a fresh connection with a Reject: it has then accepted every
// connection queued before that one.
bool answers_probe(const Stream &stream) {
    UniqueFd probe = connect_to(stream);
    if (!probe) return false;
    cuframes::HelloBody hello{cuframes::kProtocolVersion + 1, 0, 0};
    std::vector<uint8_t> message =
        frame_message(cuframes::kWireMagic, cuframes::kProtocolVersion + 1,
                      static_cast<uint16_t>(cuframes::MessageType::Hello), sizeof hello, 0, &hello, sizeof hello);
    if (!send_raw(probe.get(), message.data(), message.size(), nullptr, 0)) return false;
    pollfd waiter{probe.get(), POLLIN, 0};
    if (::poll(&waiter, 1, kAnswerTimeoutMs) <= 0) return false;
    cuframes::MessageHeader header{};
    ssize_t received = ::recv(probe.get(), &header, sizeof header, MSG_DONTWAIT | MSG_TRUNC);
    return received >= static_cast<ssize_t>(sizeof header) &&
           header.type == static_cast<uint16_t>(cuframes::MessageType::Reject);
}

// Every peer gone: the producer must forget them all, and still serve.
void settle(Stream &stream, int fds_before, bool connected) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kSettleMs);
    while (stream.publisher->subscriber_count() != 0) {
        if (std::chrono::steady_clock::now() > deadline)
            fail("the producer still counts " + std::to_string(stream.publisher->subscriber_count()) +
                 " subscribers after every peer left");
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    // Connections the input opened may still wait in the listener's backlog
    // after their peers closed them (so they hold none of our descriptors).
    // The producer accepts them all before it reads any hang-up, and past 32
    // pending handshakes it closes new connections unread: the next input's
    // honest subscriber would be refused. A probe answered in order proves
    // the backlog is through.
    while (connected && !answers_probe(stream)) {
        if (std::chrono::steady_clock::now() > deadline)
            fail("the producer does not answer a new connection after every peer left");
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    require_no_fd_leak(fds_before, kTarget, kSettleMs);
}

void require_still_serving(Stream &stream) {
    try {
        cuframes::SubscriberOptions options;
        options.key = kKey;
        options.dir = stream.dir;
        options.connect_timeout_ms = kAnswerTimeoutMs;
        cuframes::Subscriber subscriber(options);
        cuframes::WritableFrame slot = stream.publisher->loan();
        stream.newest_slot = slot.index();
        uint64_t seq = stream.publisher->publish(std::move(slot), 0, 0, "health", 6);
        std::shared_ptr<cuframes::FrameLease> frame = subscriber.next(kAnswerTimeoutMs);
        if (frame->info().seq != seq || frame->metadata() != "health")
            fail("a real subscriber received frame " + std::to_string(frame->info().seq) + " instead of " +
                 std::to_string(seq));
    } catch (const cuframes::Error &error) {
        fail(std::string("the producer no longer serves a real subscriber: ") + error.what());
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    if (const char *dir = std::getenv("CUFRAMES_FUZZ_WRITE_SEEDS")) std::exit(write_producer_seeds(dir) ? 0 : 1);
    try {
        stream();  // the producer's descriptors must exist before the first census
    } catch (const cuframes::Error &error) {
        std::fprintf(stderr, "%s: cannot start the producer under test: %s\n", kTarget, error.what());
        std::exit(1);
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Stream &producer = stream();
    int fds_before = count_open_fds();
    bool connected;
    {
        Run run(producer, data, size);
        // No frame stays on loan between steps: produce() drops an unpublished one.
        for (int i = 0; i < kMaxOperations && run.in.remaining() > 0; ++i) step(run);
        connected = run.connections > 0;
    }  // every peer hangs up here
    settle(producer, fds_before, connected);
    // CUFRAMES_FUZZ_HEALTH_EVERY=1 checks after every input: to find which
    // input of a crashing run broke the producer.
    static const uint64_t every = [] {
        const char *value = std::getenv("CUFRAMES_FUZZ_HEALTH_EVERY");
        uint64_t parsed = value != nullptr ? std::strtoull(value, nullptr, 10) : 0;
        return parsed > 0 ? parsed : kHealthCheckEvery;
    }();
    if (producer.inputs++ % every == 0) {
        require_still_serving(producer);
        settle(producer, fds_before, true);
    }
    return 0;
}
