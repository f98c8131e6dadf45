#include "cuframes/format.hpp"

#include <algorithm>
#include <cctype>

#include "cuframes/error.hpp"

namespace cuframes {
namespace {

struct FormatTraits {
    PixelFormat format;
    const char *name;
    uint32_t plane_count;
    uint32_t bytes_per_channel;
    uint32_t channels[CUFRAMES_MAX_PLANES];
    const char *plane_names[CUFRAMES_MAX_PLANES];
    bool subsampled;  // chroma at half width and height: needs even sizes
};

constexpr FormatTraits kFormats[] = {
    {CUFRAMES_FORMAT_NV12, "nv12", 2, 1, {1, 2}, {"y", "uv"}, true},
    {CUFRAMES_FORMAT_P010, "p010", 2, 2, {1, 2}, {"y", "uv"}, true},
    {CUFRAMES_FORMAT_I420, "i420", 3, 1, {1, 1, 1}, {"y", "u", "v"}, true},
    {CUFRAMES_FORMAT_RGB24, "rgb24", 1, 1, {3}, {"rgb"}, false},
    {CUFRAMES_FORMAT_BGR24, "bgr24", 1, 1, {3}, {"bgr"}, false},
    {CUFRAMES_FORMAT_RGBA, "rgba", 1, 1, {4}, {"rgba"}, false},
    {CUFRAMES_FORMAT_BGRA, "bgra", 1, 1, {4}, {"bgra"}, false},
    {CUFRAMES_FORMAT_GRAY8, "gray8", 1, 1, {1}, {"gray"}, false},
};

const FormatTraits &traits(PixelFormat format) {
    for (const auto &entry : kFormats)
        if (entry.format == format) return entry;
    throw Error(CUFRAMES_ERR_FORMAT, "unknown pixel format value " + std::to_string(static_cast<int>(format)));
}

uint64_t align_up(uint64_t value, uint64_t alignment) { return (value + alignment - 1) / alignment * alignment; }

}  // namespace

bool is_known_format(uint32_t value) {
    return std::any_of(std::begin(kFormats), std::end(kFormats),
                       [value](const FormatTraits &entry) { return static_cast<uint32_t>(entry.format) == value; });
}

const char *format_name(PixelFormat format) { return traits(format).name; }

PixelFormat parse_format(const std::string &name) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string known;
    for (const auto &entry : kFormats) {
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
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, std::string(entry.name) + " has no plane " + std::to_string(plane));
    return entry.channels[plane];
}

const char *plane_name(PixelFormat format, uint32_t plane) {
    const FormatTraits &entry = traits(format);
    if (plane >= entry.plane_count)
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, std::string(entry.name) + " has no plane " + std::to_string(plane));
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
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, std::string(entry.name) + " needs an even width and height, got " +
                                                       std::to_string(width) + "x" + std::to_string(height));
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
