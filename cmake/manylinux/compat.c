/* What Debian 12's libstdc++.a needs from a glibc newer than 2.28, for the manylinux_2_28
   wheels (cmake/manylinux/toolchain.cmake links it into libcuframes.so and _core, hidden).
   scripts/build-wheel.sh refuses a library with any unversioned undefined symbol left. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/types.h>

/* glibc 2.32: 0 means "the process may have several threads", always correct. */
__attribute__((visibility("hidden"))) char __libc_single_threaded = 0;

/* glibc 2.36, for std::random_device: the same kernel source through getrandom (2.25, and
   Linux 3.17, older than any glibc 2.28 system's). Like glibc's, it cannot fail: it aborts. */
__attribute__((visibility("hidden"))) uint32_t arc4random(void) {
    uint32_t value = 0;
    for (;;) {
        ssize_t got = getrandom(&value, sizeof value, 0);
        if (got == (ssize_t)sizeof value) return value;
        if (got < 0 && errno != EINTR) abort();
    }
}
