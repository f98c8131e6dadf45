// Seeds of fuzz_subscriber_handshake: a valid handshake in every mode (so
// that coverage starts deep, at the borrow), and a few classic faults.
#include <cstring>

#include "cuframes/format.hpp"
#include "cuframes/types.hpp"
#include "fake_producer.hpp"
#include "fuzz_input.hpp"
#include "hostile_peer.hpp"

namespace cuframes_fuzz {
namespace {

using cuframes::SharedHeader;

template <typename T>
void put(std::vector<uint8_t> &bytes, size_t offset, const T &value) {
    std::memcpy(bytes.data() + offset, &value, sizeof value);
}

// A host stream as a real producer describes it, with its constant header
// part and lease page filled in by the fix-ups.
FakeProducerInput valid(cuframes::PixelFormat format, uint32_t width, uint32_t height, uint32_t slots,
                        uint32_t max_held) {
    FakeProducerInput input;
    input.mode = kFixWelcome | kFixHeader | kFixLease;
    cuframes::StreamDescription &stream = input.welcome.stream;
    stream.backend = CUFRAMES_BACKEND_HOST;
    stream.format = format;
    stream.width = width;
    stream.height = height;
    stream.slot_count = slots;
    stream.max_held = max_held;
    stream.slot_size = (cuframes::compute_layout(format, width, height).bytes + 4095) / 4096 * 4096;
    stream.epoch = 0x1234567890abcdefull;
    input.borrow_ops = 3 | 0x08;  // four attempts, the first frame kept
    input.borrow_aux = 0x04;      // the third one through read_into
    input.header.assign(kHeaderSection, 0);
    put(input.header, offsetof(SharedHeader, state), static_cast<uint32_t>(cuframes::StreamState::Running));
    return input;
}

// Frames 1..count as the producer publishes them, round-robin over the slots.
void publish(FakeProducerInput &input, uint64_t count, bool with_metadata = false) {
    uint32_t slots = input.welcome.stream.slot_count;
    for (uint64_t seq = 1; seq <= count; ++seq) {
        uint32_t slot = static_cast<uint32_t>((seq - 1) % slots);
        size_t record = offsetof(SharedHeader, slots) + slot * sizeof(cuframes::SlotRecord);
        put(input.header, record + offsetof(cuframes::SlotRecord, seq), seq);
        put(input.header, record + offsetof(cuframes::SlotRecord, pts), static_cast<int64_t>(seq * 3000));
        put(input.header, record + offsetof(cuframes::SlotRecord, metadata_size),
            static_cast<uint32_t>(with_metadata && slot == 0 ? 5 : 0));
        put(input.header, offsetof(SharedHeader, publish_ring) + (seq % cuframes::kPublishRingSize) * 8,
            cuframes::pack_slot_ref(seq, slot));
    }
    // Slot 0's metadata lies past the header's fixed part: it makes the seed 11 kB.
    if (with_metadata) std::memcpy(input.header.data() + sizeof(SharedHeader), "hello", 5);
    put(input.header, offsetof(SharedHeader, latest_seq), count);
    put(input.header, offsetof(SharedHeader, wake_word), static_cast<uint32_t>(count));
}

// The same input with every fix-up written out, so that mutations can break
// one field at a time.
FakeProducerInput explicit_copy(const FakeProducerInput &fixed) {
    Script script = build_script(fixed, false);
    FakeProducerInput input = fixed;
    input.mode &= static_cast<uint8_t>(~(kFixWelcome | kFixHeader | kFixLease));
    input.welcome = script.welcome;
    input.header = script.header;
    cuframes::LeasePage page{};
    page.magic = cuframes::kLeasePageMagic;
    page.version = cuframes::kProtocolVersion;
    page.max_held = script.welcome.stream.max_held;
    std::memcpy(input.lease.data(), &page, offsetof(cuframes::LeasePage, reserved0));
    return input;
}

// The welcome and Fds messages of a valid input, as raw records.
FakeProducerInput as_raw(const FakeProducerInput &valid_input) {
    FakeProducerInput input = explicit_copy(valid_input);
    Script script = build_script(input, false);
    input.mode |= kRawMessages;
    for (const Script::Message &message : script.messages)
        append_raw_record(input.raw, message.bytes, static_cast<uint8_t>(message.fds.size()));
    return input;
}

}  // namespace

bool write_subscriber_seeds(const std::string &dir) {
    struct Seed {
        const char *name;
        FakeProducerInput input;
    };
    std::vector<Seed> seeds;

    FakeProducerInput nv12 = valid(CUFRAMES_FORMAT_NV12, 64, 32, 4, 2);
    publish(nv12, 3);
    seeds.push_back({"valid-connection-nv12", nv12});
    FakeProducerInput with_metadata = nv12;
    publish(with_metadata, 3, true);
    seeds.push_back({"valid-connection-metadata", with_metadata});
    seeds.push_back({"valid-connection-explicit", explicit_copy(nv12)});
    seeds.push_back({"valid-raw-messages", as_raw(nv12)});
    // v4: every stream fact set, and one the subscriber must refuse.
    FakeProducerInput with_facts = nv12;
    cuframes::StreamFacts &facts = with_facts.welcome.stream.facts;
    facts.time_base = {1, 90000};
    facts.frame_rate = {30000, 1001};
    facts.sample_aspect_ratio = {1, 1};
    facts.color_matrix = facts.color_primaries = facts.color_transfer = 1;
    facts.color_range = CUFRAMES_COLOR_RANGE_LIMITED;
    seeds.push_back({"valid-connection-stream-facts", with_facts});
    FakeProducerInput bad_facts = with_facts;
    bad_facts.welcome.stream.facts.frame_rate = {30, 0};
    seeds.push_back({"bad-stream-facts", bad_facts});

    FakeProducerInput latest = nv12;
    latest.mode |= kRealSubscriber;
    seeds.push_back({"valid-subscriber-latest", latest});
    // The newest frame has no ring entry: next() once spun forever on this;
    // now it is a protocol error.
    FakeProducerInput unmapped = latest;
    put(unmapped.header, offsetof(SharedHeader, publish_ring) + 3 * 8, uint64_t{0});
    seeds.push_back({"newest-frame-unmapped", unmapped});
    FakeProducerInput sequential = valid(CUFRAMES_FORMAT_I420, 32, 16, 6, 3);
    publish(sequential, 9);
    sequential.mode |= kRealSubscriber | kSequential;
    sequential.borrow_ops = 7 | 0x28;
    seeds.push_back({"valid-subscriber-sequential", sequential});

    FakeProducerInput many = valid(CUFRAMES_FORMAT_RGBA, 16, 16, 128, 16);
    publish(many, 300);  // the ring has wrapped
    seeds.push_back({"valid-128-slots", many});
    FakeProducerInput gray = valid(CUFRAMES_FORMAT_GRAY8, 8, 2, 3, 1);
    gray.fds_per_message = 1;
    seeds.push_back({"valid-one-fd-per-message", gray});

    FakeProducerInput closed = nv12;
    put(closed.header, offsetof(SharedHeader, state), static_cast<uint32_t>(cuframes::StreamState::Closed));
    closed.mode |= kHangUp;
    seeds.push_back({"closed-stream", closed});

    FakeProducerInput reject = nv12;
    reject.mode = 0;                  // no fix-ups: they would write into the reason
    reject.welcome_framing = 1 << 2;  // type Reject
    reject.welcome = {};
    std::memcpy(&reject.welcome, "\x0c\x00\x00\x00\x01\x00\x00\x00too many subscribers", 28);
    seeds.push_back({"reject", reject});

    FakeProducerInput unsealed = nv12;
    unsealed.header_fd =
        descriptor_choice(static_cast<uint8_t>(FdKind::Memfd), static_cast<uint8_t>(Seals::ShrinkOnly), 0);
    seeds.push_back({"header-not-write-sealed", unsealed});
    FakeProducerInput pipe = nv12;
    pipe.odd_slot_fd = descriptor_choice(static_cast<uint8_t>(FdKind::Pipe), 0, 0);
    pipe.odd_slot_index = 1;
    seeds.push_back({"slot-is-a-pipe", pipe});
    FakeProducerInput short_header = nv12;
    short_header.header_fd = descriptor_choice(0, 0, 1);
    seeds.push_back({"header-a-page-short", short_header});
    FakeProducerInput too_few = nv12;
    too_few.fd_delta = -1;
    seeds.push_back({"one-descriptor-missing", too_few});
    FakeProducerInput truncated = many;
    truncated.fds_per_message = 130;  // more than the receiver's 64
    seeds.push_back({"too-many-fds-in-one-message", truncated});
    FakeProducerInput cuda = nv12;
    cuda.welcome.stream.backend = CUFRAMES_BACKEND_CUDA;
    seeds.push_back({"cuda-backend", cuda});

    bool ok = true;
    for (const Seed &seed : seeds) {
        ok = save_seed(dir, seed.name, encode_input(seed.input)) && ok;
    }
    return ok;
}

}  // namespace cuframes_fuzz
