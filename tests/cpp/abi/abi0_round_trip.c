/* A program built against the ABI 0 header (cuframes_abi0.h, see README.md) and
 * linked against today's library: publisher, frame subscriber and packet
 * subscriber in one process on the host backend, every output struct checked
 * field by field in the ABI 0 layout. Exits 0 when all held, else prints what
 * broke. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cuframes_abi0.h"

static int failures = 0;
#define EXPECT(cond) do { if (!(cond)) { fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond); ++failures; } } while (0)
#define CHECK(call) do { cuframes_status s_ = (call); if (s_ != CUFRAMES_OK) { \
    fprintf(stderr, "%s: %s: %s\n", #call, cuframes_status_name(s_), cuframes_last_error()); return 1; } } while (0)

/* An IDR access unit with SPS and PPS in front (Annex-B). */
static const unsigned char kKeyframe[] = {0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65, 0x88, 0x84};

int main(void) {
    char dir[] = "/tmp/cuframes-abi0-XXXXXX";
    if (mkdtemp(dir) == NULL) { perror("mkdtemp"); return 2; }
    /* Guards around each struct: the library must write exactly the ABI 0 size. */
    struct { cuframes_publisher_options o; unsigned char guard[64]; } pub_options;
    memset(&pub_options, 0xA5, sizeof pub_options);
    cuframes_publisher_options_init(&pub_options.o);
    for (size_t i = 0; i < sizeof pub_options.guard; ++i) EXPECT(pub_options.guard[i] == 0xA5);
    EXPECT(pub_options.o.struct_size == sizeof(cuframes_publisher_options));
    EXPECT(pub_options.o.slots == 10 && pub_options.o.max_subscribers == 4 && pub_options.o.format == CUFRAMES_FORMAT_NV12);
    pub_options.o.key = "abi0";
    pub_options.o.dir = dir;
    pub_options.o.width = 64;
    pub_options.o.height = 32;
    pub_options.o.backend = CUFRAMES_BACKEND_HOST;
    pub_options.o.packet_ring_bytes = 1 << 16;
    pub_options.o.time_base.num = 1;
    pub_options.o.time_base.den = 90000;
    cuframes_publisher *pub = NULL;
    CHECK(cuframes_publisher_create(&pub_options.o, &pub));

    cuframes_subscriber_options sub_options;
    cuframes_subscriber_options_init(&sub_options);
    EXPECT(sub_options.struct_size == sizeof sub_options && sub_options.connect_timeout_ms == 5000);
    sub_options.key = "abi0";
    sub_options.dir = dir;
    cuframes_subscriber *sub = NULL;
    CHECK(cuframes_subscriber_create(&sub_options, &sub));
    cuframes_packet_subscriber_options packet_options;
    cuframes_packet_subscriber_options_init(&packet_options);
    packet_options.key = "abi0";
    packet_options.dir = dir;
    cuframes_packet_subscriber *packets = NULL;
    CHECK(cuframes_packet_subscriber_create(&packet_options, &packets));

    struct { cuframes_buffer b; unsigned char guard[64]; } buffer;
    memset(&buffer, 0xA5, sizeof buffer);
    CHECK(cuframes_publisher_acquire(pub, &buffer.b));
    for (size_t i = 0; i < sizeof buffer.guard; ++i) EXPECT(buffer.guard[i] == 0xA5);
    EXPECT(buffer.b.plane_count == 2 && buffer.b.planes[0].width == 64 && buffer.b.planes[1].height == 16);
    EXPECT(buffer.b.size >= 64 * 32 * 3 / 2 && buffer.b.slot < 10);
    memset((void *)(uintptr_t)buffer.b.data, 7, buffer.b.planes[0].row_bytes);
    CHECK(cuframes_publisher_publish(pub, NULL, 1234, "meta", 4, NULL));
    CHECK(cuframes_publisher_publish_packet(pub, kKeyframe, sizeof kKeyframe, 1234, 1200, CUFRAMES_CODEC_H264, 1, NULL));

    cuframes_frame *frame = NULL;
    CHECK(cuframes_subscriber_next(sub, 2000, &frame));
    struct { cuframes_frame_info f; unsigned char guard[64]; } info;
    memset(&info, 0xA5, sizeof info);
    cuframes_frame_get_info(frame, &info.f);
    for (size_t i = 0; i < sizeof info.guard; ++i) EXPECT(info.guard[i] == 0xA5);
    EXPECT(info.f.seq == 1 && info.f.pts == 1234 && info.f.missed == 0);
    EXPECT(info.f.width == 64 && info.f.height == 32 && info.f.format == CUFRAMES_FORMAT_NV12);
    EXPECT(info.f.plane_count == 2 && info.f.planes[0].pitch % CUFRAMES_PITCH_ALIGN == 0);
    EXPECT(info.f.metadata_size == 4 && memcmp(info.f.metadata, "meta", 4) == 0);
    EXPECT(info.f.reconnected == 0 && info.f.epoch != 0 && info.f.slot == buffer.b.slot);
    EXPECT(((const unsigned char *)(uintptr_t)info.f.data)[info.f.planes[0].offset] == 7);
    cuframes_frame_release(frame);

    cuframes_stream_facts facts;
    cuframes_stream_facts_init(&facts);
    CHECK(cuframes_subscriber_stream_facts(sub, &facts));
    EXPECT(facts.time_base.num == 1 && facts.time_base.den == 90000);

    unsigned char data[256];
    struct { cuframes_packet_info p; unsigned char guard[64]; } packet;
    memset(&packet, 0xA5, sizeof packet);
    CHECK(cuframes_packet_subscriber_next(packets, 2000, data, sizeof data, &packet.p));
    for (size_t i = 0; i < sizeof packet.guard; ++i) EXPECT(packet.guard[i] == 0xA5);
    EXPECT(packet.p.seq == 1 && packet.p.pts == 1234 && packet.p.dts == 1200 && packet.p.size == sizeof kKeyframe);
    EXPECT(packet.p.codec == CUFRAMES_CODEC_H264 && packet.p.keyframe == 1 && packet.p.discontinuity == 1);
    EXPECT(packet.p.reconnected == 0 && packet.p.epoch == info.f.epoch && packet.p.overruns == 0);
    EXPECT(memcmp(data, kKeyframe, sizeof kKeyframe) == 0);

    /* read_into writes the same layout. */
    CHECK(cuframes_publisher_acquire(pub, &buffer.b));
    CHECK(cuframes_publisher_publish(pub, NULL, 1235, NULL, 0, NULL));
    static unsigned char packed[64 * 32 * 3 / 2];
    memset(&info, 0xA5, sizeof info);
    CHECK(cuframes_subscriber_read_into(sub, 2000, packed, sizeof packed, NULL, &info.f));
    for (size_t i = 0; i < sizeof info.guard; ++i) EXPECT(info.guard[i] == 0xA5);
    EXPECT(info.f.seq == 2 && info.f.pts == 1235 && info.f.width == 64 && info.f.metadata == NULL && info.f.data == 0);

    cuframes_packet_subscriber_destroy(packets);
    cuframes_subscriber_destroy(sub);
    cuframes_publisher_destroy(pub);
    EXPECT(rmdir(dir) == 0); /* the publisher left no file behind */
    if (failures == 0) printf("abi0_round_trip: ok\n");
    return failures == 0 ? 0 : 1;
}
