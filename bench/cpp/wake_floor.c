/* The floor under a subscriber, with C on both sides: one process hands a
 * stamp to another through a shared word.
 *
 *   wake_floor futex|spin PERIOD_US FRAMES WARMUP
 *
 * forks a child that waits on a word in a shared page: asleep in FUTEX_WAIT
 * (futex) or spinning on it (spin). Every PERIOD_US the parent stamps
 * CLOCK_MONOTONIC into the page, bumps the word and (futex) calls FUTEX_WAKE;
 * the child reads the clock as soon as it sees the new value and records the
 * difference. The parent waits for the child to take each frame before the
 * next period starts, so every frame is one sample. Prints the last FRAMES
 * samples, one per line, in nanoseconds; exits non-zero with the reason on
 * stderr on any failure. Compiled at run time by bench/harness/wake_floor.py.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct shared {
    _Atomic uint32_t word;  /* bumped once a frame: the futex word */
    _Atomic uint32_t taken; /* the child's count of frames taken */
    _Atomic uint64_t stamp; /* CLOCK_MONOTONIC when the parent bumped the word */
    uint64_t samples[];     /* the child's latencies, ns */
};

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static long futex(_Atomic uint32_t *word, int op, uint32_t value) {
    return syscall(SYS_futex, (uint32_t *)word, op, value, NULL, NULL, 0);
}

static int child_main(struct shared *page, int spin, size_t wanted) {
    /* A parent that dies leaves no spinning orphan. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) return 3;
    uint32_t seen = 0;
    for (size_t i = 0; i < wanted; ++i) {
        uint32_t value;
        while ((value = atomic_load_explicit(&page->word, memory_order_acquire)) == seen) {
            if (!spin && futex(&page->word, FUTEX_WAIT, seen) != 0 && errno != EAGAIN && errno != EINTR) return 4;
        }
        uint64_t now = now_ns();
        page->samples[i] = now - atomic_load_explicit(&page->stamp, memory_order_relaxed);
        seen = value;
        atomic_store_explicit(&page->taken, (uint32_t)(i + 1), memory_order_release);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 5 || (strcmp(argv[1], "futex") != 0 && strcmp(argv[1], "spin") != 0)) {
        fprintf(stderr, "usage: %s futex|spin PERIOD_US FRAMES WARMUP\n", argv[0]);
        return 2;
    }
    const int spin = strcmp(argv[1], "spin") == 0;
    const long period_us = atol(argv[2]);
    const size_t frames = strtoull(argv[3], NULL, 10);
    const size_t warmup = strtoull(argv[4], NULL, 10);
    if (frames < 1 || frames > 10000000 || warmup > 10000000 || period_us < 0 || period_us > 10000000) {
        fprintf(stderr, "wake_floor: FRAMES must be 1..1e7, WARMUP 0..1e7 and PERIOD_US 0..1e7\n");
        return 2;
    }
    const size_t wanted = frames + warmup;
    const size_t bytes = sizeof(struct shared) + wanted * sizeof(uint64_t);
    struct shared *page = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        perror("wake_floor: mmap");
        return 1;
    }
    pid_t child = fork();
    if (child < 0) {
        perror("wake_floor: fork");
        return 1;
    }
    if (child == 0) _exit(child_main(page, spin, wanted));

    int status = 1;
    const struct timespec period = {period_us / 1000000, (period_us % 1000000) * 1000};
    const struct timespec poll = {0, 20000};
    const uint64_t deadline = now_ns() + (uint64_t)(wanted * (uint64_t)period_us * 1000ull) * 3 + 60000000000ull;
    for (size_t i = 0; i < wanted; ++i) {
        /* The child took the previous frame: it is waiting (or spinning) again. */
        while (atomic_load_explicit(&page->taken, memory_order_acquire) != i) {
            if (now_ns() > deadline || waitpid(child, NULL, WNOHANG) != 0) {
                fprintf(stderr, "wake_floor: the child took %zu of %zu frames and stopped\n", i, wanted);
                goto out;
            }
            nanosleep(&poll, NULL);
        }
        if (period_us > 0 && nanosleep(&period, NULL) != 0 && errno != EINTR) {
            perror("wake_floor: nanosleep");
            goto out;
        }
        atomic_store_explicit(&page->stamp, now_ns(), memory_order_relaxed);
        atomic_fetch_add_explicit(&page->word, 1, memory_order_release);
        if (!spin && futex(&page->word, FUTEX_WAKE, 1) < 0) {
            perror("wake_floor: FUTEX_WAKE");
            goto out;
        }
    }
    int child_status = 0;
    if (waitpid(child, &child_status, 0) != child) {
        perror("wake_floor: waitpid");
        goto out;
    }
    child = -1;
    if (!WIFEXITED(child_status) || WEXITSTATUS(child_status) != 0) {
        fprintf(stderr, "wake_floor: the child failed (status %d)\n", child_status);
        goto out;
    }
    for (size_t i = warmup; i < wanted; ++i) printf("%llu\n", (unsigned long long)page->samples[i]);
    status = fflush(stdout) == 0 ? 0 : 1;
out:
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    }
    munmap(page, bytes);
    return status;
}
