/* Records a stream's encoded packets to a file, without re-encoding: the NVR side.
 * usage: record_packets [count=50] [key=first] [out=recording.h264]   (dir: $CUFRAMES_DIR)
 * The file is an Annex-B elementary stream that starts at a keyframe with its
 * parameter sets: `ffmpeg -f h264 -i recording.h264 -c copy recording.mp4` muxes it.
 * The producer needs a packet ring (packet_ring_bytes > 0). Exits non-zero on any error. */
#include <cuframes/cuframes.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    long count = argc > 1 ? atol(argv[1]) : 50;
    const char *out_path = argc > 3 ? argv[3] : "recording.h264";
    cuframes_packet_subscriber_options options;
    cuframes_packet_subscriber_options_init(&options);
    options.key = argc > 2 ? argv[2] : "first";
    options.connect_timeout_ms = 10000;

    cuframes_packet_subscriber *packets = NULL;
    cuframes_status status = cuframes_packet_subscriber_create(&options, &packets);
    if (status != CUFRAMES_OK) {
        fprintf(stderr, "cannot subscribe to the packets of '%s': %s: %s\n", options.key, cuframes_status_name(status),
                cuframes_last_error());
        return 1;
    }
    FILE *out = fopen(out_path, "wb");
    if (out == NULL) {
        perror(out_path);
        cuframes_packet_subscriber_destroy(packets);
        return 1;
    }
    uint64_t capacity = 64 * 1024;
    unsigned char *buffer = malloc(capacity);
    long written = 0, keyframes = 0;
    unsigned long long overruns = 0;
    int failed = buffer == NULL;
    while (!failed && written < count) {
        cuframes_packet_info info;
        cuframes_packet_info_init(&info);
        status = cuframes_packet_subscriber_next(packets, 5000, buffer, capacity, &info);
        if (status == CUFRAMES_ERR_LIMIT) { /* a large keyframe: grow and take the same packet again */
            unsigned char *larger = realloc(buffer, info.size);
            if (larger == NULL) {
                failed = 1;
                break;
            }
            buffer = larger;
            capacity = info.size;
            continue;
        }
        if (status == CUFRAMES_ERR_DISCONNECTED) break; /* the producer closed: the recording ends */
        if (status != CUFRAMES_OK) {
            fprintf(stderr, "next packet: %s: %s\n", cuframes_status_name(status), cuframes_last_error());
            failed = 1;
            break;
        }
        if (fwrite(buffer, 1, info.size, out) != info.size) {
            perror(out_path);
            failed = 1;
            break;
        }
        written += 1;
        keyframes += info.keyframe;
        overruns += info.overruns;
    }
    if (fclose(out) != 0) {
        perror(out_path);
        failed = 1;
    }
    free(buffer);
    cuframes_packet_subscriber_destroy(packets);
    printf("recorded %ld packets (%ld keyframes, %llu lost to overruns) to %s\n", written, keyframes, overruns,
           out_path);
    return failed;
}
