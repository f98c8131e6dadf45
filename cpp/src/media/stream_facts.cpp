// Validation of stream facts: the publisher checks its options with it, and
// subscribers and observers check what a producer announced (untrusted bytes).
#include <string>

#include "cuframes/types.hpp"

namespace cuframes {

namespace {

std::string rational_problem(const char *name, const cuframes_rational &value) {
    const std::string shown = std::string(name) + " " + std::to_string(value.num) + "/" + std::to_string(value.den);
    if (value.num < 0 || value.den < 0) return shown + " is negative";
    if (value.num != 0 && value.den == 0) return shown + " has a zero denominator (use 0/0 for unknown)";
    return "";
}

std::string code_point_problem(const char *name, uint32_t value, uint32_t largest) {
    if (value <= largest) return "";
    return std::string(name) + " " + std::to_string(value) + " is not an ITU-T H.273 code point (0.." +
           std::to_string(largest) + "; 2 is unspecified)";
}

}  // namespace

std::string stream_facts_problem(const StreamFacts &facts) {
    for (const std::string &problem :
         {rational_problem("time_base", facts.time_base), rational_problem("frame_rate", facts.frame_rate),
          rational_problem("sample_aspect_ratio", facts.sample_aspect_ratio),
          code_point_problem("color_matrix", facts.color_matrix, kMaxColorMatrix),
          code_point_problem("color_primaries", facts.color_primaries, kMaxColorPrimaries),
          code_point_problem("color_transfer", facts.color_transfer, kMaxColorTransfer)}) {
        if (!problem.empty()) return problem;
    }
    if (facts.color_range > CUFRAMES_COLOR_RANGE_FULL)
        return "color_range " + std::to_string(facts.color_range) + " is not 0 (unspecified), 1 (limited) or 2 (full)";
    for (uint8_t byte : facts.reserved)
        if (byte != 0) return "the stream facts' reserved bytes are not zero";
    return "";
}

}  // namespace cuframes
