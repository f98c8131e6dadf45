#include "consumer/notifications.hpp"

#include <sys/epoll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "cuframes/error.hpp"

namespace cuframes {
namespace {

// Level-triggered: readable for as long as bytes (or the end) are queued,
// which is what select() and asyncio's add_reader expect of a descriptor.
int watch(int epoll, int fd) noexcept {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fd;
    return ::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) == 0 ? 0 : errno;
}

}  // namespace

Notifications::Notifications(const std::string &key, const std::string &dir, int socket)
    : key_(key), dir_(dir), epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
    if (!epoll_) throw_os_error("epoll_create1 for the notifications of '" + key + "'");
    if (int err = watch(epoll_.get(), socket); err != 0)
        throw_os_error("epoll_ctl(ADD) of the socket to the producer of '" + key + "'", err);
    socket_ = socket;
}

void Notifications::stop_watching(int fd) noexcept {
    // Fails only if fd is not in the set, which is the goal.
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

void Notifications::follow(int old_socket, int new_socket) noexcept {
    if (socket_ == old_socket) stop_watching(old_socket);
    if (folder_) {
        stop_watching(folder_.get());
        folder_.reset();
    }
    socket_ = -1;
    if (int err = watch(epoll_.get(), new_socket); err != 0) {
        // The frames still come through try_next(); only the wake-ups would not.
        std::fprintf(stderr, "cuframes: cannot watch the new producer of '%s' for notifications: %s\n", key_.c_str(),
                     std::strerror(err));
        return;
    }
    socket_ = new_socket;
}

void Notifications::wait_for_successor() noexcept {
    if (socket_ >= 0) stop_watching(socket_);
    socket_ = -1;
    if (folder_) return;
    // The successor binds its socket in the folder: a new name there is the
    // moment to look (and try_next() looks once right after this anyway).
    UniqueFd folder(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    int err = 0;
    if (!folder)
        err = errno;
    else if (::inotify_add_watch(folder.get(), dir_.c_str(), IN_CREATE | IN_MOVED_TO) < 0)
        err = errno;
    else
        err = watch(epoll_.get(), folder.get());
    if (err == 0) {
        folder_ = std::move(folder);
        return;
    }
    if (!folder_failure_logged_)
        std::fprintf(stderr,
                     "cuframes: cannot watch %s for the return of '%s' (%s): the notification descriptor stays "
                     "quiet until a producer is back; poll with a timeout meanwhile\n",
                     dir_.c_str(), key_.c_str(), std::strerror(err));
    folder_failure_logged_ = true;
}

void Notifications::drain_folder_events() noexcept {
    if (!folder_) return;
    alignas(inotify_event) char events[4096];
    while (true) {
        ssize_t got = ::read(folder_.get(), events, sizeof events);
        if (got > 0) continue;
        if (got < 0 && errno == EINTR) continue;
        return;  // EAGAIN: drained (anything else: the next look at the folder tries again)
    }
}

}  // namespace cuframes
