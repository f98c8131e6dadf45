// Small value types shared by the publisher and subscriber APIs.
#pragma once

#include <cstdint>
#include <string>

#include "cuframes/cuframes.h"
#include "cuframes/format.hpp"

namespace cuframes {

enum class Backend : uint32_t {
    Auto = CUFRAMES_BACKEND_AUTO,
    Host = CUFRAMES_BACKEND_HOST,
    Cuda = CUFRAMES_BACKEND_CUDA,
};

CUFRAMES_API const char *backend_name(Backend backend);
// "auto", "host" or "cuda" (case-insensitive); throws INVALID_ARGUMENT otherwise.
CUFRAMES_API Backend parse_backend(const std::string &name);

// Which frame a subscriber that fell behind gets next (cuframes_delivery).
enum class Delivery : uint32_t {
    Latest = CUFRAMES_DELIVERY_LATEST,          // the newest; older unread frames count as missed
    Sequential = CUFRAMES_DELIVERY_SEQUENTIAL,  // the oldest unread frame still in the pool
};
CUFRAMES_API const char *delivery_name(Delivery delivery);
// "latest" or "sequential" (case-insensitive); throws INVALID_ARGUMENT otherwise.
CUFRAMES_API Delivery parse_delivery(const std::string &name);

// Where the other side of a copy lives. Unknown lets the CUDA driver tell from
// the address (unified addressing): the C ABI uses it, since a void* does not
// say. On the host backend only Host and Unknown are valid.
enum class MemoryKind : uint32_t { Host = 0, Device = 1, Unknown = 2 };

// A CUstream passed as an integer so that this header needs no cuda.h.
// 0 is the legacy default stream. Ignored on the host backend.
using StreamHandle = uint64_t;

// Protocol version spoken on the socket and written in the shared header.
// 2: stream-ordered publishing (ready_seq). 3: roles in the hello (frames,
// packets, observe), the packet ring, subscriber latency in the lease page.
// 4: stream facts (StreamFacts) in the stream description and the packet welcome.
// 5: flags in the hello (notify). 6: the welcome's joined_seq, where a sequential
// subscriber starts.
constexpr uint32_t kProtocolVersion = 6;

// How to read a stream's timestamps and colours (cuframes_stream_facts):
// frames' and packets' pts and dts count time_base units. A rational with num
// 0 is unknown (a frame rate: variable or unknown). Colours are ITU-T H.273
// code points (2: unspecified); the range is cuframes_color_range. This very
// struct travels in the shared layout (shm_layout.hpp pins it): 32 bytes.
struct StreamFacts {
    cuframes_rational time_base{0, 0};
    cuframes_rational frame_rate{0, 0};
    cuframes_rational sample_aspect_ratio{0, 0};
    uint8_t color_matrix = CUFRAMES_COLOR_UNSPECIFIED;
    uint8_t color_range = CUFRAMES_COLOR_RANGE_UNSPECIFIED;
    uint8_t color_primaries = CUFRAMES_COLOR_UNSPECIFIED;
    uint8_t color_transfer = CUFRAMES_COLOR_UNSPECIFIED;
    uint8_t reserved[4] = {};  // zero
};
// The largest H.273 code point each colour fact may take (the range: FULL).
constexpr uint32_t kMaxColorMatrix = 17;
constexpr uint32_t kMaxColorPrimaries = 22;
constexpr uint32_t kMaxColorTransfer = 18;
// What is wrong with `facts` ("" when nothing): a rational with num != 0 and
// den == 0 or a negative term, a code point out of range, reserved bytes set.
CUFRAMES_API std::string stream_facts_problem(const StreamFacts &facts);

// 1 when the cuda backend is usable here: libcuda loads, cuInit succeeds and a
// device is visible. Never throws.
CUFRAMES_API bool cuda_available() noexcept;
// Why cuda_available() is false ("" when it is true).
CUFRAMES_API std::string cuda_unavailable_reason();

// The folder used when none is given: $CUFRAMES_DIR, else /tmp/cuframes, the same
// for every user (created mode 1777, sticky, like /tmp; see docs/reliability.md).
CUFRAMES_API std::string default_dir();
// Throws INVALID_ARGUMENT naming what is wrong with the key.
CUFRAMES_API void validate_key(const std::string &key);

}  // namespace cuframes
