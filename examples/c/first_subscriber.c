/* Reads `count` frames, prints seq/pts/missed and checks the publisher's pattern.
 * usage: first_subscriber [count=30] [key=first]   (dir: $CUFRAMES_DIR)
 * Exits non-zero on any error, a sequence gap that `missed` does not explain, or a bad byte. */
#include <cuframes/cuframes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call)                                                                                                    \
    do {                                                                                                               \
        cuframes_status s_ = (call);                                                                                   \
        if (s_ != CUFRAMES_OK) {                                                                                       \
            fprintf(stderr, "%s failed: %s: %s\n", #call, cuframes_status_name(s_), cuframes_last_error());            \
            cuframes_subscriber_destroy(sub);                                                                          \
            return 1;                                                                                                  \
        }                                                                                                              \
    } while (0)

static int pattern_ok(const cuframes_frame_info *f) {
    for (uint32_t p = 0; p < f->plane_count; ++p)
        for (uint32_t row = 0; row < f->planes[p].height; ++row) {
            const unsigned char *line =
                (const unsigned char *)(uintptr_t)f->data + f->planes[p].offset + (uint64_t)row * f->planes[p].pitch;
            for (uint32_t i = 0; i < f->planes[p].row_bytes; ++i)
                if (line[i] != (unsigned char)((f->pts + row) & 0xff)) return 0;
        }
    return 1;
}

int main(int argc, char **argv) {
    long count = argc > 1 ? atol(argv[1]) : 30;
    cuframes_subscriber *sub = NULL;
    cuframes_subscriber_options opt;
    cuframes_subscriber_options_init(&opt);
    opt.key = argc > 2 ? argv[2] : "first";
    opt.connect_timeout_ms = 10000;
    CHECK(cuframes_subscriber_create(&opt, &sub));
    cuframes_stream_facts facts;
    cuframes_stream_facts_init(&facts);
    CHECK(cuframes_subscriber_stream_facts(sub, &facts));
    printf("stream: time base %d/%d, %d/%d fps, colour matrix %u range %u\n", facts.time_base.num, facts.time_base.den,
           facts.frame_rate.num, facts.frame_rate.den, facts.color_matrix, facts.color_range);
    uint64_t previous = 0;
    for (long i = 0; i < count; ++i) {
        cuframes_frame *frame = NULL;
        CHECK(cuframes_subscriber_next(sub, 5000, &frame));
        cuframes_frame_info f;
        cuframes_frame_info_init(&f);
        cuframes_frame_get_info(frame, &f);
        int checked = f.metadata_size == 9 && memcmp(f.metadata, "pattern=1", 9) == 0;
        int ok = (previous == 0 || f.seq == previous + f.missed + 1) && (!checked || pattern_ok(&f));
        printf("frame seq=%llu pts=%lld missed=%llu %s\n", (unsigned long long)f.seq, (long long)f.pts,
               (unsigned long long)f.missed,
               !ok       ? "BAD"
               : checked ? "pattern ok"
                         : "not checked");
        previous = f.seq;
        cuframes_frame_release(frame);
        if (!ok) {
            cuframes_subscriber_destroy(sub);
            return 2;
        }
    }
    cuframes_subscriber_destroy(sub);
    return 0;
}
