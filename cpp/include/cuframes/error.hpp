// Error type of the C++ core. Every failure carries a status code shared with
// the C ABI (cuframes_status), a message that names what was wrong, and the
// errno or CUresult behind it when there is one.
#pragma once

#include <cerrno>
#include <stdexcept>
#include <string>

#include "cuframes/cuframes.h"

namespace cuframes {

using Status = cuframes_status;

class CUFRAMES_API Error : public std::runtime_error {
public:
    Error(Status status, const std::string &message, int os_errno = 0)
        : std::runtime_error(message), status_(status), os_errno_(os_errno) {}

    Status status() const noexcept { return status_; }
    // errno of the failing system call, 0 when none.
    int os_errno() const noexcept { return os_errno_; }

private:
    Status status_;
    int os_errno_;
};

// Throws Error(CUFRAMES_ERR_OS or a more specific code) for a failed system
// call, with strerror(errno) appended. Maps EACCES/EPERM to PERMISSION and
// EMFILE/ENFILE to LIMIT so callers can tell those apart.
[[noreturn]] CUFRAMES_API void throw_os_error(const std::string &what, int err = errno);

}  // namespace cuframes
