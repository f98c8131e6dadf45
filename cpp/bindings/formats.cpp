// Pixel formats and plane layouts as seen from Python.
#include "bindings.hpp"

namespace cuframes_py {

std::vector<PlaneInfo> plane_infos(const cuframes::FrameLayout &layout) {
    std::vector<PlaneInfo> out;
    out.reserve(layout.plane_count);
    for (uint32_t i = 0; i < layout.plane_count; ++i) {
        const cuframes::Plane &p = layout.planes[i];
        PlaneInfo info;
        info.name = cuframes::plane_name(layout.format, i);
        info.offset = p.offset;
        info.pitch = p.pitch;
        info.width = p.width;
        info.height = p.height;
        info.channels = cuframes::channels_in_plane(layout.format, i);
        info.itemsize = cuframes::bytes_per_channel(layout.format);
        info.row_bytes = p.row_bytes;
        out.push_back(std::move(info));
    }
    return out;
}

void register_formats(py::module_ &m) {
    py::class_<PlaneInfo>(m, "PlaneInfo", "Where one plane lies inside a slot.")
        .def_readonly("name", &PlaneInfo::name)
        .def_readonly("offset", &PlaneInfo::offset, "Bytes from the start of the slot.")
        .def_readonly("pitch", &PlaneInfo::pitch, "Bytes between rows.")
        .def_readonly("width", &PlaneInfo::width, "Samples per row.")
        .def_readonly("height", &PlaneInfo::height, "Rows.")
        .def_readonly("channels", &PlaneInfo::channels, "Channels per sample.")
        .def_readonly("itemsize", &PlaneInfo::itemsize, "Bytes per channel.")
        .def_readonly("row_bytes", &PlaneInfo::row_bytes, "Meaningful bytes per row (<= pitch).")
        .def("__repr__", [](const PlaneInfo &p) {
            return "<PlaneInfo " + p.name + " " + std::to_string(p.width) + "x" + std::to_string(p.height) + "x" +
                   std::to_string(p.channels) + " itemsize=" + std::to_string(p.itemsize) +
                   " offset=" + std::to_string(p.offset) + " pitch=" + std::to_string(p.pitch) + ">";
        });

    py::list formats;
#define CUFRAMES_PY_FORMAT(id, value, name, description) formats.append(name);
    CUFRAMES_FORMAT_LIST(CUFRAMES_PY_FORMAT)
#undef CUFRAMES_PY_FORMAT
    m.attr("FORMATS") = formats;

    m.def(
        "layout",
        [](const std::string &format, const py::int_ &width, const py::int_ &height) {
            const auto parsed = cuframes::parse_format(format);
            return plane_infos(cuframes::compute_layout(parsed, to_u32(width, "width"), to_u32(height, "height")));
        },
        py::arg("format"), py::arg("width"), py::arg("height"), "The planes of one frame of this format and size.");
    m.def(
        "packed_size",
        [](const std::string &format, const py::int_ &width, const py::int_ &height) {
            const auto parsed = cuframes::parse_format(format);
            return cuframes::compute_layout(parsed, to_u32(width, "width"), to_u32(height, "height")).packed_bytes;
        },
        py::arg("format"), py::arg("width"), py::arg("height"),
        "Bytes of one frame with its planes back to back and no row padding.");
}

}  // namespace cuframes_py
