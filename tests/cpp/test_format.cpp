// Pins the pixel-format API: names, parsing and the plane layout every backend
// and both language bindings rely on.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cuframes/error.hpp"
#include "cuframes/format.hpp"

namespace {

using cuframes::compute_layout;
using cuframes::FrameLayout;

const std::vector<cuframes_format> kAllFormats = {
    CUFRAMES_FORMAT_NV12,  CUFRAMES_FORMAT_P010, CUFRAMES_FORMAT_I420, CUFRAMES_FORMAT_RGB24,
    CUFRAMES_FORMAT_BGR24, CUFRAMES_FORMAT_RGBA, CUFRAMES_FORMAT_BGRA, CUFRAMES_FORMAT_GRAY8,
};

cuframes_status status_of(void (*call)()) {
    try {
        call();
    } catch (const cuframes::Error &error) {
        return error.status();
    }
    return CUFRAMES_OK;
}

struct ExpectedPlane {
    uint64_t offset;
    uint32_t pitch, width, height, row_bytes;
};

struct ExpectedLayout {
    cuframes_format format;
    uint32_t width, height;
    std::vector<ExpectedPlane> planes;
    uint64_t bytes, packed_bytes;
};

// Worked out by hand from the spec: pitch = row bytes rounded up to 256,
// planes back to back, chroma at half width and height.
const std::vector<ExpectedLayout> kExpected = {
    {CUFRAMES_FORMAT_NV12,
     1920,
     1080,
     {{0, 2048, 1920, 1080, 1920}, {2211840, 2048, 960, 540, 1920}},
     3317760,
     3110400},
    {CUFRAMES_FORMAT_P010,
     1920,
     1080,
     {{0, 3840, 1920, 1080, 3840}, {4147200, 3840, 960, 540, 3840}},
     6220800,
     6220800},
    {CUFRAMES_FORMAT_I420,
     1920,
     1080,
     {{0, 2048, 1920, 1080, 1920}, {2211840, 1024, 960, 540, 960}, {2764800, 1024, 960, 540, 960}},
     3317760,
     3110400},
    {CUFRAMES_FORMAT_RGB24, 1920, 1080, {{0, 5888, 1920, 1080, 5760}}, 6359040, 6220800},
    {CUFRAMES_FORMAT_BGR24, 1920, 1080, {{0, 5888, 1920, 1080, 5760}}, 6359040, 6220800},
    {CUFRAMES_FORMAT_RGBA, 1920, 1080, {{0, 7680, 1920, 1080, 7680}}, 8294400, 8294400},
    {CUFRAMES_FORMAT_BGRA, 1920, 1080, {{0, 7680, 1920, 1080, 7680}}, 8294400, 8294400},
    {CUFRAMES_FORMAT_GRAY8, 1920, 1080, {{0, 2048, 1920, 1080, 1920}}, 2211840, 2073600},
    {CUFRAMES_FORMAT_GRAY8, 33, 7, {{0, 256, 33, 7, 33}}, 1792, 231},
    {CUFRAMES_FORMAT_RGB24, 1, 1, {{0, 256, 1, 1, 3}}, 256, 3},
    {CUFRAMES_FORMAT_NV12, 2, 2, {{0, 256, 2, 2, 2}, {512, 256, 1, 1, 2}}, 768, 6},
    {CUFRAMES_FORMAT_I420,
     258,
     4,
     {{0, 512, 258, 4, 258}, {2048, 256, 129, 2, 129}, {2560, 256, 129, 2, 129}},
     3072,
     1548},
};

TEST(ComputeLayout, MatchesHandComputedLayouts) {
    for (const ExpectedLayout &expected : kExpected) {
        SCOPED_TRACE(std::string(cuframes::format_name(expected.format)) + " " + std::to_string(expected.width) + "x" +
                     std::to_string(expected.height));
        const FrameLayout layout = compute_layout(expected.format, expected.width, expected.height);
        EXPECT_EQ(layout.format, expected.format);
        EXPECT_EQ(layout.width, expected.width);
        EXPECT_EQ(layout.height, expected.height);
        ASSERT_EQ(layout.plane_count, expected.planes.size());
        for (size_t i = 0; i < expected.planes.size(); ++i) {
            SCOPED_TRACE("plane " + std::to_string(i));
            EXPECT_EQ(layout.planes[i].offset, expected.planes[i].offset);
            EXPECT_EQ(layout.planes[i].pitch, expected.planes[i].pitch);
            EXPECT_EQ(layout.planes[i].width, expected.planes[i].width);
            EXPECT_EQ(layout.planes[i].height, expected.planes[i].height);
            EXPECT_EQ(layout.planes[i].row_bytes, expected.planes[i].row_bytes);
        }
        EXPECT_EQ(layout.bytes, expected.bytes);
        EXPECT_EQ(layout.packed_bytes, expected.packed_bytes);
    }
}

TEST(ComputeLayout, CoversEveryFormat) {
    for (cuframes_format format : kAllFormats) {
        bool found = false;
        for (const ExpectedLayout &expected : kExpected) found = found || expected.format == format;
        EXPECT_TRUE(found) << cuframes::format_name(format) << " has no hand-computed layout above";
    }
}

TEST(ComputeLayout, InvariantsHoldForEveryFormatAndManySizes) {
    const uint32_t sizes[] = {2, 6, 128, 254, 256, 258, 640, 1278, 4096, 16384};
    for (cuframes_format format : kAllFormats) {
        for (uint32_t width : sizes) {
            for (uint32_t height : {2u, 480u, 1080u}) {
                SCOPED_TRACE(std::string(cuframes::format_name(format)) + " " + std::to_string(width) + "x" +
                             std::to_string(height));
                const FrameLayout layout = compute_layout(format, width, height);
                uint64_t end = 0;
                uint64_t packed = 0;
                for (uint32_t i = 0; i < layout.plane_count; ++i) {
                    const cuframes_plane &plane = layout.planes[i];
                    EXPECT_EQ(plane.pitch % CUFRAMES_PITCH_ALIGN, 0u);
                    EXPECT_GE(plane.pitch, plane.row_bytes);
                    EXPECT_LT(plane.pitch, plane.row_bytes + CUFRAMES_PITCH_ALIGN);
                    EXPECT_EQ(plane.row_bytes, plane.width * cuframes::channels_in_plane(format, i) *
                                                   cuframes::bytes_per_channel(format));
                    EXPECT_EQ(plane.offset, end) << "planes are packed back to back";
                    end = plane.offset + static_cast<uint64_t>(plane.pitch) * plane.height;
                    packed += static_cast<uint64_t>(plane.row_bytes) * plane.height;
                }
                EXPECT_EQ(layout.bytes, end);
                EXPECT_EQ(layout.packed_bytes, packed);
                if (format == CUFRAMES_FORMAT_NV12 || format == CUFRAMES_FORMAT_P010) {
                    // The whole frame is one 2-D array of h*3/2 rows.
                    EXPECT_EQ(layout.planes[1].offset, static_cast<uint64_t>(layout.planes[0].pitch) * height);
                    EXPECT_EQ(layout.planes[1].pitch, layout.planes[0].pitch);
                    EXPECT_EQ(layout.planes[1].row_bytes, layout.planes[0].row_bytes);
                    EXPECT_EQ(layout.bytes, static_cast<uint64_t>(layout.planes[0].pitch) * height * 3 / 2);
                }
            }
        }
    }
}

TEST(ComputeLayout, RejectsOutOfRangeSizes) {
    for (cuframes_format format : kAllFormats) {
        for (auto size : std::vector<std::pair<uint32_t, uint32_t>>{
                 {0, 480}, {640, 0}, {16386, 480}, {640, 16386}, {0xFFFFFFFFu, 2}}) {
            try {
                compute_layout(format, size.first, size.second);
                ADD_FAILURE() << cuframes::format_name(format) << " accepted " << size.first << "x" << size.second;
            } catch (const cuframes::Error &error) {
                EXPECT_EQ(error.status(), CUFRAMES_ERR_INVALID_ARGUMENT) << error.what();
            }
        }
    }
}

TEST(ComputeLayout, OddSizesOnlyForFormatsWithoutSubsampling) {
    for (cuframes_format format : kAllFormats) {
        const bool subsampled =
            format == CUFRAMES_FORMAT_NV12 || format == CUFRAMES_FORMAT_P010 || format == CUFRAMES_FORMAT_I420;
        for (auto size : std::vector<std::pair<uint32_t, uint32_t>>{{641, 480}, {640, 481}, {1, 1}}) {
            SCOPED_TRACE(std::string(cuframes::format_name(format)) + " " + std::to_string(size.first) + "x" +
                         std::to_string(size.second));
            if (subsampled) {
                try {
                    compute_layout(format, size.first, size.second);
                    ADD_FAILURE() << "odd size accepted";
                } catch (const cuframes::Error &error) {
                    EXPECT_EQ(error.status(), CUFRAMES_ERR_INVALID_ARGUMENT);
                    EXPECT_NE(std::string(error.what()).find("even"), std::string::npos) << error.what();
                }
            } else {
                EXPECT_EQ(compute_layout(format, size.first, size.second).planes[0].width, size.first);
            }
        }
    }
    EXPECT_EQ(compute_layout(CUFRAMES_FORMAT_GRAY8, 16384, 16384).planes[0].pitch, 16384u);
}

TEST(ComputeLayout, UnknownFormatValueIsAFormatError) {
    EXPECT_EQ(status_of([] { compute_layout(static_cast<cuframes_format>(0), 64, 64); }), CUFRAMES_ERR_FORMAT);
    EXPECT_EQ(status_of([] { compute_layout(static_cast<cuframes_format>(15), 64, 64); }), CUFRAMES_ERR_FORMAT);
}

TEST(FormatNames, RoundTripForEveryFormat) {
    const std::vector<std::string> names = {"nv12", "p010", "i420", "rgb24", "bgr24", "rgba", "bgra", "gray8"};
    ASSERT_EQ(names.size(), kAllFormats.size());
    for (size_t i = 0; i < names.size(); ++i) {
        EXPECT_STREQ(cuframes::format_name(kAllFormats[i]), names[i].c_str());
        EXPECT_EQ(cuframes::parse_format(names[i]), kAllFormats[i]);
        EXPECT_TRUE(cuframes::is_known_format(static_cast<uint32_t>(kAllFormats[i])));
    }
}

TEST(FormatNames, ParsingIgnoresCase) {
    EXPECT_EQ(cuframes::parse_format("NV12"), CUFRAMES_FORMAT_NV12);
    EXPECT_EQ(cuframes::parse_format("Gray8"), CUFRAMES_FORMAT_GRAY8);
    EXPECT_EQ(cuframes::parse_format("BGRA"), CUFRAMES_FORMAT_BGRA);
}

TEST(FormatNames, UnknownNamesAreFormatErrorsThatListTheKnownOnes) {
    for (const std::string bad : {"", "yuv422", "nv12 ", "rgb", "nv21"}) {
        try {
            cuframes::parse_format(bad);
            ADD_FAILURE() << "'" << bad << "' parsed";
        } catch (const cuframes::Error &error) {
            EXPECT_EQ(error.status(), CUFRAMES_ERR_FORMAT);
            const std::string message = error.what();
            EXPECT_NE(message.find("'" + bad + "'"), std::string::npos) << message;
            EXPECT_NE(message.find("gray8"), std::string::npos) << "lists the known names: " << message;
        }
    }
}

TEST(FormatNames, UnknownValues) {
    EXPECT_FALSE(cuframes::is_known_format(0));
    EXPECT_FALSE(cuframes::is_known_format(9));
    EXPECT_EQ(status_of([] { cuframes::format_name(static_cast<cuframes_format>(13)); }), CUFRAMES_ERR_FORMAT);
}

TEST(FormatPlanes, NamesChannelsAndSampleSizes) {
    EXPECT_STREQ(cuframes::plane_name(CUFRAMES_FORMAT_NV12, 0), "y");
    EXPECT_STREQ(cuframes::plane_name(CUFRAMES_FORMAT_NV12, 1), "uv");
    EXPECT_STREQ(cuframes::plane_name(CUFRAMES_FORMAT_I420, 1), "u");
    EXPECT_STREQ(cuframes::plane_name(CUFRAMES_FORMAT_I420, 2), "v");
    EXPECT_STREQ(cuframes::plane_name(CUFRAMES_FORMAT_RGB24, 0), "rgb");
    EXPECT_STREQ(cuframes::plane_name(CUFRAMES_FORMAT_BGR24, 0), "bgr");
    EXPECT_STREQ(cuframes::plane_name(CUFRAMES_FORMAT_RGBA, 0), "rgba");
    EXPECT_STREQ(cuframes::plane_name(CUFRAMES_FORMAT_BGRA, 0), "bgra");
    EXPECT_STREQ(cuframes::plane_name(CUFRAMES_FORMAT_GRAY8, 0), "gray");
    EXPECT_EQ(cuframes::channels_in_plane(CUFRAMES_FORMAT_P010, 1), 2u);
    EXPECT_EQ(cuframes::channels_in_plane(CUFRAMES_FORMAT_RGB24, 0), 3u);
    EXPECT_EQ(cuframes::channels_in_plane(CUFRAMES_FORMAT_BGRA, 0), 4u);
    EXPECT_EQ(cuframes::bytes_per_channel(CUFRAMES_FORMAT_P010), 2u);
    EXPECT_EQ(cuframes::bytes_per_channel(CUFRAMES_FORMAT_NV12), 1u);
    EXPECT_EQ(status_of([] { cuframes::plane_name(CUFRAMES_FORMAT_NV12, 2); }), CUFRAMES_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(status_of([] { cuframes::channels_in_plane(CUFRAMES_FORMAT_GRAY8, 1); }), CUFRAMES_ERR_INVALID_ARGUMENT);
}

}  // namespace
