// Annex-B byte streams (H.264 and H.265 with start codes): just enough
// parsing to find the parameter sets (VPS/SPS/PPS) in an access unit, so
// that the producer can keep the latest ones and a subscriber that joins
// mid-stream can be given them in front of its first keyframe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "cuframes/cuframes.h"

namespace cuframes {

// True when data starts with a start code (00 00 01 or 00 00 00 01).
bool starts_with_start_code(const uint8_t *data, size_t size) noexcept;

// The parameter-set NAL units of the access unit, each with a 4-byte start
// code, in stream order; "" when it has none.
std::string extract_parameter_sets(cuframes_codec codec, const uint8_t *data, size_t size);

// True when the access unit carries what a decoder needs to start at it:
// an SPS (H.264) or a VPS and an SPS (H.265).
bool carries_parameter_sets(cuframes_codec codec, const uint8_t *data, size_t size) noexcept;

}  // namespace cuframes
