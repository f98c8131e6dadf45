#include "cuframes/annexb.hpp"

namespace cuframes {
namespace {

constexpr uint8_t kH264Idr = 5, kH264Sps = 7, kH264Pps = 8;
constexpr uint8_t kHevcFirstIrap = 16, kHevcLastIrap = 21;
constexpr uint8_t kHevcVps = 32, kHevcSps = 33, kHevcPps = 34;

// Calls visit(offset, size) for each NAL unit, as find_nal_units() says.
// Allocates nothing, so that carries_parameter_sets() stays noexcept.
template <typename Visit>
void for_each_nal(const uint8_t *data, size_t size, Visit visit) {
    // A unit ends at the next start code or the buffer's end; the zeros
    // before either (a 4-byte start code's leading zero, trailing zeros)
    // belong to no NAL.
    auto emit = [&](size_t start, size_t end) {
        while (end > start && data[end - 1] == 0) --end;
        if (end > start) visit(start, end - start);
    };
    size_t i = 0;
    size_t start = SIZE_MAX;  // first byte of the current NAL unit
    while (i + 3 <= size) {
        if (data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1) {
            if (start != SIZE_MAX) emit(start, i);
            i += 3;
            start = i;
            continue;
        }
        ++i;
    }
    if (start != SIZE_MAX) emit(start, size);
}

}  // namespace

bool starts_with_start_code(const uint8_t *data, size_t size) noexcept {
    if (size >= 3 && data[0] == 0 && data[1] == 0 && data[2] == 1) return true;
    return size >= 4 && data[0] == 0 && data[1] == 0 && data[2] == 0 && data[3] == 1;
}

std::vector<NalUnit> find_nal_units(const uint8_t *data, size_t size) {
    std::vector<NalUnit> units;
    for_each_nal(data, size, [&](size_t offset, size_t unit_size) { units.push_back({offset, unit_size}); });
    return units;
}

uint8_t nal_unit_type(cuframes_codec codec, uint8_t first_byte) noexcept {
    return codec == CUFRAMES_CODEC_HEVC ? static_cast<uint8_t>((first_byte >> 1) & 0x3f)
                                        : static_cast<uint8_t>(first_byte & 0x1f);
}

std::vector<uint8_t> nal_unit_types(cuframes_codec codec, const uint8_t *data, size_t size) {
    std::vector<uint8_t> types;
    for_each_nal(data, size, [&](size_t offset, size_t) { types.push_back(nal_unit_type(codec, data[offset])); });
    return types;
}

bool is_parameter_set_type(cuframes_codec codec, uint8_t type) noexcept {
    if (codec == CUFRAMES_CODEC_HEVC) return type == kHevcVps || type == kHevcSps || type == kHevcPps;
    return type == kH264Sps || type == kH264Pps;
}

bool is_random_access_type(cuframes_codec codec, uint8_t type) noexcept {
    if (codec == CUFRAMES_CODEC_HEVC) return type >= kHevcFirstIrap && type <= kHevcLastIrap;
    return type == kH264Idr;
}

std::string extract_parameter_sets(cuframes_codec codec, const uint8_t *data, size_t size) {
    std::string sets;
    for_each_nal(data, size, [&](size_t offset, size_t nal_size) {
        if (!is_parameter_set_type(codec, nal_unit_type(codec, data[offset]))) return;
        sets.append("\0\0\0\1", 4);
        sets.append(reinterpret_cast<const char *>(data + offset), nal_size);
    });
    return sets;
}

bool carries_parameter_sets(cuframes_codec codec, const uint8_t *data, size_t size) noexcept {
    bool vps = false, sps = false;
    for_each_nal(data, size, [&](size_t offset, size_t) {
        uint8_t type = nal_unit_type(codec, data[offset]);
        if (codec == CUFRAMES_CODEC_HEVC) {
            vps = vps || type == kHevcVps;
            sps = sps || type == kHevcSps;
        } else {
            sps = sps || type == kH264Sps;
        }
    });
    return codec == CUFRAMES_CODEC_HEVC ? (vps && sps) : sps;
}

}  // namespace cuframes
