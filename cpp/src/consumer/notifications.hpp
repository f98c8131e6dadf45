// The descriptor a subscriber with SubscriberOptions::notify hands to its
// event loop (asyncio, epoll, select): an epoll set that holds the socket to
// the producer, which writes a byte on it after each frame or packet. A
// reconnecting subscriber whose producer hung up watches the socket folder
// instead (inotify), so the loop wakes when a successor may be up, not
// constantly on the dead socket's end-of-file.
#pragma once

#include <string>

#include "base/unique_fd.hpp"

namespace cuframes {

class Notifications {
public:
    // Watches `socket` (owned by the caller's connection). Throws OS.
    Notifications(const std::string &key, const std::string &dir, int socket);
    Notifications(const Notifications &) = delete;
    Notifications &operator=(const Notifications &) = delete;

    // What the user polls: readable when the subscriber may have something new.
    int fd() const noexcept { return epoll_.get(); }
    // The subscriber reconnected from `old_socket` (still open) to `new_socket`.
    void follow(int old_socket, int new_socket) noexcept;
    // The producer hung up and the subscriber follows the key: stop watching
    // its socket, watch the folder for the successor's. Without inotify the
    // descriptor stays quiet until the loop's own timeout (docs/asyncio.md).
    void wait_for_successor() noexcept;
    // Reads the folder's queued events, if it is watched.
    void drain_folder_events() noexcept;

private:
    void stop_watching(int fd) noexcept;

    std::string key_;
    std::string dir_;
    UniqueFd epoll_;
    int socket_ = -1;  // watched now; -1 while the folder is
    UniqueFd folder_;  // inotify, while waiting for a successor
    bool folder_failure_logged_ = false;
};

}  // namespace cuframes
