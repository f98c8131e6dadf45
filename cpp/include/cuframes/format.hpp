// Pixel formats and how their planes are laid out inside a slot.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "cuframes/cuframes.h"

namespace cuframes {

using PixelFormat = cuframes_format;
using Plane = cuframes_plane;

// Largest width or height accepted (covers 8K with room to spare).
constexpr uint32_t kMaxDimension = 16384;

struct FrameLayout {
    PixelFormat format{};
    uint32_t width = 0;
    uint32_t height = 0;
    uint32_t plane_count = 0;
    std::array<Plane, CUFRAMES_MAX_PLANES> planes{};
    uint64_t bytes = 0;         // end of the last plane (before rounding to the allocation granularity)
    uint64_t packed_bytes = 0;  // the same frame with no row padding (what read_into writes)
};

// Lower-case name, e.g. "nv12". Throws FORMAT for an unknown value.
CUFRAMES_API const char *format_name(PixelFormat format);
// Parses a name (case-insensitive). Throws FORMAT naming the bad value and the known ones.
CUFRAMES_API PixelFormat parse_format(const std::string &name);
CUFRAMES_API bool is_known_format(uint32_t value);
// Bytes per sample of one plane channel: 2 for P010, else 1.
CUFRAMES_API uint32_t bytes_per_channel(PixelFormat format);
// Channels per sample in plane `plane` (e.g. NV12's UV plane has 2).
CUFRAMES_API uint32_t channels_in_plane(PixelFormat format, uint32_t plane);
// Short plane names: "y","uv" / "y","u","v" / "rgb","bgr","rgba","bgra","gray".
CUFRAMES_API const char *plane_name(PixelFormat format, uint32_t plane);

// Computes the layout; pitches aligned to CUFRAMES_PITCH_ALIGN. Throws
// INVALID_ARGUMENT for zero, negative-looking or huge sizes, and for odd sizes
// where the format subsamples chroma.
CUFRAMES_API FrameLayout compute_layout(PixelFormat format, uint32_t width, uint32_t height);

}  // namespace cuframes
