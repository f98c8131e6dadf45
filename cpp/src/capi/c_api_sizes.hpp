// How the C ABI's structs grow (cuframes.h, "How the ABI grows"): options
// read up to the caller's struct_size over the defaults, output structs
// written up to it, and the ABI 0 callers whose output structs had no size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "cuframes/cuframes.h"

namespace cuframes::c_api {

// The ABI 0 options ended where abi_version begins; a caller whose options end
// there (or before) gets its output structs in the ABI 0 layout.
constexpr size_t kAbi0PublisherOptionsSize = offsetof(cuframes_publisher_options, abi_version);
constexpr size_t kAbi0SubscriberOptionsSize = offsetof(cuframes_subscriber_options, abi_version);
constexpr size_t kAbi0PacketSubscriberOptionsSize = offsetof(cuframes_packet_subscriber_options, abi_version);
// The smallest options accepted end after `key`, the one field without a default.
template <typename Options>
constexpr size_t kSmallestOptionsSize = offsetof(Options, key) + sizeof(Options::key);

// The defaults at the library's full size (struct_size and abi_version set).
void fill_defaults(cuframes_publisher_options *options) noexcept;
void fill_defaults(cuframes_subscriber_options *options) noexcept;
void fill_defaults(cuframes_packet_subscriber_options *options) noexcept;

// *_options_init_size: the defaults in the caller's first `size` bytes, struct_size = size.
template <typename Options>
void init_sized(Options *out, uint32_t size) noexcept {
    if (out == nullptr || size < sizeof(uint32_t)) return;
    Options full;
    fill_defaults(&full);
    full.struct_size = size;
    const size_t known = size < sizeof(Options) ? size : sizeof(Options);
    std::memcpy(static_cast<void *>(out), &full, known);
    std::memset(reinterpret_cast<unsigned char *>(out) + known, 0, size - known);
}

// The caller's options at the library's size: its first struct_size bytes over
// the defaults. Throws INVALID_ARGUMENT (naming `function`) for a struct_size
// that ends before `key`, an implausibly large one, a non-zero tail beyond the
// library's fields, or abi_version 0 (the *_init helper was not called).
// `abi0_outputs` is set when the caller was built against the ABI 0 header.
template <typename Options>
Options read_options(const char *function, const Options &given, size_t abi0_size, bool *abi0_outputs);

// Writes `full` into `out` as the caller sized it: exactly out->struct_size
// bytes (the struct_size field itself keeps the caller's value; bytes beyond
// the library's struct are zeroed), or the ABI 0 layout when `abi0`. Throws
// INVALID_ARGUMENT for a struct_size that cannot be (call *_init first).
void write_output(const char *function, bool abi0, const cuframes_buffer &full, cuframes_buffer *out);
void write_output(const char *function, bool abi0, const cuframes_frame_info &full, cuframes_frame_info *out);
void write_output(const char *function, bool abi0, const cuframes_packet_info &full, cuframes_packet_info *out);
void write_output(const char *function, const cuframes_stream_facts &full, cuframes_stream_facts *out);
void write_output(const char *function, const cuframes_subscriber_info &full, cuframes_subscriber_info *out);

// The byte-level rule shared by all of the above.
// `init` names the struct's *_init helper, for the message.
void write_sized(const char *function, const char *init, const void *full, size_t full_size, void *out,
                 uint32_t out_size);

}  // namespace cuframes::c_api
