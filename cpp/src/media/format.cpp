#include "cuframes/format.hpp"

#include <algorithm>
#include <cctype>

#include "cuframes/error.hpp"

namespace cuframes {
namespace {

// What the public list (CUFRAMES_FORMAT_LIST, cuframes.h) says of each format.
struct ListedFormat {
    PixelFormat format;
    const char *name;
};

#define CUFRAMES_LISTED_FORMAT(id, value, name, description) {CUFRAMES_FORMAT_##id, name},
constexpr ListedFormat kListed[] = {CUFRAMES_FORMAT_LIST(CUFRAMES_LISTED_FORMAT)};
#undef CUFRAMES_LISTED_FORMAT

// Its planes, one entry per listed format in the list's order (checked below).
struct FormatTraits {
    PixelFormat format;
    uint32_t plane_count;
    uint32_t bytes_per_channel;
    uint32_t channels[CUFRAMES_MAX_PLANES];
    const char *plane_names[CUFRAMES_MAX_PLANES];
    bool subsampled;  // chroma at half width and height: needs even sizes
};

constexpr FormatTraits kFormats[] = {
    {CUFRAMES_FORMAT_NV12, 2, 1, {1, 2}, {"y", "uv"}, true},
    {CUFRAMES_FORMAT_P010, 2, 2, {1, 2}, {"y", "uv"}, true},
    {CUFRAMES_FORMAT_I420, 3, 1, {1, 1, 1}, {"y", "u", "v"}, true},
    {CUFRAMES_FORMAT_RGB24, 1, 1, {3}, {"rgb"}, false},
    {CUFRAMES_FORMAT_BGR24, 1, 1, {3}, {"bgr"}, false},
    {CUFRAMES_FORMAT_RGBA, 1, 1, {4}, {"rgba"}, false},
    {CUFRAMES_FORMAT_BGRA, 1, 1, {4}, {"bgra"}, false},
    {CUFRAMES_FORMAT_GRAY8, 1, 1, {1}, {"gray"}, false},
};

constexpr size_t kFormatCount = sizeof(kListed) / sizeof(kListed[0]);

constexpr bool planes_follow_the_list() {
    if (sizeof(kFormats) / sizeof(kFormats[0]) != kFormatCount) return false;
    for (size_t i = 0; i < kFormatCount; ++i)
        if (kFormats[i].format != kListed[i].format) return false;
    return true;
}
static_assert(planes_follow_the_list(),
              "kFormats needs one entry per format of CUFRAMES_FORMAT_LIST (cuframes.h), in the list's order");

size_t index_of(PixelFormat format) {
    for (size_t i = 0; i < kFormatCount; ++i)
        if (kListed[i].format == format) return i;
    throw Error(CUFRAMES_ERR_FORMAT, "unknown pixel format value " + std::to_string(static_cast<int>(format)));
}

const FormatTraits &traits(PixelFormat format) { return kFormats[index_of(format)]; }

uint64_t align_up(uint64_t value, uint64_t alignment) { return (value + alignment - 1) / alignment * alignment; }

}  // namespace

bool is_known_format(uint32_t value) {
    return std::any_of(std::begin(kListed), std::end(kListed),
                       [value](const ListedFormat &entry) { return static_cast<uint32_t>(entry.format) == value; });
}

const char *format_name(PixelFormat format) { return kListed[index_of(format)].name; }

PixelFormat parse_format(const std::string &name) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string known;
    for (const auto &entry : kListed) {
        if (lower == entry.name) return entry.format;
        known += known.empty() ? "" : ", ";
        known += entry.name;
    }
    throw Error(CUFRAMES_ERR_FORMAT, "unknown pixel format '" + name + "' (known: " + known + ")");
}

uint32_t bytes_per_channel(PixelFormat format) { return traits(format).bytes_per_channel; }

uint32_t channels_in_plane(PixelFormat format, uint32_t plane) {
    const FormatTraits &entry = traits(format);
    if (plane >= entry.plane_count)
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT,
                    std::string(format_name(format)) + " has no plane " + std::to_string(plane));
    return entry.channels[plane];
}

const char *plane_name(PixelFormat format, uint32_t plane) {
    const FormatTraits &entry = traits(format);
    if (plane >= entry.plane_count)
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT,
                    std::string(format_name(format)) + " has no plane " + std::to_string(plane));
    return entry.plane_names[plane];
}

FrameLayout compute_layout(PixelFormat format, uint32_t width, uint32_t height) {
    const FormatTraits &entry = traits(format);
    // Sizes arrive as uint32_t from C and Python; a negative int shows up as a huge value.
    if (width == 0 || height == 0 || width > kMaxDimension || height > kMaxDimension)
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "frame size " + std::to_string(width) + "x" +
                                                       std::to_string(height) + " is out of range (1.." +
                                                       std::to_string(kMaxDimension) + " each)");
    if (entry.subsampled && (width % 2 != 0 || height % 2 != 0))
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, std::string(format_name(format)) +
                                                       " needs an even width and height, got " + std::to_string(width) +
                                                       "x" + std::to_string(height));
    FrameLayout layout;
    layout.format = format;
    layout.width = width;
    layout.height = height;
    layout.plane_count = entry.plane_count;
    uint64_t offset = 0;
    for (uint32_t i = 0; i < entry.plane_count; ++i) {
        bool chroma = entry.subsampled && i > 0;
        Plane &plane = layout.planes[i];
        plane.width = chroma ? width / 2 : width;
        plane.height = chroma ? height / 2 : height;
        plane.row_bytes = plane.width * entry.channels[i] * entry.bytes_per_channel;
        plane.pitch = static_cast<uint32_t>(align_up(plane.row_bytes, CUFRAMES_PITCH_ALIGN));
        plane.offset = offset;
        offset += static_cast<uint64_t>(plane.pitch) * plane.height;
        layout.packed_bytes += static_cast<uint64_t>(plane.row_bytes) * plane.height;
    }
    layout.bytes = offset;
    return layout;
}

}  // namespace cuframes
