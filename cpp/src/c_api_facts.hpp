// Stream facts across the C ABI: the publisher options' fields (protocol v4,
// appended to cuframes_publisher_options) and cuframes_stream_facts.
#pragma once

#include <cstddef>

#include "cuframes/cuframes.h"
#include "cuframes/types.hpp"

namespace cuframes::c_api {

// cuframes_publisher_options as it was before the facts: a caller built
// against that header still works, with the facts left unknown.
constexpr size_t kPublisherOptionsSizeBeforeFacts = offsetof(cuframes_publisher_options, time_base);

// The defaults (PublisherOptions::facts), for cuframes_publisher_options_init.
void init_publisher_facts(cuframes_publisher_options *options) noexcept;
// The facts the options carry (defaults when struct_size ends before them).
// Throws INVALID_ARGUMENT naming the bad field.
StreamFacts publisher_facts(const char *function, const cuframes_publisher_options &options);
// Copies `facts` into out, up to out->struct_size (at least the struct_size field itself).
void copy_facts_out(const char *function, const StreamFacts &facts, cuframes_stream_facts *out);

}  // namespace cuframes::c_api
