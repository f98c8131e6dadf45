/* Publishes frames under a key until its subscriber leaves (or `frames` are out).
 * usage: first_publisher [host|cuda|auto] [frames=300] [key=first]   (dir: $CUFRAMES_DIR)
 * On host, every byte of frame `pts` is (pts + row) & 0xff; metadata says whether it was written. */
#include <cuframes/cuframes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK(call)                                                                                                    \
    do {                                                                                                               \
        cuframes_status s_ = (call);                                                                                   \
        if (s_ != CUFRAMES_OK) {                                                                                       \
            fprintf(stderr, "%s failed: %s: %s\n", #call, cuframes_status_name(s_), cuframes_last_error());            \
            cuframes_publisher_destroy(pub);                                                                           \
            return 1;                                                                                                  \
        }                                                                                                              \
    } while (0)

int main(int argc, char **argv) {
    const char *backend = argc > 1 ? argv[1] : "host";
    long frames = argc > 2 ? atol(argv[2]) : 300;
    cuframes_publisher *pub = NULL;
    cuframes_publisher_options opt;
    cuframes_publisher_options_init(&opt);
    opt.key = argc > 3 ? argv[3] : "first";
    opt.width = 320;
    opt.height = 240;
    opt.format = CUFRAMES_FORMAT_NV12;
    opt.backend = !strcmp(backend, "cuda")   ? CUFRAMES_BACKEND_CUDA
                  : !strcmp(backend, "auto") ? CUFRAMES_BACKEND_AUTO
                                             : CUFRAMES_BACKEND_HOST;
    /* Stream facts: the pts below count frames at 100 per second; BT.709, limited range. */
    opt.time_base = (cuframes_rational){1, 100};
    opt.frame_rate = (cuframes_rational){100, 1};
    opt.color_matrix = opt.color_primaries = opt.color_transfer = 1;
    opt.color_range = CUFRAMES_COLOR_RANGE_LIMITED;
    CHECK(cuframes_publisher_create(&opt, &pub));
    int seen_subscriber = 0;
    struct timespec tick = {0, 10 * 1000 * 1000}; /* 100 frames per second */
    for (long pts = 0; pts < frames; ++pts) {
        uint32_t subscribers = cuframes_publisher_subscriber_count(pub);
        if (subscribers > 0)
            seen_subscriber = 1;
        else if (seen_subscriber)
            break; /* our subscriber left */
        cuframes_buffer buf;
        cuframes_buffer_init(&buf);
        CHECK(cuframes_publisher_acquire(pub, &buf));
        /* The host backend hands out CPU memory; on cuda, writing needs CUDA, so leave it. */
        int wrote = opt.backend == CUFRAMES_BACKEND_HOST;
        for (uint32_t p = 0; wrote && p < buf.plane_count; ++p)
            for (uint32_t row = 0; row < buf.planes[p].height; ++row)
                memset((unsigned char *)(uintptr_t)buf.data + buf.planes[p].offset +
                           (uint64_t)row * buf.planes[p].pitch,
                       (int)((pts + row) & 0xff), buf.planes[p].row_bytes);
        const char *meta = wrote ? "pattern=1" : "pattern=0";
        CHECK(cuframes_publisher_publish(pub, NULL, pts, meta, (uint32_t)strlen(meta), NULL));
        nanosleep(&tick, NULL);
    }
    printf("publisher: done (backend %s)\n", backend);
    cuframes_publisher_destroy(pub);
    return 0;
}
