// Reading a fuzz input as a stream of fields, and writing seed inputs.
//
// Both targets read their input front to back with ByteReader: a field past
// the end reads as zero, so any prefix of a valid input is itself a valid
// (shorter, zero-padded) input and the fuzzer never needs to get a length
// right. Seeds are written with SeedWriter, the mirror image, so the seed
// code reads like the input format it produces.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace cuframes_fuzz {

class ByteReader {
public:
    ByteReader(const uint8_t *data, size_t size) : data_(data), size_(size) {}

    size_t remaining() const { return size_ - position_; }
    uint8_t u8() {
        uint8_t value = 0;
        bytes(&value, 1);
        return value;
    }
    uint16_t u16() {
        uint16_t value = 0;
        bytes(&value, sizeof value);
        return value;
    }
    uint32_t u32() {
        uint32_t value = 0;
        bytes(&value, sizeof value);
        return value;
    }
    uint64_t u64() {
        uint64_t value = 0;
        bytes(&value, sizeof value);
        return value;
    }
    // Copies up to `count` bytes into out and zero-fills the rest.
    void bytes(void *out, size_t count) {
        size_t available = std::min(count, remaining());
        if (available > 0) std::memcpy(out, data_ + position_, available);
        if (available < count) std::memset(static_cast<uint8_t *>(out) + available, 0, count - available);
        position_ += available;
    }
    // The next `count` bytes (fewer at the end), without copying.
    std::vector<uint8_t> take(size_t count) {
        size_t available = std::min(count, remaining());
        std::vector<uint8_t> out(data_ + position_, data_ + position_ + available);
        position_ += available;
        return out;
    }

private:
    const uint8_t *data_;
    size_t size_;
    size_t position_ = 0;
};

class SeedWriter {
public:
    SeedWriter &u8(uint8_t value) { return bytes(&value, 1); }
    SeedWriter &u16(uint16_t value) { return bytes(&value, sizeof value); }
    SeedWriter &u32(uint32_t value) { return bytes(&value, sizeof value); }
    SeedWriter &u64(uint64_t value) { return bytes(&value, sizeof value); }
    SeedWriter &bytes(const void *data, size_t count) {
        const auto *first = static_cast<const uint8_t *>(data);
        out_.insert(out_.end(), first, first + count);
        return *this;
    }
    const std::vector<uint8_t> &data() const { return out_; }

private:
    std::vector<uint8_t> out_;
};

// Writes a seed as <dir>/<name>; returns false (and says why) on failure.
inline bool save_seed(const std::string &dir, const std::string &name, const std::vector<uint8_t> &bytes) {
    std::string path = dir + "/" + name;
    FILE *file = std::fopen(path.c_str(), "wb");
    if (file == nullptr) {
        std::perror(path.c_str());
        return false;
    }
    bool ok = std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size();
    ok = std::fclose(file) == 0 && ok;
    if (!ok) std::perror(path.c_str());
    return ok;
}

}  // namespace cuframes_fuzz
