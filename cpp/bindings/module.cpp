// The cuframes._core extension module: registers each part of the shell.
#include "bindings.hpp"

#include "cuframes/cuframes.h"

namespace py = pybind11;

PYBIND11_MODULE(_core, m) {
    m.doc() = "Low-level bindings of the cuframes C++ core; use the `cuframes` package instead.";
    m.attr("__version__") = std::to_string(CUFRAMES_VERSION_MAJOR) + "." + std::to_string(CUFRAMES_VERSION_MINOR) +
                            "." + std::to_string(CUFRAMES_VERSION_PATCH);
    m.attr("PROTOCOL_VERSION") = cuframes::kProtocolVersion;
    m.attr("MAX_METADATA") = CUFRAMES_MAX_METADATA;
    m.attr("MAX_KEY") = CUFRAMES_MAX_KEY;
    m.attr("PITCH_ALIGN") = CUFRAMES_PITCH_ALIGN;
    m.attr("MAX_DIMENSION") = cuframes::kMaxDimension;

    cuframes_py::register_errors(m);
    cuframes_py::register_formats(m);
    cuframes_py::register_plane_view(m);
    cuframes_py::register_publisher(m);
    cuframes_py::register_subscriber(m);
    cuframes_py::register_packets(m);
    cuframes_py::register_observe(m);
    cuframes_py::register_defaults(m);
    cuframes_py::register_annexb(m);

    m.def("cuda_available", &cuframes::cuda_available,
          "True when the cuda backend is usable here (libcuda loads, cuInit succeeds, a GPU is visible).");
    m.def("cuda_unavailable_reason", &cuframes::cuda_unavailable_reason,
          "Why cuda_available() is False ('' when it is True).");
    m.def("default_dir", &cuframes::default_dir, "The folder used for sockets when none is given.");
    m.def("validate_key", &cuframes::validate_key, py::arg("key"),
          "Raises InvalidArgumentError naming what is wrong with the key.");
}
