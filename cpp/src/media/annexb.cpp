#include "media/annexb.hpp"

namespace cuframes {
namespace {

// H.264: nal_unit_type is the low 5 bits of the first byte.
constexpr uint8_t kH264Sps = 7, kH264Pps = 8;
// H.265: nal_unit_type is bits 1..6 of the first byte.
constexpr uint8_t kHevcVps = 32, kHevcSps = 33, kHevcPps = 34;

uint8_t nal_type(cuframes_codec codec, uint8_t first_byte) noexcept {
    return codec == CUFRAMES_CODEC_HEVC ? static_cast<uint8_t>((first_byte >> 1) & 0x3f)
                                        : static_cast<uint8_t>(first_byte & 0x1f);
}

bool is_parameter_set(cuframes_codec codec, uint8_t type) noexcept {
    if (codec == CUFRAMES_CODEC_HEVC) return type == kHevcVps || type == kHevcSps || type == kHevcPps;
    return type == kH264Sps || type == kH264Pps;
}

// Calls visit(nal, nal_size) for each NAL unit (without its start code).
template <typename Visit>
void for_each_nal(const uint8_t *data, size_t size, Visit visit) {
    size_t i = 0;
    size_t start = SIZE_MAX;  // first byte of the current NAL unit
    while (i + 3 <= size) {
        if (data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1) {
            if (start != SIZE_MAX) {
                size_t end = i;
                // A 4-byte start code's leading zero (and trailing zeros) belong to no NAL.
                while (end > start && data[end - 1] == 0) --end;
                if (end > start) visit(data + start, end - start);
            }
            i += 3;
            start = i;
            continue;
        }
        ++i;
    }
    if (start != SIZE_MAX && start < size) visit(data + start, size - start);
}

}  // namespace

bool starts_with_start_code(const uint8_t *data, size_t size) noexcept {
    if (size >= 3 && data[0] == 0 && data[1] == 0 && data[2] == 1) return true;
    return size >= 4 && data[0] == 0 && data[1] == 0 && data[2] == 0 && data[3] == 1;
}

std::string extract_parameter_sets(cuframes_codec codec, const uint8_t *data, size_t size) {
    std::string sets;
    for_each_nal(data, size, [&](const uint8_t *nal, size_t nal_size) {
        if (!is_parameter_set(codec, nal_type(codec, nal[0]))) return;
        sets.append("\0\0\0\1", 4);
        sets.append(reinterpret_cast<const char *>(nal), nal_size);
    });
    return sets;
}

bool carries_parameter_sets(cuframes_codec codec, const uint8_t *data, size_t size) noexcept {
    bool vps = false, sps = false;
    for_each_nal(data, size, [&](const uint8_t *nal, size_t) {
        uint8_t type = nal_type(codec, nal[0]);
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
