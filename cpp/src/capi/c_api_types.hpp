// The C handle types that more than one c_api*.cpp file opens up.
#pragma once

#include <optional>

#include "cuframes/publisher.hpp"

struct cuframes_publisher {
    cuframes::Publisher publisher;
    bool abi0_outputs;  // built against the ABI 0 header (c_api_sizes.hpp)
    // The frame between cuframes_publisher_acquire and _publish or _abort.
    // Declared after `publisher`, so destroyed first: dropped while it is open.
    std::optional<cuframes::WritableFrame> loaned;
};
