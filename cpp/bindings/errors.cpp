// Translates cuframes::Error into the Python class that cuframes.errors maps
// its status code to, with .status and .errno set.
#include "bindings.hpp"

#include <climits>
#include <cmath>

namespace cuframes_py {

namespace {

void set_python_error(const cuframes::Error &error) {
    const int status = static_cast<int>(error.status());
    try {
        py::module_ errors = py::module_::import("cuframes.errors");
        py::dict by_status = errors.attr("_by_status");
        py::object cls = by_status.contains(py::int_(status)) ? py::object(by_status[py::int_(status)])
                                                              : py::object(errors.attr("Error"));
        py::object exc = cls(py::str(error.what()));
        exc.attr("status") = status;
        exc.attr("errno") = error.os_errno() != 0 ? py::object(py::int_(error.os_errno())) : py::object(py::none());
        PyErr_SetObject(cls.ptr(), exc.ptr());
    } catch (py::error_already_set &lookup_failed) {
        // cuframes.errors could not be imported (a broken install): still
        // raise something that carries the core's message.
        PyErr_SetString(PyExc_RuntimeError, error.what());
    }
}

// "ERR_TIMEOUT" -> "TIMEOUT"; "OK" stays.
py::str short_status_name(const std::string &name) {
    const std::string err = "ERR_";
    return py::str(name.compare(0, err.size(), err) == 0 ? name.substr(err.size()) : name);
}

}  // namespace

uint32_t to_u32(const py::int_ &value, const char *what) {
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
    if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
    if (overflow != 0 || v < 0 || v > static_cast<long long>(UINT32_MAX)) {
        throw_status(CUFRAMES_ERR_INVALID_ARGUMENT,
                     std::string(what) + " must be a non-negative 32-bit integer, got " + std::string(py::str(value)));
    }
    return static_cast<uint32_t>(v);
}

uint64_t to_u64(const py::int_ &value, const char *what) {
    int overflow = 0;
    const unsigned long long v = PyLong_AsUnsignedLongLong(value.ptr());
    if (v == static_cast<unsigned long long>(-1) && PyErr_Occurred()) {
        PyErr_Clear();
        overflow = 1;
    }
    if (overflow != 0)
        throw_status(CUFRAMES_ERR_INVALID_ARGUMENT,
                     std::string(what) + " must be a non-negative 64-bit integer, got " + std::string(py::str(value)));
    return static_cast<uint64_t>(v);
}

int to_timeout_ms(const py::object &seconds, const char *what) {
    if (seconds.is_none()) return -1;
    const double s = seconds.cast<double>();
    if (std::isnan(s) || s < 0) {
        throw_status(CUFRAMES_ERR_INVALID_ARGUMENT, std::string(what) +
                                                        " must be None (wait forever) or >= 0 seconds, got " +
                                                        std::string(py::repr(seconds)));
    }
    const double ms = std::ceil(s * 1000.0);
    return ms >= static_cast<double>(INT_MAX) ? INT_MAX : static_cast<int>(ms);
}

void register_errors(py::module_ &m) {
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const cuframes::Error &error) {
            set_python_error(error);
        }
    });

    // Every status of CUFRAMES_STATUS_LIST by its short name ("OK",
    // "INVALID_ARGUMENT", ...): cuframes.errors is checked against it.
    py::dict statuses;
#define CUFRAMES_PY_STATUS(name, value, description) statuses[short_status_name(#name)] = value;
    CUFRAMES_STATUS_LIST(CUFRAMES_PY_STATUS)
#undef CUFRAMES_PY_STATUS
    m.attr("STATUS") = statuses;

    // Raises the Python class for a status code; lets the Python layer and
    // tests exercise the same translation path as the core's errors.
    m.def(
        "_raise_status",
        [](int status, const std::string &message, int os_errno) {
            throw cuframes::Error(static_cast<cuframes::Status>(status), message, os_errno);
        },
        py::arg("status"), py::arg("message"), py::arg("errno") = 0);
}

}  // namespace cuframes_py
