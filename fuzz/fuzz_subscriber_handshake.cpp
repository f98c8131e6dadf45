// libFuzzer target: everything a hostile producer can send to a subscriber.
//
// The harness plays the producer (fake_producer.hpp says how an input becomes
// its messages and descriptors) and runs the real subscriber code against it:
//  - by default a Connection over a socketpair, with everything queued before
//    the handshake starts and a handshake timeout of 0, so no receive ever
//    waits; a successful handshake is followed by borrow attempts through
//    the core's own ring functions (find_slot, try_borrow, metadata areas,
//    packed copies), which act on the header's fields;
//  - with kRealSubscriber, a cuframes::Subscriber that connects to the fake
//    producer's socket and calls next(0) / read_into(0, ...), so that the
//    subscriber's own search over the header (borrow_next) is fuzzed too.
// A cuframes::Error is an expected outcome. Crashes, sanitizer reports,
// hangs (-timeout), other exceptions and leaked descriptors are findings.
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/paths.hpp"
#include "consumer/connection.hpp"
#include "cuframes/error.hpp"
#include "cuframes/subscriber.hpp"
#include "fake_producer.hpp"
#include "fd_census.hpp"
#include "hostile_peer.hpp"
#include "protocol/ring.hpp"

namespace {

using namespace cuframes_fuzz;
using cuframes::UniqueFd;

constexpr const char *kTarget = "fuzz_subscriber_handshake";
constexpr const char *kKey = "fuzz";
// Frames larger than this are only touched, not copied out: a fuzzed
// description may announce 16384x16384 RGBA.
constexpr uint64_t kMaxCopyBytes = 4u << 20;
// How long the fake producer waits for the real subscriber to connect; it
// connects at once, so this only bounds a harness bug.
constexpr int kAcceptTimeoutMs = 5000;

void require(bool ok, const char *what) {
    if (ok) return;
    std::fprintf(stderr, "%s: %s failed: %s\n", kTarget, what, std::strerror(errno));
    std::abort();
}

// Where a real Subscriber finds the fake producer: made once per process.
struct Rendezvous {
    std::string dir;
    std::string socket_path;
    UniqueFd listener;
    UniqueFd cancel;  // eventfd: the subscriber gave up, stop waiting for it

    Rendezvous() {
        dir = make_scratch_dir();
        socket_path = cuframes::socket_path(dir, kKey);
        listener.reset(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
        require(listener.valid(), "socket");
        sockaddr_un address = cuframes::unix_address(socket_path);
        require(::bind(listener.get(), reinterpret_cast<sockaddr *>(&address), sizeof address) == 0, "bind");
        require(::listen(listener.get(), 8) == 0, "listen");
        cancel.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        require(cancel.valid(), "eventfd");
    }
    ~Rendezvous() {
        ::unlink(socket_path.c_str());
        ::rmdir(dir.c_str());
    }
};

Rendezvous &rendezvous() {
    static Rendezvous instance;
    return instance;
}

// ---- Connection over a socketpair ----------------------------------------

// A subscriber's borrow, done with the core's ring functions: the header
// fields they act on are the producer's to choose.
void borrow_with_connection(cuframes::Connection &connection, const FakeProducerInput &input) {
    const cuframes::SharedHeader &header = connection.header();
    const uint32_t slots = connection.description().slot_count;
    const cuframes::FrameLayout &layout = connection.layout();
    std::vector<uint32_t> held;
    uint32_t attempts = (input.borrow_ops & 7) + 1;
    for (uint32_t i = 0; i < attempts; ++i) {
        uint32_t entry = connection.claim_lease_entry();
        if (entry == cuframes::Connection::kNoLease) {
            connection.release_lease_entry(held.front());
            held.erase(held.begin());
            continue;
        }
        // acquire, as the subscriber: pairs with the producer's release store.
        uint64_t latest = header.latest_seq.load(std::memory_order_acquire);
        uint64_t seq = (input.borrow_aux >> (i % 8)) & 1 ? latest - i : latest;
        uint32_t slot = cuframes::find_slot(header, seq);
        if (slot == cuframes::kNoSlot || slot >= slots ||
            !cuframes::try_borrow(header, connection.lease_page().leases[entry], seq, slot)) {
            connection.release_lease_entry(entry);
            continue;
        }
        uint32_t metadata_size = header.slots[slot].metadata_size;
        if (metadata_size <= cuframes::kMetadataStride) {
            std::string metadata(reinterpret_cast<const char *>(connection.metadata_area(slot)), metadata_size);
            (void)metadata;
        }
        if (connection.backend() == cuframes::Backend::Host && layout.packed_bytes <= kMaxCopyBytes) {
            std::vector<uint8_t> frame(layout.packed_bytes);
            connection.slots().copy_packed_out(slot, layout, reinterpret_cast<uint64_t>(frame.data()), frame.size(),
                                               cuframes::MemoryKind::Host, 0);
        }
        if ((input.borrow_ops >> (3 + i % 5)) & 1)
            held.push_back(entry);
        else
            connection.release_lease_entry(entry);
    }
    (void)connection.producer_gone();
    connection.wake_waiters();
    for (uint32_t entry : held) connection.release_lease_entry(entry);
}

void run_with_connection(const FakeProducerInput &input) {
    Script script = build_script(input, false);
    int ends[2];
    require(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) == 0, "socketpair");
    UniqueFd producer_end(ends[1]);
    UniqueFd subscriber_end(ends[0]);
    script.send(producer_end.get());
    if (input.mode & kHangUp) require(::shutdown(producer_end.get(), SHUT_WR) == 0, "shutdown");
    script.owned.clear();  // the queued messages hold their own references
    try {
        // Timeout 0: everything the producer will ever send is queued already.
        cuframes::Connection connection(kKey, std::move(subscriber_end), 0);
        borrow_with_connection(connection, input);
    } catch (const cuframes::Error &) {
        // Refused: what a subscriber must do with a bad producer.
    }
}

// ---- a real Subscriber over a socket path --------------------------------

// Accepts the subscriber and sends the script (on the fake producer's thread).
UniqueFd accept_and_send(const Rendezvous &place, const Script &script) {
    pollfd waits[2] = {{place.listener.get(), POLLIN, 0}, {place.cancel.get(), POLLIN, 0}};
    int ready;
    do {
        ready = ::poll(waits, 2, kAcceptTimeoutMs);
    } while (ready < 0 && errno == EINTR);
    require(ready >= 0, "poll");
    if (!(waits[0].revents & POLLIN)) return UniqueFd();
    UniqueFd peer(::accept4(place.listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    require(peer.valid(), "accept4");
    script.send(peer.get());
    return peer;
}

void borrow_with_subscriber(cuframes::Subscriber &subscriber, const FakeProducerInput &input, bool can_copy) {
    const cuframes::FrameLayout &layout = subscriber.layout();
    std::vector<std::shared_ptr<cuframes::FrameLease>> held;
    uint32_t attempts = (input.borrow_ops & 7) + 1;
    for (uint32_t i = 0; i < attempts; ++i) {
        try {
            if (can_copy && ((input.borrow_aux >> (i % 8)) & 1)) {
                std::vector<uint8_t> frame(layout.packed_bytes);
                subscriber.read_into(0, reinterpret_cast<uint64_t>(frame.data()), frame.size(),
                                     cuframes::MemoryKind::Host, 0);
                continue;
            }
            std::shared_ptr<cuframes::FrameLease> frame = subscriber.next(0);
            (void)frame->metadata().size();
            if ((input.borrow_ops >> (3 + i % 5)) & 1) held.push_back(std::move(frame));
        } catch (const cuframes::Error &) {
            // TIMEOUT, DISCONNECTED, LIMIT or a refused header: all expected.
        }
    }
}

void run_with_subscriber(const FakeProducerInput &input) {
    Script script = build_script(input, true);
    Rendezvous &place = rendezvous();
    UniqueFd producer_end;
    std::thread producer([&] { producer_end = accept_and_send(place, script); });
    std::optional<cuframes::Subscriber> subscriber;
    try {
        cuframes::SubscriberOptions options;
        options.key = kKey;
        options.dir = place.dir;
        options.connect_timeout_ms = 1000;
        options.delivery = input.mode & kSequential ? cuframes::Delivery::Sequential : cuframes::Delivery::Latest;
        subscriber.emplace(options);
    } catch (const cuframes::Error &) {
        // Refused the handshake.
    }
    uint64_t one = 1;
    require(::write(place.cancel.get(), &one, sizeof one) == sizeof one, "write eventfd");
    producer.join();
    require(::read(place.cancel.get(), &one, sizeof one) == sizeof one, "read eventfd");
    if (!subscriber) return;
    if (input.mode & kHangUp) require(::shutdown(producer_end.get(), SHUT_WR) == 0, "shutdown");

    bool can_copy =
        subscriber->backend() == cuframes::Backend::Host && subscriber->layout().packed_bytes <= kMaxCopyBytes;
    borrow_with_subscriber(*subscriber, input, can_copy);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    if (const char *dir = std::getenv("CUFRAMES_FUZZ_WRITE_SEEDS")) std::exit(write_subscriber_seeds(dir) ? 0 : 1);
    try {
        rendezvous();  // its descriptors must exist before the first census
    } catch (const cuframes::Error &error) {
        std::fprintf(stderr, "%s: cannot make the fake producer's socket: %s\n", kTarget, error.what());
        std::exit(1);
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fds_before = count_open_fds();
    FakeProducerInput input = parse_input(data, size);
    if (input.mode & kRealSubscriber)
        run_with_subscriber(input);
    else
        run_with_connection(input);
    require_no_fd_leak(fds_before, kTarget);
    return 0;
}
