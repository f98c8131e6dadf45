// receive_message against a peer that closes with our message unread: Linux
// then reports ECONNRESET before the messages that peer sent first. A
// producer refusing a subscriber does exactly that when the subscriber's
// hello lands after the producer drained its queue; the subscriber must still
// read the Reject (and raise its status), not a bare "reset the connection".
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstring>
#include <string>

#include "base/unique_fd.hpp"
#include "cuframes/error.hpp"
#include "protocol/wire.hpp"

namespace {

using cuframes::UniqueFd;

struct Pair {
    UniqueFd ours;
    UniqueFd theirs;
};

// A connected pair; both invalid if socketpair failed (the caller asserts).
Pair seqpacket_pair() {
    int fds[2] = {-1, -1};
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0)
        ADD_FAILURE() << "socketpair: " << std::strerror(errno);
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// The message receive_message throws on socket, which must be DISCONNECTED.
std::string disconnection(int socket) {
    try {
        cuframes::receive_message(socket, 1000, "the producer");
    } catch (const cuframes::Error &error) {
        EXPECT_EQ(error.status(), CUFRAMES_ERR_DISCONNECTED);
        return error.what();
    }
    ADD_FAILURE() << "a message came from a peer with none left to send";
    return "";
}

void send_hello(int socket) {
    cuframes::HelloBody hello{};
    hello.client_version = cuframes::kProtocolVersion;
    cuframes::send_message(socket, cuframes::MessageType::Hello, &hello, sizeof hello);
}

TEST(ReceiveMessage, ReadsTheRejectSentBeforeAResetClose) {
    Pair pair = seqpacket_pair();
    ASSERT_TRUE(pair.ours.valid() && pair.theirs.valid());
    cuframes::send_reject(pair.theirs.get(), CUFRAMES_ERR_LIMIT, "too many handshakes");
    send_hello(pair.ours.get());  // left unread: the close below resets
    pair.theirs.reset();

    cuframes::ReceivedMessage message = cuframes::receive_message(pair.ours.get(), 1000, "the producer");
    ASSERT_EQ(message.type(), cuframes::MessageType::Reject);
    auto reject = message.body_as<cuframes::RejectBody>("reject");
    EXPECT_EQ(reject.status, static_cast<uint32_t>(CUFRAMES_ERR_LIMIT));
    EXPECT_STREQ(reject.reason, "too many handshakes");

    // Then the end: the reset was reported (and consumed) by the first read, so this one
    // finds the hung-up socket empty.
    std::string what = disconnection(pair.ours.get());
    EXPECT_NE(what.find("the producer closed the connection"), std::string::npos) << what;
}

TEST(ReceiveMessage, AResetWithNothingQueuedIsDisconnected) {
    Pair pair = seqpacket_pair();
    ASSERT_TRUE(pair.ours.valid() && pair.theirs.valid());
    send_hello(pair.ours.get());
    pair.theirs.reset();
    std::string what = disconnection(pair.ours.get());
    EXPECT_NE(what.find("the producer reset the connection"), std::string::npos) << what;
}

TEST(ReceiveMessage, AnOrderlyCloseIsDisconnected) {
    Pair pair = seqpacket_pair();
    ASSERT_TRUE(pair.ours.valid() && pair.theirs.valid());
    pair.theirs.reset();
    std::string what = disconnection(pair.ours.get());
    EXPECT_NE(what.find("the producer closed the connection"), std::string::npos) << what;
}

}  // namespace
