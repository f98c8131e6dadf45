#include "cuframes/error.hpp"

#include <cstring>

namespace cuframes {

[[noreturn]] void throw_os_error(const std::string &what, int err) {
    Status status = CUFRAMES_ERR_OS;
    if (err == EACCES || err == EPERM) status = CUFRAMES_ERR_PERMISSION;
    if (err == EMFILE || err == ENFILE) status = CUFRAMES_ERR_LIMIT;
    std::string hint = err == EMFILE ? " (raise RLIMIT_NOFILE: ulimit -n)" : "";
    throw Error(status, what + ": " + std::strerror(err) + hint, err);
}

}  // namespace cuframes
