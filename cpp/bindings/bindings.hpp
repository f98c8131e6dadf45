// Shared declarations of the pybind11 shell around the C++ core. The bindings
// hold no logic of their own: they convert arguments, release the GIL around
// calls that can block and keep the memory behind exported views alive.
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cuframes/error.hpp"
#include "cuframes/format.hpp"
#include "cuframes/types.hpp"

namespace cuframes_py {

namespace py = pybind11;

void register_errors(py::module_ &m);
void register_formats(py::module_ &m);
void register_plane_view(py::module_ &m);
void register_publisher(py::module_ &m);
void register_subscriber(py::module_ &m);
void register_packets(py::module_ &m);
void register_observe(py::module_ &m);
void register_defaults(py::module_ &m);
void register_annexb(py::module_ &m);

[[noreturn]] inline void throw_status(cuframes::Status status, const std::string &message) {
    throw cuframes::Error(status, message);
}

// Python int -> uint32 for sizes and counts. Out-of-range values (negative,
// larger than 32 bits) become INVALID_ARGUMENT instead of pybind's TypeError,
// so that "width=-1" and "width=2**40" fail like "width=0" does.
uint32_t to_u32(const py::int_ &value, const char *what);
// Stream facts as a flat tuple of ten ints (facts.cpp says which), both ways.
py::tuple facts_tuple(const cuframes::StreamFacts &facts);
cuframes::StreamFacts facts_from_tuple(const py::tuple &facts);
uint64_t to_u64(const py::int_ &value, const char *what);

// The bytes of any object with the buffer protocol (bytes, memoryview, a
// contiguous numpy array...), held for as long as this lives. Anything else,
// or a non-contiguous buffer, is INVALID_ARGUMENT naming `what`.
class ContiguousBytes {
public:
    ContiguousBytes(const py::object &source, const char *what);
    ~ContiguousBytes() { PyBuffer_Release(&view_); }
    ContiguousBytes(const ContiguousBytes &) = delete;
    ContiguousBytes &operator=(const ContiguousBytes &) = delete;
    const void *data() const noexcept { return view_.buf; }
    uint64_t size() const noexcept { return static_cast<uint64_t>(view_.len); }

private:
    Py_buffer view_{};
};
// Seconds (float or None) -> milliseconds for the core: None is -1 (forever).
int to_timeout_ms(const py::object &seconds, const char *what);

// One plane as described by the layout (no memory behind it).
struct PlaneInfo {
    std::string name;
    uint64_t offset = 0;
    uint32_t pitch = 0;
    uint32_t width = 0;
    uint32_t height = 0;
    uint32_t channels = 0;
    uint32_t itemsize = 0;
    uint32_t row_bytes = 0;
};

std::vector<PlaneInfo> plane_infos(const cuframes::FrameLayout &layout);

// Liveness of a publisher's acquired slot: cleared at publish/abort/close so
// that exporting a view after that fails instead of handing out a slot that
// subscribers may be reading.
using SlotToken = std::shared_ptr<std::atomic<bool>>;

// A strided view of plane memory (or of a whole NV12/P010 frame). `owner`
// keeps the mapping alive: a FrameLease for subscribers, the publisher state
// for producers. It is a C++ object only, so DLPack deleters may drop it from
// any thread without the GIL.
struct PlaneView {
    std::shared_ptr<void> owner;
    SlotToken token;  // null: valid as long as owner lives
    std::string name;
    uint64_t ptr = 0;
    std::vector<int64_t> shape;
    std::vector<int64_t> strides;  // bytes
    uint32_t itemsize = 1;
    bool readonly = true;
    bool is_cuda = false;
    int device_id = 0;

    void check_valid() const;
};

// Views of every plane of a frame whose slot starts at `base`.
std::vector<PlaneView> make_plane_views(const cuframes::FrameLayout &layout, uint64_t base, std::shared_ptr<void> owner,
                                        SlotToken token, bool readonly, cuframes::Backend backend, int device);
// The whole frame as one array: plane 0 for one-plane formats, (h*3/2, w) for
// NV12/P010 whose UV plane follows Y with the same pitch. FORMAT otherwise.
PlaneView make_frame_view(const cuframes::FrameLayout &layout, uint64_t base, std::shared_ptr<void> owner,
                          SlotToken token, bool readonly, cuframes::Backend backend, int device);

}  // namespace cuframes_py
