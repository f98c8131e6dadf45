// Every public header of cuframes, each used, against the installed package:
// a host-backend round trip of a frame and a packet in one process.
// usage: consumer DIR   (prints "consumer: ok")
#include <cuframes/annexb.hpp>
#include <cuframes/cuframes.h>
#include <cuframes/error.hpp>
#include <cuframes/format.hpp>
#include <cuframes/observe.hpp>
#include <cuframes/packets.hpp>
#include <cuframes/publisher.hpp>
#include <cuframes/subscriber.hpp>
#include <cuframes/types.hpp>

#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace {

int fail(const std::string &what) {
    std::fprintf(stderr, "consumer: %s\n", what.c_str());
    return 1;
}

const unsigned char kKeyframe[] = {0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65, 0x88, 0x84};

}  // namespace

int main(int argc, char **argv) {
    if (argc != 2) return fail("usage: consumer DIR");
    if (cuframes_abi_version() < CUFRAMES_ABI_VERSION) return fail(std::string("old library ") + cuframes_version());
    try {
        const cuframes::FrameLayout layout =
            cuframes::compute_layout(cuframes::parse_format("nv12"), 64, 32);  // format.hpp
        cuframes::PublisherOptions options;                                    // publisher.hpp
        options.key = "consumer";
        options.dir = argv[1];
        options.width = layout.width;
        options.height = layout.height;
        options.backend = cuframes::parse_backend("host");  // types.hpp
        options.packet_ring_bytes = 1 << 16;
        cuframes::Publisher publisher(options);

        cuframes::SubscriberOptions frames_options;  // subscriber.hpp
        frames_options.key = "consumer";
        frames_options.dir = argv[1];
        cuframes::Subscriber subscriber(frames_options);
        cuframes::PacketSubscriberOptions packet_options;  // packets.hpp
        packet_options.key = "consumer";
        packet_options.dir = argv[1];
        cuframes::PacketSubscriber packets(packet_options);

        cuframes::WritableFrame frame = publisher.loan();
        std::memset(reinterpret_cast<void *>(frame.data()), 3, layout.planes[0].row_bytes);
        publisher.publish(std::move(frame), 0, 11, "hi", 2);
        publisher.publish_packet(kKeyframe, sizeof kKeyframe, 11, 11, cuframes::parse_codec("h264"), true);

        auto lease = subscriber.next(2000);
        if (lease->info().pts != 11 || lease->metadata() != "hi") return fail("wrong frame");
        if (reinterpret_cast<const unsigned char *>(lease->info().data)[0] != 3) return fail("wrong bytes");
        cuframes::Packet packet = packets.next(2000);
        if (packet.data.size() != sizeof kKeyframe || std::string(cuframes::codec_name(packet.info.codec)) != "h264")
            return fail("wrong packet");
        std::vector<uint8_t> types = cuframes::nal_unit_types(packet.info.codec, packet.data.data(),  // annexb.hpp
                                                              packet.data.size());
        if (types != std::vector<uint8_t>{7, 8, 5}) return fail("wrong NAL unit types");

        cuframes::StreamObservation seen = cuframes::observe("consumer", argv[1], 2000);  // observe.hpp
        if (seen.subscribers.size() != 2 || seen.latest_seq != 1) return fail("wrong observation");

        try {
            cuframes::validate_key("../escape");
            return fail("a bad key was accepted");
        } catch (const cuframes::Error &error) {  // error.hpp: the type crosses the library boundary
            if (error.status() != CUFRAMES_ERR_INVALID_ARGUMENT) return fail("wrong status for a bad key");
        }
    } catch (const cuframes::Error &error) {
        return fail(std::string(cuframes_status_name(error.status())) + ": " + error.what());
    }
    std::printf("consumer: ok\n");
    return 0;
}
