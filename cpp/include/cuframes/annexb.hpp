// Annex-B byte streams (H.264 and H.265 access units with start codes): the
// NAL units of a buffer and what they are. The producer keeps the latest
// parameter sets (VPS/SPS/PPS) it finds, so that a subscriber joining
// mid-stream gets them in front of its first keyframe; programs that mux or
// decode packets ask the same questions (the Python package's
// cuframes.sources.annexb wraps these functions).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cuframes/cuframes.h"

namespace cuframes {

// Where one NAL unit lies in a buffer: bytes [offset, offset + size).
struct NalUnit {
    size_t offset = 0;
    size_t size = 0;
};

// True when data starts with a start code (00 00 01 or 00 00 00 01).
CUFRAMES_API bool starts_with_start_code(const uint8_t *data, size_t size) noexcept;

// The NAL units of an Annex-B buffer, in stream order. Each starts after a
// 00 00 01 start code; the leading zero of a 4-byte start code and any zero
// bytes after a unit (trailing_zero_8bits) belong to none, nor do the bytes
// before the first start code. Empty units are left out. A unit is given as
// it lies in the stream: emulation-prevention bytes (00 00 03) stay in it.
CUFRAMES_API std::vector<NalUnit> find_nal_units(const uint8_t *data, size_t size);

// nal_unit_type from a NAL unit's first byte: its low 5 bits (H.264), bits
// 1..6 (H.265).
CUFRAMES_API uint8_t nal_unit_type(cuframes_codec codec, uint8_t first_byte) noexcept;
// The type of each NAL unit of the buffer (find_nal_units), in order.
CUFRAMES_API std::vector<uint8_t> nal_unit_types(cuframes_codec codec, const uint8_t *data, size_t size);

// A parameter set: H.264 SPS (7), PPS (8); H.265 VPS (32), SPS (33), PPS (34).
CUFRAMES_API bool is_parameter_set_type(cuframes_codec codec, uint8_t type) noexcept;
// A picture a decoder can start at: H.264 IDR (5); H.265 IRAP (16..21).
CUFRAMES_API bool is_random_access_type(cuframes_codec codec, uint8_t type) noexcept;

// The parameter-set NAL units of the access unit, each with a 4-byte start
// code, in stream order; "" when it has none.
CUFRAMES_API std::string extract_parameter_sets(cuframes_codec codec, const uint8_t *data, size_t size);

// True when the access unit carries what a decoder needs to start at it:
// an SPS (H.264) or a VPS and an SPS (H.265).
CUFRAMES_API bool carries_parameter_sets(cuframes_codec codec, const uint8_t *data, size_t size) noexcept;

}  // namespace cuframes
