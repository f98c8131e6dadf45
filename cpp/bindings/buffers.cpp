// ContiguousBytes: the buffer protocol, for packet data handed to the core.
#include "bindings.hpp"

namespace cuframes_py {

ContiguousBytes::ContiguousBytes(const py::object &source, const char *what) {
    // PyBUF_SIMPLE asks for one contiguous run of bytes; exporters that
    // cannot give it (a strided numpy view) refuse.
    if (PyObject_GetBuffer(source.ptr(), &view_, PyBUF_SIMPLE) != 0) {
        PyErr_Clear();
        throw_status(CUFRAMES_ERR_INVALID_ARGUMENT,
                     std::string(what) +
                         " must be a contiguous bytes-like object (bytes, bytearray, memoryview, "
                         "a C-contiguous numpy array), got " +
                         std::string(py::str(py::type::of(source).attr("__name__"))));
    }
}

}  // namespace cuframes_py
