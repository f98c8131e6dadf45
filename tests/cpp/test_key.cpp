// Pins the key rules: a key becomes a file name (<dir>/<key>.sock), so it must
// never escape the folder or hide in it.
#include <gtest/gtest.h>

#include <string>

#include "cuframes/error.hpp"
#include "cuframes/types.hpp"

namespace {

// The status validate_key throws, or OK; the message goes to *message.
cuframes_status check(const std::string &key, std::string *message = nullptr) {
    try {
        cuframes::validate_key(key);
    } catch (const cuframes::Error &error) {
        if (message != nullptr) *message = error.what();
        return error.status();
    }
    return CUFRAMES_OK;
}

TEST(ValidateKey, AcceptsTheAllowedCharacters) {
    EXPECT_EQ(check("cam0"), CUFRAMES_OK);
    EXPECT_EQ(check("a"), CUFRAMES_OK);
    EXPECT_EQ(check("Front_Door-2.main"), CUFRAMES_OK);
    EXPECT_EQ(check("a.b"), CUFRAMES_OK);
    EXPECT_EQ(check("0123456789-_."), CUFRAMES_OK);
    EXPECT_EQ(check(std::string(64, 'k')), CUFRAMES_OK);
    EXPECT_EQ(CUFRAMES_MAX_KEY, 64);
}

TEST(ValidateKey, RejectsEmpty) {
    std::string message;
    EXPECT_EQ(check("", &message), CUFRAMES_ERR_INVALID_ARGUMENT);
    EXPECT_NE(message.find("empty"), std::string::npos) << message;
}

TEST(ValidateKey, RejectsMoreThan64Characters) {
    std::string message;
    EXPECT_EQ(check(std::string(65, 'k'), &message), CUFRAMES_ERR_INVALID_ARGUMENT);
    EXPECT_NE(message.find("64"), std::string::npos) << message;
    EXPECT_EQ(check(std::string(4096, 'k')), CUFRAMES_ERR_INVALID_ARGUMENT);
}

TEST(ValidateKey, RejectsPathSeparatorsAndParentReferences) {
    for (const std::string bad : {"a/b", "/abs", "b/", "..", "a..b", "x/../y", "a\\b"}) {
        EXPECT_EQ(check(bad), CUFRAMES_ERR_INVALID_ARGUMENT) << "'" << bad << "'";
    }
}

TEST(ValidateKey, RejectsEmbeddedNul) {
    EXPECT_EQ(check(std::string("cam\0evil", 8)), CUFRAMES_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(check(std::string("\0", 1)), CUFRAMES_ERR_INVALID_ARGUMENT);
}

TEST(ValidateKey, RejectsALeadingDot) {
    EXPECT_EQ(check(".hidden"), CUFRAMES_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(check("."), CUFRAMES_ERR_INVALID_ARGUMENT);
}

TEST(ValidateKey, RejectsOtherCharacters) {
    for (const std::string bad : {"a b", "tab\tkey", "new\nline", "caf\xc3\xa9", "a:b", "a*b", "$HOME", "k~"}) {
        std::string message;
        EXPECT_EQ(check(bad, &message), CUFRAMES_ERR_INVALID_ARGUMENT) << "'" << bad << "'";
        EXPECT_FALSE(message.empty());
    }
}

}  // namespace
