// Keys, the default folder, and the names of backends and delivery policies.
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "base/paths.hpp"
#include "cuframes/error.hpp"
#include "cuframes/types.hpp"

namespace cuframes {

namespace {

std::string lower_case(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
    return text;
}

}  // namespace

const char *backend_name(Backend backend) {
    switch (backend) {
        case Backend::Auto: return "auto";
        case Backend::Host: return "host";
        case Backend::Cuda: return "cuda";
    }
    return "unknown";
}

Backend parse_backend(const std::string &name) {
    std::string lower = lower_case(name);
    if (lower == "auto") return Backend::Auto;
    if (lower == "host") return Backend::Host;
    if (lower == "cuda") return Backend::Cuda;
    throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "unknown backend '" + name + "' (known: auto, host, cuda)");
}

const char *delivery_name(Delivery delivery) { return delivery == Delivery::Sequential ? "sequential" : "latest"; }

Delivery parse_delivery(const std::string &name) {
    std::string lower = lower_case(name);
    if (lower == "latest") return Delivery::Latest;
    if (lower == "sequential") return Delivery::Sequential;
    throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "unknown delivery '" + name + "' (known: latest, sequential)");
}

void validate_key(const std::string &key) {
    if (key.empty()) throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "key is empty");
    if (key.find('\0') != std::string::npos) throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "key contains a NUL byte");
    if (key.size() > CUFRAMES_MAX_KEY)
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "key is " + std::to_string(key.size()) +
                                                       " characters long (at most " + std::to_string(CUFRAMES_MAX_KEY) +
                                                       ")");
    if (key.find('/') != std::string::npos)
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "key '" + key + "' contains '/' (keys name a file in one folder)");
    if (key.find("..") != std::string::npos)
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "key '" + key + "' contains '..'");
    if (key.front() == '.') throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "key '" + key + "' starts with '.'");
    for (unsigned char c : key) {
        if (!(std::isalnum(c) || c == '.' || c == '_' || c == '-'))
            throw Error(CUFRAMES_ERR_INVALID_ARGUMENT,
                        "key '" + key + "' contains a character other than letters, digits, '.', '_' and '-'");
    }
}

namespace {

// The one default folder: the same path for every user, root or not, so that a
// subscriber finds a producer that another user started. Like /tmp/.X11-unix it
// is world-writable and sticky: anyone may create a socket in it, nobody but its
// owner (and the folder's) may remove or replace one. Who may connect to a socket
// is the socket's own business: its mode, group and allow-lists.
constexpr const char *kSharedDir = "/tmp/cuframes";
constexpr mode_t kSharedDirMode = 01777;

std::string mode_text(mode_t mode) {
    char text[8];
    std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
    return text;
}

}  // namespace

std::string default_dir() {
    if (const char *env = std::getenv("CUFRAMES_DIR"); env != nullptr && *env != '\0') return env;
    return kSharedDir;
}

std::string resolve_dir(const std::string &dir) { return dir.empty() ? default_dir() : dir; }

void ensure_dir(const std::string &dir) {
    bool shared = dir == kSharedDir;
    // A folder of one's own keeps group access (shared between containers by a group).
    if (::mkdir(dir.c_str(), shared ? kSharedDirMode : 0775) == 0) {
        // mkdir applies the umask, which would drop the bits that let other users in.
        if (shared && ::chmod(dir.c_str(), kSharedDirMode) != 0)
            throw_os_error("cannot make the socket folder " + dir + " shared (chmod 1777)");
        return;
    }
    if (errno != EEXIST) throw_os_error("cannot create the socket folder " + dir);
    struct stat info {};
    if (::lstat(dir.c_str(), &info) != 0) throw_os_error("cannot stat the socket folder " + dir);
    if (!S_ISDIR(info.st_mode)) throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, dir + " exists and is not a folder");
    // Writable by anyone but not sticky: anyone could remove or replace our socket. (A folder
    // writable by a group is that group's to share: a deliberate choice, e.g. between containers.)
    if ((info.st_mode & S_IWOTH) != 0 && (info.st_mode & S_ISVTX) == 0)
        throw Error(CUFRAMES_ERR_PERMISSION,
                    dir + " (mode " + mode_text(info.st_mode) + ", uid " + std::to_string(info.st_uid) +
                        ") lets other users remove or replace this producer's socket: its owner should make it "
                        "sticky (chmod +t " +
                        dir + "), or set CUFRAMES_DIR to a folder of your own");
    if (::access(dir.c_str(), W_OK | X_OK) != 0)
        throw Error(CUFRAMES_ERR_PERMISSION,
                    "cannot create a socket in " + dir + " (mode " + mode_text(info.st_mode) + ", uid " +
                        std::to_string(info.st_uid) + "): " +
                        (shared ? "it should be mode 1777 like /tmp (chmod 1777 " + dir + " as its owner or root)"
                                : std::string("give this user write access, or choose another folder")) +
                        ", or set CUFRAMES_DIR");
}

void remove_file_noexcept(const std::string &path) noexcept {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
        std::fprintf(stderr, "cuframes: cannot remove %s: %s\n", path.c_str(), std::strerror(errno));
}

sockaddr_un unix_address(const std::string &path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof(address.sun_path))
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "socket path " + path + " is too long for a Unix socket");
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    return address;
}

std::string socket_path(const std::string &dir, const std::string &key) {
    std::string path = dir + "/" + key + ".sock";
    // sockaddr_un.sun_path holds 108 bytes including the NUL.
    if (path.size() >= 108)
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT,
                    "socket path " + path + " is " + std::to_string(path.size()) +
                        " bytes; Unix sockets allow at most 107: use a shorter dir or key");
    return path;
}

std::string lock_path(const std::string &dir, const std::string &key) { return dir + "/" + key + ".lock"; }

}  // namespace cuframes
