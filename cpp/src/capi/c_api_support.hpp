// What every C entry point shares: the thread's last error message, and
// turning exceptions and bad arguments into statuses (c_api*.cpp).
#pragma once

#include <cstdint>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "cuframes/cuframes.h"
#include "cuframes/error.hpp"

namespace cuframes::c_api {

inline thread_local std::string last_error_message = "no error";

inline cuframes_status fail(cuframes_status status, std::string message) noexcept {
    try {
        last_error_message = std::move(message);
    } catch (...) {
        // Keeping the previous message is the best we can do without memory.
    }
    return status;
}

// Runs `body` and turns whatever it throws into a status and a message.
template <typename Body>
cuframes_status guarded(const char *function, Body &&body) noexcept {
    try {
        body();
        return CUFRAMES_OK;
    } catch (const cuframes::Error &error) {
        return fail(error.status(), error.what());
    } catch (const std::bad_alloc &) {
        return fail(CUFRAMES_ERR_OS, std::string(function) + ": out of memory");
    } catch (const std::exception &error) {
        return fail(CUFRAMES_ERR_OS, std::string(function) + ": " + error.what());
    } catch (...) {
        return fail(CUFRAMES_ERR_OS, std::string(function) + ": unknown exception");
    }
}

inline cuframes_status null_argument(const char *function, const char *argument) noexcept {
    return fail(CUFRAMES_ERR_INVALID_ARGUMENT, std::string(function) + ": " + argument + " is NULL");
}

inline void throw_invalid(const char *function, const std::string &what) {
    throw cuframes::Error(CUFRAMES_ERR_INVALID_ARGUMENT, std::string(function) + ": " + what);
}

inline std::vector<uint32_t> id_list(const char *function, const char *name, const uint32_t *ids, uint32_t count) {
    if (count > 0 && ids == nullptr)
        throw_invalid(function, std::string(name) + " is NULL but its count is " + std::to_string(count));
    if (count > 65536)
        throw_invalid(function, std::string(name) + " has " + std::to_string(count) + " entries (at most 65536)");
    return std::vector<uint32_t>(ids, ids + count);
}

inline void check_timeout(const char *function, int32_t timeout_ms) {
    if (timeout_ms < -1) {
        throw_invalid(function,
                      "timeout_ms must be -1 (forever), 0 (poll) or positive, got " + std::to_string(timeout_ms));
    }
}

// The integer a C caller stored in an enum field. C allows any int there, but
// loading an out-of-range value through the C++ enum type is undefined, so
// read the bytes instead.
template <typename Enum>
inline int64_t raw_enum_value(const Enum &field) noexcept {
    std::underlying_type_t<Enum> value;
    static_assert(sizeof(value) == sizeof(field), "enum size");
    std::memcpy(&value, &field, sizeof(value));
    return static_cast<int64_t>(value);
}

}  // namespace cuframes::c_api
