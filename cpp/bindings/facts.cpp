// Stream facts to and from Python as a flat tuple of ten ints:
// (time_base num, den, frame_rate num, den, sample_aspect_ratio num, den,
//  color_matrix, color_range, color_primaries, color_transfer).
// cuframes.stream_facts shapes them into Fractions and names.
#include "bindings.hpp"

namespace cuframes_py {

namespace {

constexpr size_t kFactsTupleSize = 10;

int64_t to_int_in(const py::handle &value, int64_t lowest, int64_t highest, const char *what) {
    int64_t v = 0;
    try {
        v = py::cast<int64_t>(value);
    } catch (const py::cast_error &) {
        throw_status(CUFRAMES_ERR_INVALID_ARGUMENT,
                     std::string("stream facts: ") + what + " must be an int, got " + std::string(py::repr(value)));
    }
    if (v < lowest || v > highest)
        throw_status(CUFRAMES_ERR_INVALID_ARGUMENT, std::string("stream facts: ") + what + " " + std::to_string(v) +
                                                        " is out of range (" + std::to_string(lowest) + ".." +
                                                        std::to_string(highest) + ")");
    return v;
}

cuframes_rational to_rational(const py::tuple &t, size_t at, const char *what) {
    return cuframes_rational{static_cast<int32_t>(to_int_in(t[at], INT32_MIN, INT32_MAX, what)),
                             static_cast<int32_t>(to_int_in(t[at + 1], INT32_MIN, INT32_MAX, what))};
}

uint8_t to_code_point(const py::tuple &t, size_t at, const char *what) {
    return static_cast<uint8_t>(to_int_in(t[at], 0, UINT8_MAX, what));
}

}  // namespace

py::tuple facts_tuple(const cuframes::StreamFacts &f) {
    return py::make_tuple(f.time_base.num, f.time_base.den, f.frame_rate.num, f.frame_rate.den,
                          f.sample_aspect_ratio.num, f.sample_aspect_ratio.den, f.color_matrix, f.color_range,
                          f.color_primaries, f.color_transfer);
}

cuframes::StreamFacts facts_from_tuple(const py::tuple &t) {
    if (t.size() != kFactsTupleSize)
        throw_status(CUFRAMES_ERR_INVALID_ARGUMENT, "stream facts must be a tuple of " +
                                                        std::to_string(kFactsTupleSize) + " ints, got " +
                                                        std::to_string(t.size()));
    cuframes::StreamFacts f;
    f.time_base = to_rational(t, 0, "time_base");
    f.frame_rate = to_rational(t, 2, "frame_rate");
    f.sample_aspect_ratio = to_rational(t, 4, "sample_aspect_ratio");
    f.color_matrix = to_code_point(t, 6, "color_matrix");
    f.color_range = to_code_point(t, 7, "color_range");
    f.color_primaries = to_code_point(t, 8, "color_primaries");
    f.color_transfer = to_code_point(t, 9, "color_transfer");
    return f;  // the core checks the values
}

}  // namespace cuframes_py
