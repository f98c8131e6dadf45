// Pins the public Annex-B API (cuframes/annexb.hpp) on the cases of
// annexb_cases.txt, which tests/test_annexb.py checks the Python wrapper
// against too: start codes of 3 and 4 bytes, zeros around units, emulation
// prevention, empty input, and the H.264 and H.265 NAL unit types.
#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cuframes/annexb.hpp"
#include "cuframes/packets.hpp"

namespace {

using Bytes = std::vector<uint8_t>;

std::string trimmed(const std::string &text) {
    size_t begin = text.find_first_not_of(" \t");
    if (begin == std::string::npos) return "";
    return text.substr(begin, text.find_last_not_of(" \t") + 1 - begin);
}

std::vector<std::string> split(const std::string &text, char separator) {
    std::vector<std::string> parts;
    std::stringstream stream(text);
    for (std::string part; std::getline(stream, part, separator);) parts.push_back(trimmed(part));
    if (!text.empty() && text.back() == separator) parts.push_back("");
    return parts;
}

Bytes from_hex(const std::string &text) {
    std::string digits;
    for (char c : text)
        if (!std::isspace(static_cast<unsigned char>(c))) digits += c;
    Bytes bytes;
    for (size_t i = 0; i + 1 < digits.size(); i += 2)
        bytes.push_back(static_cast<uint8_t>(std::stoul(digits.substr(i, 2), nullptr, 16)));
    return bytes;
}

struct Case {
    std::string name;
    cuframes_codec codec;
    Bytes input;
    std::vector<Bytes> units;
    std::vector<uint8_t> types;
    Bytes parameter_sets;
    bool starts_with_start_code;
    bool random_access;
};

std::vector<Case> load_cases() {
    std::string path = std::string(__FILE__).substr(0, std::string(__FILE__).rfind('/')) + "/annexb_cases.txt";
    std::ifstream file(path);
    if (!file) throw std::runtime_error("cannot read " + path);
    std::vector<Case> cases;
    for (std::string line; std::getline(file, line);) {
        if (trimmed(line).empty() || line[0] == '#') continue;
        std::vector<std::string> f = split(line, '|');
        if (f.size() != 8) throw std::runtime_error("malformed case in " + path + ": " + line);
        Case c{f[0], cuframes::parse_codec(f[1]), from_hex(f[2]), {}, {}, from_hex(f[5]), f[6] == "1", f[7] == "1"};
        if (!f[3].empty())
            for (const std::string &unit : split(f[3], ',')) c.units.push_back(from_hex(unit));
        if (!f[4].empty())
            for (const std::string &type : split(f[4], ',')) c.types.push_back(static_cast<uint8_t>(std::stoi(type)));
        cases.push_back(c);
    }
    return cases;
}

TEST(AnnexB, EveryCaseOfTheSharedTableHolds) {
    std::vector<Case> cases = load_cases();
    ASSERT_GE(cases.size(), 20u);
    for (const Case &c : cases) {
        SCOPED_TRACE(c.name);
        const uint8_t *data = c.input.empty() ? nullptr : c.input.data();
        size_t size = c.input.size();
        EXPECT_EQ(cuframes::starts_with_start_code(data, size), c.starts_with_start_code);
        std::vector<Bytes> units;
        for (const cuframes::NalUnit &unit : cuframes::find_nal_units(data, size)) {
            ASSERT_LE(unit.offset + unit.size, size);
            units.emplace_back(c.input.begin() + unit.offset, c.input.begin() + unit.offset + unit.size);
        }
        EXPECT_EQ(units, c.units);
        EXPECT_EQ(cuframes::nal_unit_types(c.codec, data, size), c.types);
        std::string sets = cuframes::extract_parameter_sets(c.codec, data, size);
        EXPECT_EQ(Bytes(sets.begin(), sets.end()), c.parameter_sets);
        bool random_access = false;
        for (uint8_t type : c.types) random_access = random_access || cuframes::is_random_access_type(c.codec, type);
        EXPECT_EQ(random_access, c.random_access);
    }
}

TEST(AnnexB, TheNalUnitTypeTables) {
    std::vector<int> h264_sets, hevc_sets, h264_random, hevc_random;
    for (int type = 0; type < 64; ++type) {
        auto t = static_cast<uint8_t>(type);
        if (cuframes::is_parameter_set_type(CUFRAMES_CODEC_H264, t)) h264_sets.push_back(type);
        if (cuframes::is_parameter_set_type(CUFRAMES_CODEC_HEVC, t)) hevc_sets.push_back(type);
        if (cuframes::is_random_access_type(CUFRAMES_CODEC_H264, t)) h264_random.push_back(type);
        if (cuframes::is_random_access_type(CUFRAMES_CODEC_HEVC, t)) hevc_random.push_back(type);
    }
    EXPECT_EQ(h264_sets, (std::vector<int>{7, 8}));
    EXPECT_EQ(hevc_sets, (std::vector<int>{32, 33, 34}));
    EXPECT_EQ(h264_random, (std::vector<int>{5}));
    EXPECT_EQ(hevc_random, (std::vector<int>{16, 17, 18, 19, 20, 21}));
    // The type lives in the low 5 bits (H.264), bits 1..6 (H.265).
    EXPECT_EQ(cuframes::nal_unit_type(CUFRAMES_CODEC_H264, 0x65), 5);
    EXPECT_EQ(cuframes::nal_unit_type(CUFRAMES_CODEC_H264, 0xe7), 7);
    EXPECT_EQ(cuframes::nal_unit_type(CUFRAMES_CODEC_HEVC, 0x40), 32);
    EXPECT_EQ(cuframes::nal_unit_type(CUFRAMES_CODEC_HEVC, 0x7f), 63);
}

TEST(AnnexB, ADecoderStartsWithAnSpsOrAVpsAndAnSps) {
    Bytes h264 = from_hex("00000001 6742001e 00000001 6588");
    Bytes pps_only = from_hex("00000001 68ce 00000001 6588");
    Bytes hevc = from_hex("000001 40010c 000001 420101 000001 2601af");
    Bytes hevc_without_vps = from_hex("000001 420101 000001 2601af");
    EXPECT_TRUE(cuframes::carries_parameter_sets(CUFRAMES_CODEC_H264, h264.data(), h264.size()));
    EXPECT_FALSE(cuframes::carries_parameter_sets(CUFRAMES_CODEC_H264, pps_only.data(), pps_only.size()));
    EXPECT_TRUE(cuframes::carries_parameter_sets(CUFRAMES_CODEC_HEVC, hevc.data(), hevc.size()));
    EXPECT_FALSE(
        cuframes::carries_parameter_sets(CUFRAMES_CODEC_HEVC, hevc_without_vps.data(), hevc_without_vps.size()));
    EXPECT_FALSE(cuframes::carries_parameter_sets(CUFRAMES_CODEC_H264, nullptr, 0));
}

}  // namespace
