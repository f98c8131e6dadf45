// Annex-B scanning (cuframes/annexb.hpp) for cuframes.sources.annexb, which
// gives it its Python shape. Codecs by name ("h264", "hevc"), data as any
// contiguous buffer.
#include "bindings.hpp"

#include "cuframes/annexb.hpp"
#include "cuframes/packets.hpp"

namespace cuframes_py {

namespace {

const uint8_t *bytes_of(const ContiguousBytes &bytes) { return static_cast<const uint8_t *>(bytes.data()); }

}  // namespace

void register_annexb(py::module_ &m) {
    m.def(
        "annexb_starts_with_start_code",
        [](const py::object &data) {
            ContiguousBytes bytes(data, "Annex-B data");
            return cuframes::starts_with_start_code(bytes_of(bytes), bytes.size());
        },
        py::arg("data"), "True when data starts with a start code (00 00 01 or 00 00 00 01).");
    m.def(
        "annexb_nal_units",
        [](const py::object &data) {
            ContiguousBytes bytes(data, "Annex-B data");
            py::list units;
            for (const cuframes::NalUnit &unit : cuframes::find_nal_units(bytes_of(bytes), bytes.size()))
                units.append(py::make_tuple(unit.offset, unit.size));
            return units;
        },
        py::arg("data"),
        "(offset, size) of each NAL unit of an Annex-B buffer, start codes and trailing zeros left out.");
    m.def(
        "annexb_nal_unit_types",
        [](const std::string &codec, const py::object &data) {
            cuframes_codec parsed = cuframes::parse_codec(codec);
            ContiguousBytes bytes(data, "Annex-B data");
            return cuframes::nal_unit_types(parsed, bytes_of(bytes), bytes.size());
        },
        py::arg("codec"), py::arg("data"), "The nal_unit_type of each NAL unit of an Annex-B buffer, in order.");
    m.def(
        "annexb_is_parameter_set_type",
        [](const std::string &codec, uint8_t type) {
            return cuframes::is_parameter_set_type(cuframes::parse_codec(codec), type);
        },
        py::arg("codec"), py::arg("type"), "True for a VPS/SPS/PPS nal_unit_type of the codec.");
    m.def(
        "annexb_is_random_access_type",
        [](const std::string &codec, uint8_t type) {
            return cuframes::is_random_access_type(cuframes::parse_codec(codec), type);
        },
        py::arg("codec"), py::arg("type"),
        "True for the nal_unit_type of a picture a decoder can start at (IDR, IRAP).");
    m.def(
        "annexb_parameter_sets",
        [](const std::string &codec, const py::object &data) {
            cuframes_codec parsed = cuframes::parse_codec(codec);
            ContiguousBytes bytes(data, "Annex-B data");
            return py::bytes(cuframes::extract_parameter_sets(parsed, bytes_of(bytes), bytes.size()));
        },
        py::arg("codec"), py::arg("data"),
        "The parameter-set NAL units of an access unit, each after a 4-byte start code (b'' when none).");
}

}  // namespace cuframes_py
