#include "capi/c_api_facts.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "capi/c_api_support.hpp"

namespace cuframes::c_api {

namespace {

// The C fields are 32 bits wide, the shared ones 8: check before narrowing so
// that 257 does not pass as 1.
uint8_t code_point(const char *function, const char *name, uint32_t value) {
    if (value > UINT8_MAX)
        throw_invalid(function, std::string("options->") + name + " " + std::to_string(value) +
                                    " is not an ITU-T H.273 code point");
    return static_cast<uint8_t>(value);
}

}  // namespace

void init_publisher_facts(cuframes_publisher_options *options) noexcept {
    const StreamFacts defaults;
    options->time_base = defaults.time_base;
    options->frame_rate = defaults.frame_rate;
    options->sample_aspect_ratio = defaults.sample_aspect_ratio;
    options->color_matrix = defaults.color_matrix;
    options->color_range = defaults.color_range;
    options->color_primaries = defaults.color_primaries;
    options->color_transfer = defaults.color_transfer;
}

StreamFacts publisher_facts(const char *function, const cuframes_publisher_options &options) {
    StreamFacts facts;
    facts.time_base = options.time_base;
    facts.frame_rate = options.frame_rate;
    facts.sample_aspect_ratio = options.sample_aspect_ratio;
    facts.color_matrix = code_point(function, "color_matrix", options.color_matrix);
    facts.color_range = code_point(function, "color_range", options.color_range);
    facts.color_primaries = code_point(function, "color_primaries", options.color_primaries);
    facts.color_transfer = code_point(function, "color_transfer", options.color_transfer);
    return facts;  // the core checks the values
}

cuframes_stream_facts facts_to_c(const StreamFacts &facts) noexcept {
    cuframes_stream_facts full{};
    full.struct_size = sizeof(full);
    full.time_base = facts.time_base;
    full.frame_rate = facts.frame_rate;
    full.sample_aspect_ratio = facts.sample_aspect_ratio;
    full.color_matrix = facts.color_matrix;
    full.color_range = facts.color_range;
    full.color_primaries = facts.color_primaries;
    full.color_transfer = facts.color_transfer;
    return full;
}

}  // namespace cuframes::c_api
