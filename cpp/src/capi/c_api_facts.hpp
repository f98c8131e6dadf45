// Stream facts across the C ABI: the publisher options' fields (protocol v4,
// appended to cuframes_publisher_options) and cuframes_stream_facts.
#pragma once

#include <cstddef>

#include "cuframes/cuframes.h"
#include "cuframes/types.hpp"

namespace cuframes::c_api {

// The defaults (PublisherOptions::facts), for cuframes_publisher_options_init.
void init_publisher_facts(cuframes_publisher_options *options) noexcept;
// The facts the options carry (read_options gave the defaults to a caller whose struct ends before them).
// Throws INVALID_ARGUMENT naming the bad field.
StreamFacts publisher_facts(const char *function, const cuframes_publisher_options &options);
// `facts` as the C struct (at the library's full size).
cuframes_stream_facts facts_to_c(const StreamFacts &facts) noexcept;

}  // namespace cuframes::c_api
