#include "fake_producer.hpp"

#include <algorithm>
#include <cstring>

#include "cuframes/error.hpp"
#include "cuframes/format.hpp"
#include "cuframes/types.hpp"
#include "fuzz_input.hpp"
#include "hostile_peer.hpp"

namespace cuframes_fuzz {
namespace {

using cuframes::SharedHeader;
using cuframes::WelcomeBody;

// More than any valid pool (2 + 128): enough to overflow every limit.
constexpr int64_t kMaxDescriptorsSent = 260;

uint64_t tweak_size(uint64_t announced, uint8_t choice) {
    switch (choice >> 5) {
        case 1: return announced > 4096 ? announced - 4096 : 0;
        case 2: return announced + 4096;
        case 3: return announced > 0 ? announced - 1 : 0;
        case 4: return announced + 1;
        case 5: return 0;
        default: return announced;
    }
}

cuframes::UniqueFd make_region(uint8_t choice, uint64_t announced, const std::vector<uint8_t> &contents,
                               bool write_sealed) {
    return make_descriptor(static_cast<FdKind>(choice & 7), tweak_size(announced, choice), contents,
                           static_cast<Seals>((choice >> 3) & 3), write_sealed);
}

void fix_welcome(WelcomeBody &welcome) {
    cuframes::StreamDescription &stream = welcome.stream;
    if (cuframes::is_known_format(stream.format)) {
        try {
            cuframes::FrameLayout layout = cuframes::compute_layout(static_cast<cuframes::PixelFormat>(stream.format),
                                                                    stream.width, stream.height);
            stream.plane_count = layout.plane_count;
            std::memcpy(stream.planes, layout.planes.data(), sizeof stream.planes);
        } catch (const cuframes::Error &) {
            // An impossible size stays as it is: the subscriber must refuse it.
        }
    }
    welcome.total_fds = 2 + stream.slot_count;
    welcome.header_bytes = static_cast<uint32_t>(cuframes::header_region_bytes(stream.slot_count));
    welcome.lease_page_bytes = cuframes::kLeasePageBytes;
}

template <typename T>
void put(std::vector<uint8_t> &bytes, size_t offset, const T &value) {
    std::memcpy(bytes.data() + offset, &value, sizeof value);
}

void fix_header(std::vector<uint8_t> &header, const WelcomeBody &welcome) {
    put(header, offsetof(SharedHeader, magic), cuframes::kHeaderMagic);
    put(header, offsetof(SharedHeader, version), cuframes::kProtocolVersion);
    put(header, offsetof(SharedHeader, header_bytes), welcome.header_bytes);
    put(header, offsetof(SharedHeader, stream), welcome.stream);
    put(header, offsetof(SharedHeader, metadata_offset), static_cast<uint32_t>(sizeof(SharedHeader)));
    put(header, offsetof(SharedHeader, metadata_stride), cuframes::kMetadataStride);
}

void fix_lease(std::array<uint8_t, kLeaseSection> &lease, const WelcomeBody &welcome) {
    cuframes::LeasePage page{};
    std::memcpy(&page, lease.data(), std::min(sizeof page, lease.size()));
    page.magic = cuframes::kLeasePageMagic;
    page.version = cuframes::kProtocolVersion;
    page.max_held = welcome.stream.max_held;
    std::memcpy(lease.data(), &page, offsetof(cuframes::LeasePage, reserved0));
}

std::vector<uint8_t> welcome_message(const FakeProducerInput &input, const WelcomeBody &welcome) {
    // The body comes from the welcome and lease sections back to back, so a
    // Reject (256 bytes) carries fuzzed bytes too.
    std::vector<uint8_t> area(sizeof welcome + input.lease.size());
    std::memcpy(area.data(), &welcome, sizeof welcome);
    std::memcpy(area.data() + sizeof welcome, input.lease.data(), input.lease.size());

    uint8_t framing = input.welcome_framing;
    static constexpr uint16_t kTypes[] = {2, 3, 4, 1};  // Welcome, Reject, Fds, Hello
    uint16_t type = kTypes[(framing >> 2) & 3];
    size_t body = type == 3 ? sizeof(cuframes::RejectBody) : sizeof(WelcomeBody);
    switch ((framing >> 4) & 3) {
        case 1: body -= 1; break;
        case 2: body += 4; break;
        case 3: body = 0; break;
    }
    static constexpr uint16_t kVersions[] = {cuframes::kProtocolVersion, cuframes::kProtocolVersion + 1, 0, 0xffff};
    uint32_t length_field = static_cast<uint32_t>(body) + ((framing >> 6) & 1);
    return frame_message(cuframes::kWireMagic, kVersions[framing & 3], type, length_field, (framing >> 7) & 1,
                         area.data(), body);
}

}  // namespace

FakeProducerInput parse_input(const uint8_t *data, size_t size) {
    ByteReader in(data, size);
    FakeProducerInput input;
    input.mode = in.u8();
    input.header_fd = in.u8();
    input.lease_fd = in.u8();
    input.slot_fd = in.u8();
    input.odd_slot_index = in.u8();
    input.odd_slot_fd = in.u8();
    input.fd_delta = static_cast<int8_t>(in.u8());
    input.fds_per_message = in.u8();
    input.welcome_framing = in.u8();
    input.fds_framing = in.u8();
    input.borrow_ops = in.u8();
    input.borrow_aux = in.u8();
    input.raw_length = in.u16();
    input.reserved = in.u16();
    in.bytes(&input.welcome, sizeof input.welcome);
    in.bytes(input.lease.data(), input.lease.size());
    input.raw = in.take(input.raw_length % kMaxRawSection);
    input.header = in.take(kHeaderSection);
    input.header.resize(kHeaderSection, 0);
    return input;
}

std::vector<uint8_t> encode_input(const FakeProducerInput &input) {
    SeedWriter out;
    out.u8(input.mode).u8(input.header_fd).u8(input.lease_fd).u8(input.slot_fd);
    out.u8(input.odd_slot_index).u8(input.odd_slot_fd).u8(static_cast<uint8_t>(input.fd_delta));
    out.u8(input.fds_per_message).u8(input.welcome_framing).u8(input.fds_framing);
    out.u8(input.borrow_ops).u8(input.borrow_aux);
    out.u16(static_cast<uint16_t>(input.raw.size())).u16(input.reserved);
    out.bytes(&input.welcome, sizeof input.welcome);
    out.bytes(input.lease.data(), input.lease.size());
    out.bytes(input.raw.data(), input.raw.size());
    // Trailing zeros read back as zeros: leave them out to keep seeds small.
    size_t header_used = input.header.size();
    while (header_used > 0 && input.header[header_used - 1] == 0) --header_used;
    out.bytes(input.header.data(), header_used);
    return out.data();
}

void append_raw_record(std::vector<uint8_t> &raw, const std::vector<uint8_t> &message, uint8_t descriptors) {
    SeedWriter out;
    out.u16(static_cast<uint16_t>(message.size())).u8(descriptors).bytes(message.data(), message.size());
    raw.insert(raw.end(), out.data().begin(), out.data().end());
}

void Script::send(int socket) const {
    for (const Message &message : messages)
        send_raw(socket, message.bytes.data(), message.bytes.size(), message.fds.data(), message.fds.size());
}

Script build_script(FakeProducerInput input, bool forced_framing) {
    if (forced_framing) {
        input.mode &= static_cast<uint8_t>(~(kRawMessages | kTrailing));
        input.fd_delta = 0;
        input.fds_per_message = 0;
        input.welcome_framing = 0;
        input.fds_framing = 0;
    }
    Script script;
    WelcomeBody &welcome = script.welcome;
    welcome = input.welcome;
    if (input.mode & kFixWelcome) fix_welcome(welcome);
    script.header = input.header;
    if (input.mode & kFixHeader) fix_header(script.header, welcome);
    if ((input.mode & kFixWelcome) && script.header.size() >= offsetof(SharedHeader, latest_seq) + 8) {
        // joined_seq past the header's newest frame is refused: fixed, it is at most that.
        uint64_t latest = 0;
        std::memcpy(&latest, script.header.data() + offsetof(SharedHeader, latest_seq), sizeof latest);
        welcome.joined_seq = std::min(welcome.joined_seq, latest);
    }
    if (input.mode & kFixLease) fix_lease(input.lease, welcome);

    // The descriptors, in the order the welcome announces them.
    const cuframes::StreamDescription &stream = welcome.stream;
    std::vector<uint8_t> lease_contents(input.lease.begin(), input.lease.end());
    script.owned.push_back(make_region(input.header_fd, welcome.header_bytes, script.header, true));
    script.owned.push_back(make_region(input.lease_fd, welcome.lease_page_bytes, lease_contents, false));
    script.owned.push_back(make_region(input.slot_fd, stream.slot_size, {}, true));
    int odd = -1;
    if (input.odd_slot_fd != 0) {
        script.owned.push_back(make_region(input.odd_slot_fd, stream.slot_size, {}, true));
        odd = script.owned.back().get();
    }
    int64_t slots = std::min<int64_t>(stream.slot_count, kMaxDescriptorsSent);
    int64_t total = std::clamp<int64_t>(2 + slots + input.fd_delta, 0, kMaxDescriptorsSent);
    std::vector<int> fds;
    for (int64_t i = 0; i < total; ++i) {
        if (i < 2)
            fds.push_back(script.owned[static_cast<size_t>(i)].get());
        else
            fds.push_back(odd >= 0 && i - 2 == input.odd_slot_index ? odd : script.owned[2].get());
    }

    if (input.mode & kRawMessages) {
        // Records: each message takes the next descriptors in order.
        ByteReader records(input.raw.data(), input.raw.size());
        size_t next_fd = 0;
        while (records.remaining() > 0) {
            size_t length = records.u16() % 1024;
            size_t count = records.u8();
            Script::Message message{records.take(length), {}};
            for (; count > 0 && next_fd < fds.size(); --count) message.fds.push_back(fds[next_fd++]);
            script.messages.push_back(std::move(message));
        }
    } else {
        script.messages.push_back({welcome_message(input, welcome), {}});
        uint32_t per_message = input.fds_per_message == 0 ? cuframes::kMaxFdsPerMessage : input.fds_per_message;
        uint32_t chunk = 0;
        for (size_t first = 0; first < fds.size(); first += per_message, ++chunk) {
            size_t count = std::min<size_t>(per_message, fds.size() - first);
            cuframes::FdsBody body{static_cast<uint32_t>(first), static_cast<uint32_t>(count)};
            uint16_t version = cuframes::kProtocolVersion;
            uint16_t type = static_cast<uint16_t>(cuframes::MessageType::Fds);
            size_t body_size = sizeof body;
            uint8_t faults = input.fds_framing;
            if (chunk == (faults >> 6)) {
                if (faults & 1) version = 0;
                if (faults & 2) type = static_cast<uint16_t>(cuframes::MessageType::Welcome);
                if (faults & 4) body.count += 1;
                if (faults & 8) body.count = 0;
                if (faults & 16) body.first_index += 1;
                if (faults & 32) body_size -= 1;
            }
            Script::Message message{frame_message(cuframes::kWireMagic, version, type, static_cast<uint32_t>(body_size),
                                                  static_cast<uint32_t>(count), &body, body_size),
                                    std::vector<int>(fds.begin() + static_cast<ptrdiff_t>(first),
                                                     fds.begin() + static_cast<ptrdiff_t>(first + count))};
            script.messages.push_back(std::move(message));
        }
    }
    if (input.mode & kTrailing) script.messages.push_back({welcome_message(input, welcome), {}});
    return script;
}

}  // namespace cuframes_fuzz
