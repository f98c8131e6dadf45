// Where a key's socket and lock live.
#pragma once

#include <sys/un.h>

#include <string>

namespace cuframes {

std::string resolve_dir(const std::string &dir);  // "" -> default_dir()
// Creates the folder if missing: the shared default /tmp/cuframes mode 1777 (like
// /tmp), any other 0775 before umask. Throws if it is not a folder, if anyone may
// write it without the sticky bit, or if this user cannot create a socket in it.
void ensure_dir(const std::string &dir);
// <dir>/<key>.sock; throws INVALID_ARGUMENT when it exceeds sun_path.
std::string socket_path(const std::string &dir, const std::string &key);
std::string lock_path(const std::string &dir, const std::string &key);
// unlink(2) for clean-up paths that must not throw: a missing file is fine,
// any other failure is reported on stderr (the file stays behind).
void remove_file_noexcept(const std::string &path) noexcept;
// The address of a Unix socket at `path` (checked against sun_path's size).
sockaddr_un unix_address(const std::string &path);

}  // namespace cuframes
