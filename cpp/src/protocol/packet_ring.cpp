#include "protocol/packet_ring.hpp"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <new>

#include "base/clock.hpp"
#include "base/futex.hpp"
#include "base/memfd.hpp"
#include "cuframes/annexb.hpp"
#include "cuframes/error.hpp"
#include "cuframes/types.hpp"
#include "protocol/shm_layout.hpp"

namespace cuframes {
namespace {

// Bytes [position, position + size) of the ring, which may wrap.
void copy_into_ring(uint8_t *ring, uint64_t ring_bytes, uint64_t position, const uint8_t *src, uint64_t size) {
    uint64_t at = position % ring_bytes;
    uint64_t first = std::min(size, ring_bytes - at);
    std::memcpy(ring + at, src, first);
    std::memcpy(ring, src + first, size - first);
}

void copy_from_ring(const uint8_t *ring, uint64_t ring_bytes, uint64_t position, uint8_t *dst, uint64_t size) {
    uint64_t at = position % ring_bytes;
    uint64_t first = std::min(size, ring_bytes - at);
    std::memcpy(dst, ring + at, first);
    std::memcpy(dst + first, ring, size - first);
}

}  // namespace

bool is_known_codec(uint32_t codec) noexcept {
    switch (codec) {
#define CUFRAMES_KNOWN_CODEC_CASE(id, value, name) case CUFRAMES_CODEC_##id:
        CUFRAMES_CODEC_LIST(CUFRAMES_KNOWN_CODEC_CASE)
#undef CUFRAMES_KNOWN_CODEC_CASE
        return true;
    }
    return false;
}

const char *codec_name(cuframes_codec codec) noexcept {
    switch (codec) {
#define CUFRAMES_CODEC_NAME_CASE(id, value, name)                                                                      \
    case CUFRAMES_CODEC_##id: return name;
        CUFRAMES_CODEC_LIST(CUFRAMES_CODEC_NAME_CASE)
#undef CUFRAMES_CODEC_NAME_CASE
    }
    return "unknown";
}

cuframes_codec parse_codec(const std::string &name) {
    std::string lower;
    for (char c : name) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
#define CUFRAMES_PARSE_CODEC(id, value, name)                                                                          \
    if (lower == name) return CUFRAMES_CODEC_##id;
    CUFRAMES_CODEC_LIST(CUFRAMES_PARSE_CODEC)
#undef CUFRAMES_PARSE_CODEC
    // The other names FFmpeg and users write for them.
    if (lower == "avc") return CUFRAMES_CODEC_H264;
    if (lower == "h265") return CUFRAMES_CODEC_HEVC;
    throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "unknown codec '" + name + "' (h264 or hevc)");
}

// ---------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------

PacketRingHeader &init_packet_ring_header(void *region, uint64_t data_bytes, uint64_t epoch) {
    auto *header = new (region) PacketRingHeader{};
    header->magic = kPacketRingMagic;
    header->version = kProtocolVersion;
    header->index_count = kPacketIndexCount;
    header->data_bytes = data_bytes;
    header->data_offset = packet_data_offset(kPacketIndexCount);
    header->region_bytes = packet_region_bytes(data_bytes);
    header->epoch = epoch;
    header->oldest_seq.store(1, std::memory_order_relaxed);
    header->state.store(static_cast<uint32_t>(StreamState::Running), std::memory_order_relaxed);
    return *header;
}

PacketRingWriter::PacketRingWriter(uint64_t data_bytes, uint64_t epoch) {
    if (data_bytes < kMinPacketRingBytes || data_bytes > kMaxPacketRingBytes)
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "packet_ring_bytes is " + std::to_string(data_bytes) +
                                                       "; it must be " + std::to_string(kMinPacketRingBytes) + ".." +
                                                       std::to_string(kMaxPacketRingBytes) + " (or 0: no packet ring)");
    uint64_t region = packet_region_bytes(data_bytes);
    fd_ = create_sealed_memfd("cuframes-packets", region);
    map_ = MemoryMap(fd_.get(), region, true, "the packet ring");
    header_ = &init_packet_ring_header(map_.data(), data_bytes, epoch);
    // The memfd is zero-filled: every record starts with seq 0 (empty).
    records_ = reinterpret_cast<PacketRecord *>(static_cast<uint8_t *>(map_.data()) + packet_index_offset());
    data_ = static_cast<uint8_t *>(map_.data()) + header_->data_offset;
    // Touch every page of the byte ring now (a few ms for megabytes), so that
    // the first lap of publish_packet() pays no page faults.
    std::memset(data_, 0, header_->data_bytes);
    seal_final(fd_.get(), true, "the packet ring");  // only our mapping writes
    read_only_fd_ = reopen_read_only(fd_.get(), "the packet ring");
}

void PacketRingWriter::retire_overwritten(uint64_t new_end) noexcept {
    // Records whose bytes the next write reuses, or whose index entry it
    // takes, are gone: observers and rejoining readers start after them.
    const uint64_t next_seq = seq_ + 1;
    while (oldest_ <= seq_) {
        const PacketRecord &record = records_[oldest_ % kPacketIndexCount];
        bool bytes_reused = new_end - record.offset.load(std::memory_order_relaxed) > header_->data_bytes;
        bool entry_reused = oldest_ + kPacketIndexCount <= next_seq;
        if (!bytes_reused && !entry_reused) break;
        ++oldest_;
    }
    header_->oldest_seq.store(oldest_, std::memory_order_release);
}

uint64_t PacketRingWriter::write(const uint8_t *data, uint64_t size, int64_t pts, int64_t dts, cuframes_codec codec,
                                 bool keyframe) {
    if (!is_known_codec(codec))
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "unknown codec " + std::to_string(codec) + " (h264 or hevc)");
    if (size == 0 || data == nullptr) throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "a packet needs at least one byte");
    if (size > max_record_bytes())
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT,
                    "a packet of " + std::to_string(size) + " bytes exceeds the largest " +
                        std::to_string(max_record_bytes()) + " this packet ring takes (half of packet_ring_bytes)");
    if (!starts_with_start_code(data, size))
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT,
                    "packets must be Annex-B (start with a 00 00 01 start code); convert length-prefixed (MP4) "
                    "packets with the h264_mp4toannexb or hevc_mp4toannexb bitstream filter");
    // Everything that can fail (allocate) comes before the first shared write.
    std::string sets = keyframe ? extract_parameter_sets(codec, data, size) : std::string();
    const uint64_t seq = seq_ + 1;
    const uint64_t offset = end_;
    const uint64_t new_end = end_ + size;
    retire_overwritten(new_end);
    PacketRecord &record = records_[seq % kPacketIndexCount];
    // Readers must see the entry invalid and the write position moved before
    // any of its bytes, or the bytes it covers, change under them.
    record.seq.store(0, std::memory_order_relaxed);
    header_->write_end.store(new_end, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    copy_into_ring(data_, header_->data_bytes, offset, data, size);
    record.offset.store(offset, std::memory_order_relaxed);
    record.size.store(static_cast<uint32_t>(size), std::memory_order_relaxed);
    record.flags.store(keyframe ? kPacketFlagKeyframe : 0, std::memory_order_relaxed);
    record.pts.store(pts, std::memory_order_relaxed);
    record.dts.store(dts, std::memory_order_relaxed);
    record.codec.store(codec, std::memory_order_relaxed);
    record.timestamp_ns.store(monotonic_ns(), std::memory_order_relaxed);
    record.seq.store(seq, std::memory_order_release);
    if (keyframe) {
        if (!sets.empty()) store_parameter_sets(codec, std::move(sets));
        header_->keyframes.fetch_add(1, std::memory_order_relaxed);
        header_->latest_keyframe_seq.store(seq, std::memory_order_release);
    }
    header_->codec.store(codec, std::memory_order_relaxed);
    header_->latest_seq.store(seq, std::memory_order_release);
    // After the sequence: a reader that saw the old word re-checks it before sleeping.
    header_->wake_word.fetch_add(1, std::memory_order_release);
    seq_ = seq;
    end_ = new_end;
    return seq;
}

void PacketRingWriter::set_parameter_sets(cuframes_codec codec, const uint8_t *data, uint64_t size) {
    if (!is_known_codec(codec))
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "unknown codec " + std::to_string(codec) + " (h264 or hevc)");
    if (size == 0 || data == nullptr || size > kMaxParameterSetBytes)
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "parameter sets must be 1.." +
                                                       std::to_string(kMaxParameterSetBytes) + " bytes (got " +
                                                       std::to_string(size) + ")");
    if (!starts_with_start_code(data, size))
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "parameter sets must be Annex-B NAL units with start codes");
    std::string sets(reinterpret_cast<const char *>(data), size);
    store_parameter_sets(codec, std::move(sets));
}

void PacketRingWriter::store_parameter_sets(cuframes_codec codec, std::string sets) noexcept {
    // Most keyframes repeat the same sets: rewrite only on a change.
    if (sets == parameter_sets_ || sets.size() > kMaxParameterSetBytes) return;
    parameter_sets_.swap(sets);  // no allocation: cannot throw
    uint64_t version = header_->parameter_sets_version.load(std::memory_order_relaxed);
    header_->parameter_sets_version.store(version + 1, std::memory_order_relaxed);  // odd: being written
    std::atomic_thread_fence(std::memory_order_seq_cst);
    std::memcpy(header_->parameter_sets, parameter_sets_.data(), parameter_sets_.size());
    header_->parameter_sets_size.store(static_cast<uint32_t>(parameter_sets_.size()), std::memory_order_relaxed);
    header_->parameter_sets_codec.store(codec, std::memory_order_relaxed);
    header_->parameter_sets_version.store(version + 2, std::memory_order_release);
}

int PacketRingWriter::wake() noexcept { return futex_wake_all(&header_->wake_word); }

void PacketRingWriter::close() noexcept {
    header_->state.store(static_cast<uint32_t>(StreamState::Closed), std::memory_order_release);
    header_->wake_word.fetch_add(1, std::memory_order_release);
    wake();
}

// ---------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------

PacketRingReader::PacketRingReader(UniqueFd fd, uint64_t region_bytes, uint64_t epoch, const std::string &peer)
    : fd_(std::move(fd)), peer_(peer) {
    if (region_bytes < packet_region_bytes(kMinPacketRingBytes) ||
        region_bytes > packet_region_bytes(kMaxPacketRingBytes))
        throw Error(CUFRAMES_ERR_PROTOCOL,
                    peer + " announced a packet ring of " + std::to_string(region_bytes) + " bytes");
    uint64_t actual = check_sealed_region(fd_.get(), region_bytes, "packet ring", true);
    if (actual != region_bytes)
        throw Error(CUFRAMES_ERR_PROTOCOL, peer + " sent a packet ring of " + std::to_string(actual) +
                                               " bytes, announced " + std::to_string(region_bytes));
    map_ = MemoryMap(fd_.get(), region_bytes, false, "the packet ring");
    header_ = static_cast<const PacketRingHeader *>(map_.data());
    // Each field copied once, then checked: a producer rewriting the header
    // meanwhile cannot make us act on a value we did not check.
    uint64_t magic = header_->magic;
    uint32_t version = header_->version;
    uint32_t index_count = header_->index_count;
    uint64_t data_bytes = header_->data_bytes;
    uint64_t data_offset = header_->data_offset;
    uint64_t region = header_->region_bytes;
    uint64_t ring_epoch = header_->epoch;
    if (magic != kPacketRingMagic)
        throw Error(CUFRAMES_ERR_PROTOCOL, peer + " sent a packet ring with a bad magic number");
    if (version != kProtocolVersion)
        throw Error(CUFRAMES_ERR_VERSION_MISMATCH, peer + "'s packet ring is version " + std::to_string(version));
    if (index_count != kPacketIndexCount || data_offset != packet_data_offset(kPacketIndexCount) ||
        data_bytes < kMinPacketRingBytes || data_bytes > kMaxPacketRingBytes || region != region_bytes ||
        data_offset + data_bytes != region_bytes)
        throw Error(CUFRAMES_ERR_PROTOCOL, peer + "'s packet ring has an inconsistent geometry");
    if (ring_epoch != epoch)
        throw Error(CUFRAMES_ERR_PROTOCOL, peer + "'s packet ring belongs to another producer instance");
    data_bytes_ = data_bytes;
    records_ =
        reinterpret_cast<const PacketRecord *>(static_cast<const uint8_t *>(map_.data()) + packet_index_offset());
    data_ = static_cast<const uint8_t *>(map_.data()) + data_offset;
}

PacketRingReader::Read PacketRingReader::read(uint64_t seq, PacketRecordCopy &out) const {
    const PacketRecord &record = records_[seq % kPacketIndexCount];
    // latest_seq first: the producer stores a record before the latest_seq
    // that names it, so once we have seen latest >= seq, the entry holds seq
    // or something newer. Read the other way round, a record completed between
    // the two loads would look overwritten (or, after the index wrapped, like
    // a skipped one) to a reader that has simply caught up.
    uint64_t latest = header_->latest_seq.load(std::memory_order_acquire);
    uint64_t before = record.seq.load(std::memory_order_acquire);
    if (before != seq) {
        if (seq > latest) return Read::NotYet;
        // Complete before latest_seq named it, so an older one in its entry
        // means the producer skipped it: not something to wait for.
        if (before != 0 && before < seq)
            throw Error(CUFRAMES_ERR_PROTOCOL, peer_ + " announced packet " + std::to_string(seq) +
                                                   " but its index entry holds packet " + std::to_string(before));
        return Read::Overwritten;
    }
    uint64_t offset = record.offset.load(std::memory_order_relaxed);
    uint32_t size = record.size.load(std::memory_order_relaxed);
    uint32_t flags = record.flags.load(std::memory_order_relaxed);
    uint32_t codec = record.codec.load(std::memory_order_relaxed);
    out.pts = record.pts.load(std::memory_order_relaxed);
    out.dts = record.dts.load(std::memory_order_relaxed);
    out.timestamp_ns = record.timestamp_ns.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (record.seq.load(std::memory_order_relaxed) != seq) return Read::Overwritten;  // fields changed under us
    // The fields are consistent; whether they are sane is another matter.
    if (size == 0 || size > data_bytes_ / 2)
        throw Error(CUFRAMES_ERR_PROTOCOL, peer_ + "'s packet " + std::to_string(seq) + " claims " +
                                               std::to_string(size) + " bytes in a ring of " +
                                               std::to_string(data_bytes_));
    if ((flags & ~kKnownPacketFlags) != 0 || !is_known_codec(codec))
        throw Error(CUFRAMES_ERR_PROTOCOL, peer_ + "'s packet " + std::to_string(seq) + " has unknown flags or codec");
    out.data.resize(size);
    copy_from_ring(data_, data_bytes_, offset, out.data.data(), size);
    std::atomic_thread_fence(std::memory_order_acquire);
    uint64_t after = record.seq.load(std::memory_order_relaxed);
    uint64_t end = header_->write_end.load(std::memory_order_relaxed);
    if (after != seq) return Read::Overwritten;
    if (offset > end || end - offset < size)
        throw Error(CUFRAMES_ERR_PROTOCOL,
                    peer_ + "'s packet " + std::to_string(seq) + " lies beyond the ring's write position");
    if (end - offset > data_bytes_) return Read::Overwritten;  // its bytes were reused while we copied
    out.seq = seq;
    out.flags = flags;
    out.codec = static_cast<cuframes_codec>(codec);
    return Read::Ok;
}

PacketRingReader::Read PacketRingReader::peek_keyframe(uint64_t seq, bool &keyframe) const noexcept {
    const PacketRecord &record = records_[seq % kPacketIndexCount];
    uint64_t latest = header_->latest_seq.load(std::memory_order_acquire);  // first: see read()
    if (record.seq.load(std::memory_order_acquire) != seq) return seq > latest ? Read::NotYet : Read::Overwritten;
    uint32_t flags = record.flags.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (record.seq.load(std::memory_order_relaxed) != seq) return Read::Overwritten;
    keyframe = (flags & kPacketFlagKeyframe) != 0;
    return Read::Ok;
}

std::string PacketRingReader::parameter_sets(cuframes_codec &codec) const {
    for (int attempt = 0; attempt < 8; ++attempt) {
        uint64_t version = header_->parameter_sets_version.load(std::memory_order_acquire);
        if (version == 0) return {};
        if (version & 1) continue;  // being rewritten
        uint32_t size = header_->parameter_sets_size.load(std::memory_order_relaxed);
        uint32_t set_codec = header_->parameter_sets_codec.load(std::memory_order_relaxed);
        if (size == 0 || size > kMaxParameterSetBytes || !is_known_codec(set_codec)) {
            std::atomic_thread_fence(std::memory_order_acquire);
            if (header_->parameter_sets_version.load(std::memory_order_relaxed) != version) continue;
            throw Error(CUFRAMES_ERR_PROTOCOL, peer_ + "'s packet ring holds malformed parameter sets");
        }
        std::string sets(reinterpret_cast<const char *>(header_->parameter_sets), size);
        std::atomic_thread_fence(std::memory_order_acquire);
        if (header_->parameter_sets_version.load(std::memory_order_relaxed) != version) continue;
        codec = static_cast<cuframes_codec>(set_codec);
        return sets;
    }
    return {};
}

}  // namespace cuframes
