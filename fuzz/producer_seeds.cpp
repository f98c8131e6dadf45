// Seeds of fuzz_producer_handshake: the honest handshake and frame flow (so
// that coverage starts deep), and the classic hostile subscribers.
#include <algorithm>
#include <cstring>
#include <deque>

#include "cuframes/types.hpp"
#include "fuzz_input.hpp"
#include "hostile_subscriber.hpp"
#include "protocol/shm_layout.hpp"
#include "protocol/wire.hpp"

namespace cuframes_fuzz {
namespace {

SeedWriter &op(SeedWriter &out, Op code, unsigned peer = 0) { return out.u8(op_byte(code, peer)); }

// The input carries the metadata's first 16 bytes; the rest are zeros.
SeedWriter &produce(SeedWriter &out, uint16_t metadata_size = 0, uint8_t fill = 0x80, Op code = Op::Produce) {
    op(out, code).u16(metadata_size).u8(fill);
    for (uint16_t i = 0; i < std::min<uint16_t>(metadata_size, 16); ++i) out.u8(static_cast<uint8_t>('a' + i));
    return out;
}

SeedWriter &hello(SeedWriter &out, unsigned peer, uint8_t faults = 0, uint16_t version = 0, uint32_t client = 0) {
    op(out, Op::Connect, peer);
    op(out, Op::SendHello, peer).u8(faults).u16(version).u32(client);
    return op(out, Op::Drain, peer);
}

SeedWriter &write_lease(SeedWriter &out, unsigned peer, uint8_t offset, uint64_t value) {
    op(out, Op::WriteLease, peer).u8(offset).u8(sizeof value);
    return out.u64(value);
}

}  // namespace

bool write_producer_seeds(const std::string &dir) {
    // A deque: the references add() returns stay valid as seeds are added.
    std::deque<std::pair<const char *, SeedWriter>> seeds;
    auto add = [&](const char *name) -> SeedWriter & { return seeds.emplace_back(name, SeedWriter()).second; };

    hello(add("raw-hello"), 0);

    {
        SeedWriter &out = add("handshake-borrow-produce");
        produce(out, 5);
        op(out, Op::Handshake, 0);
        op(out, Op::Handshake, 1);
        op(out, Op::Borrow, 0).u8(0).u8(0);
        produce(out, 16);
        op(out, Op::Borrow, 1).u8(1).u8(0);
        produce(out, 4096);
        produce(out, 0, 0, Op::AcquireAbort);
        produce(out, 4097);  // too much metadata: refused
        op(out, Op::Close, 0);
        produce(out);
    }
    {
        SeedWriter &out = add("hostile-lease-page");
        produce(out);
        op(out, Op::Handshake, 2);
        // Every entry the producer reads names some slot, some out of range.
        write_lease(out, 2, offsetof(cuframes::LeasePage, leases), cuframes::pack_slot_ref(1, 3));
        write_lease(out, 2, offsetof(cuframes::LeasePage, leases) + 8, cuframes::pack_slot_ref(~0ull >> 8, 200));
        write_lease(out, 2, offsetof(cuframes::LeasePage, max_held) - 4, 0xffffffffffffffffull);
        for (int i = 0; i < 12; ++i) produce(out);
    }
    {
        SeedWriter &out = add("subscriber-limit");
        for (unsigned peer = 0; peer < kPeers; ++peer) op(out, Op::Handshake, peer);
        for (unsigned peer = 0; peer < kPeers; ++peer) op(out, Op::Borrow, peer).u8(static_cast<uint8_t>(peer)).u8(0);
        for (int i = 0; i < 10; ++i) produce(out);
    }
    {
        SeedWriter &out = add("garbage");
        op(out, Op::Connect, 0);
        op(out, Op::SendRaw, 0).u16(3).u8(0).bytes("xyz", 3);
        op(out, Op::Drain, 0);
    }
    hello(add("hello-with-descriptors"), 1, 4);
    hello(add("hello-other-version"), 1, 1, static_cast<uint16_t>(cuframes::kProtocolVersion + 1));
    hello(add("hello-previous-version"), 1, 1, static_cast<uint16_t>(cuframes::kProtocolVersion - 1));
    hello(add("hello-short"), 1, 8);
    {
        SeedWriter &out = add("message-too-many-descriptors");
        op(out, Op::Connect, 3);
        op(out, Op::SendMessage, 3)
            .u8(0)
            .u16(1)
            .u16(1)
            .u8(16)
            .u8(static_cast<uint8_t>(30 << 3))
            .bytes("0123456789abcdef", 16);
        op(out, Op::Drain, 3);
    }
    {
        SeedWriter &out = add("handshake-then-garbage");
        hello(out, 4);
        op(out, Op::SendRaw, 4).u16(1).u8(0).u8(0);
        op(out, Op::Drain, 4);
        produce(out);
    }
    {
        SeedWriter &out = add("flood");
        op(out, Op::Flood).u8(40);
        op(out, Op::Handshake, 0);
        produce(out);
    }
    {
        SeedWriter &out = add("shutdown-before-hello");
        op(out, Op::Connect, 5);
        op(out, Op::ShutdownWrite, 5);
        op(out, Op::Drain, 5);
    }

    bool ok = true;
    for (const auto &[name, seed] : seeds) ok = save_seed(dir, name, seed.data()) && ok;
    return ok;
}

}  // namespace cuframes_fuzz
