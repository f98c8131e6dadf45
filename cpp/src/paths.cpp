// Keys, the default folder, and the names of backends and delivery policies.
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <cctype>
#include <cstdlib>
#include <string>

#include "cuframes/error.hpp"
#include "cuframes/types.hpp"
#include "paths.hpp"

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

const char *delivery_name(Delivery delivery) {
    return delivery == Delivery::Sequential ? "sequential" : "latest";
}

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
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "key is " + std::to_string(key.size()) + " characters long (at most " +
                                                       std::to_string(CUFRAMES_MAX_KEY) + ")");
    if (key.find('/') != std::string::npos)
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "key '" + key + "' contains '/' (keys name a file in one folder)");
    if (key.find("..") != std::string::npos) throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "key '" + key + "' contains '..'");
    if (key.front() == '.') throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "key '" + key + "' starts with '.'");
    for (unsigned char c : key) {
        if (!(std::isalnum(c) || c == '.' || c == '_' || c == '-'))
            throw Error(CUFRAMES_ERR_INVALID_ARGUMENT,
                        "key '" + key + "' contains a character other than letters, digits, '.', '_' and '-'");
    }
}

namespace {

bool writable_dir(const std::string &path) { return ::access(path.c_str(), W_OK | X_OK) == 0; }

}  // namespace

std::string default_dir() {
    if (const char *env = std::getenv("CUFRAMES_DIR"); env != nullptr && *env != '\0') return env;
    if (writable_dir("/run/cuframes") || writable_dir("/run")) return "/run/cuframes";
    if (const char *runtime = std::getenv("XDG_RUNTIME_DIR"); runtime != nullptr && *runtime != '\0')
        return std::string(runtime) + "/cuframes";
    return "/tmp/cuframes-" + std::to_string(::getuid());
}

std::string resolve_dir(const std::string &dir) { return dir.empty() ? default_dir() : dir; }

namespace {

bool is_private_fallback(const std::string &dir) {
    return dir == "/tmp/cuframes-" + std::to_string(::getuid());
}

}  // namespace

void ensure_dir(const std::string &dir) {
    // The /tmp fallback is private to this user (0700); the other folders are
    // meant to be shared between containers, so group access stays.
    mode_t mode = is_private_fallback(dir) ? 0700 : 0775;
    if (::mkdir(dir.c_str(), mode) == 0) return;
    if (errno != EEXIST) throw_os_error("cannot create the socket folder " + dir);
    struct stat info {};
    if (::lstat(dir.c_str(), &info) != 0) throw_os_error("cannot stat the socket folder " + dir);
    if (!S_ISDIR(info.st_mode)) throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, dir + " exists and is not a folder");
    // Anyone can create a name in /tmp: a fallback folder made by someone else
    // could let them replace our sockets.
    if (is_private_fallback(dir) && info.st_uid != ::getuid())
        throw Error(CUFRAMES_ERR_PERMISSION, dir + " belongs to uid " + std::to_string(info.st_uid) +
                                                 ", not to this user; set CUFRAMES_DIR or remove it");
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
        throw Error(CUFRAMES_ERR_INVALID_ARGUMENT, "socket path " + path + " is " + std::to_string(path.size()) +
                                                       " bytes; Unix sockets allow at most 107: use a shorter dir or key");
    return path;
}

std::string lock_path(const std::string &dir, const std::string &key) { return dir + "/" + key + ".lock"; }

}  // namespace cuframes
