// Descriptor leak detection for the fuzz targets: every input must give back
// every descriptor it made or received, since a leak per input is exactly
// what a hostile peer would use to exhaust a long-running process.
#pragma once

#include <dirent.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace cuframes_fuzz {

// Open descriptors of this process (the directory's own descriptor excluded).
inline int count_open_fds() {
    DIR *dir = ::opendir("/proc/self/fd");
    if (dir == nullptr) {
        std::perror("opendir /proc/self/fd");
        std::abort();  // without /proc the leak check would silently pass
    }
    int count = 0;
    while (const dirent *entry = ::readdir(dir))
        if (entry->d_name[0] != '.') ++count;
    ::closedir(dir);
    return count - 1;
}

// Aborts (a crash libFuzzer reports, with the input that caused it) when the
// process has more descriptors than `before` once `settle_ms` have passed:
// the producer's server thread closes what a dropped peer left asynchronously,
// so it gets a moment; a real leak never settles.
inline void require_no_fd_leak(int before, const char *target, int settle_ms = 0) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(settle_ms);
    int now = count_open_fds();
    while (now > before && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        now = count_open_fds();
    }
    if (now > before) {
        std::fprintf(stderr, "%s: descriptor leak: %d open before this input, %d after\n", target, before, now);
        std::abort();
    }
}

}  // namespace cuframes_fuzz
