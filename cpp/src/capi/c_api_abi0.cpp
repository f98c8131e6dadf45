// Entry points that only programs built against the ABI 0 header call: there
// the *_init functions were exported functions that wrote the library's whole
// struct. Now cuframes.h makes them static inline helpers that pass the
// caller's own size; these symbols stay for the old binaries and write the
// ABI 0 sizes, which is what such a caller allocated.
//
// The header's inline helpers of the same names are renamed away while it is
// included, so that the exported functions can be defined here.
#define cuframes_publisher_options_init cuframes_publisher_options_init_inline
#define cuframes_subscriber_options_init cuframes_subscriber_options_init_inline
#define cuframes_packet_subscriber_options_init cuframes_packet_subscriber_options_init_inline
#define cuframes_stream_facts_init cuframes_stream_facts_init_inline
#include "cuframes/cuframes.h"
#undef cuframes_publisher_options_init
#undef cuframes_subscriber_options_init
#undef cuframes_packet_subscriber_options_init
#undef cuframes_stream_facts_init

#include <cstring>

#include "capi/c_api_sizes.hpp"

using namespace cuframes::c_api;

extern "C" {

CUFRAMES_API void cuframes_publisher_options_init(cuframes_publisher_options *options) {
    cuframes_publisher_options_init_size(options, kAbi0PublisherOptionsSize);
}

CUFRAMES_API void cuframes_subscriber_options_init(cuframes_subscriber_options *options) {
    cuframes_subscriber_options_init_size(options, kAbi0SubscriberOptionsSize);
}

CUFRAMES_API void cuframes_packet_subscriber_options_init(cuframes_packet_subscriber_options *options) {
    cuframes_packet_subscriber_options_init_size(options, kAbi0PacketSubscriberOptionsSize);
}

CUFRAMES_API void cuframes_stream_facts_init(cuframes_stream_facts *facts) {
    if (facts == nullptr) return;
    std::memset(facts, 0, sizeof(*facts));  // unchanged since ABI 0
    facts->struct_size = sizeof(*facts);
}

}  // extern "C"
