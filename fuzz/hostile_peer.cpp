#include "hostile_peer.hpp"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "protocol/wire.hpp"

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

namespace cuframes_fuzz {
namespace {

using cuframes::UniqueFd;

// The harness failing is not a finding about cuframes: say so and stop.
void require(bool ok, const char *what) {
    if (ok) return;
    std::fprintf(stderr, "fuzz harness: %s failed: %s\n", what, std::strerror(errno));
    std::abort();
}

UniqueFd make_memfd(bool sealable, uint64_t size, const std::vector<uint8_t> &contents) {
    UniqueFd fd(::memfd_create("cuframes-fuzz", MFD_CLOEXEC | (sealable ? MFD_ALLOW_SEALING : 0u)));
    require(fd.valid(), "memfd_create");
    // A size the kernel refuses (beyond the file size limit) leaves it empty,
    // which the subscriber must refuse as too small.
    if (size > 0 && ::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) size = 0;
    size_t written = static_cast<size_t>(std::min<uint64_t>(contents.size(), size));
    if (written > 0)
        require(::pwrite(fd.get(), contents.data(), written, 0) == static_cast<ssize_t>(written), "pwrite");
    return fd;
}

void add_seals(int fd, Seals seals, bool write_sealed) {
    int flags = 0;
    switch (seals) {
        case Seals::Right:
            flags = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL | (write_sealed ? F_SEAL_FUTURE_WRITE : 0);
            break;
        case Seals::None: return;
        case Seals::ShrinkOnly: flags = F_SEAL_SHRINK; break;
        case Seals::All: flags = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL; break;
    }
    // Nothing maps the memfd yet, so even F_SEAL_WRITE cannot fail with EBUSY.
    require(::fcntl(fd, F_ADD_SEALS, flags) == 0, "F_ADD_SEALS");
}

UniqueFd other_end_closed(bool want_pipe) {
    int ends[2];
    if (want_pipe)
        require(::pipe2(ends, O_CLOEXEC) == 0, "pipe2");
    else
        require(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) == 0, "socketpair");
    ::close(ends[1]);
    return UniqueFd(ends[0]);
}

}  // namespace

UniqueFd make_descriptor(FdKind kind, uint64_t size, const std::vector<uint8_t> &contents, Seals seals,
                         bool write_sealed) {
    switch (kind) {
        case FdKind::Memfd: {
            UniqueFd fd = make_memfd(true, size, contents);
            add_seals(fd.get(), seals, write_sealed);
            return fd;
        }
        case FdKind::MemfdReadOnly: {
            UniqueFd fd = make_memfd(true, size, contents);
            add_seals(fd.get(), seals, write_sealed);
            std::string path = "/proc/self/fd/" + std::to_string(fd.get());
            UniqueFd read_only(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
            require(read_only.valid(), "re-opening a memfd read-only");
            return read_only;
        }
        case FdKind::MemfdUnsealable: return make_memfd(false, size, contents);
        case FdKind::Pipe: return other_end_closed(true);
        case FdKind::Socket: return other_end_closed(false);
        case FdKind::Eventfd: {
            UniqueFd fd(::eventfd(0, EFD_CLOEXEC));
            require(fd.valid(), "eventfd");
            return fd;
        }
        case FdKind::DevNull: {
            UniqueFd fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
            require(fd.valid(), "open /dev/null");
            return fd;
        }
        case FdKind::RegularFile: {
            UniqueFd fd(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
            require(fd.valid(), "open /proc/self/exe");
            return fd;
        }
    }
    std::abort();  // every enumerator is handled above
}

std::vector<uint8_t> frame_message(uint32_t magic, uint16_t version, uint16_t type, uint32_t body_bytes_field,
                                   uint32_t fd_count_field, const void *body, size_t body_size) {
    cuframes::MessageHeader header{magic, version, type, body_bytes_field, fd_count_field};
    std::vector<uint8_t> out(sizeof header + body_size);
    std::memcpy(out.data(), &header, sizeof header);
    if (body_size > 0) std::memcpy(out.data() + sizeof header, body, body_size);
    return out;
}

bool send_raw(int socket, const void *bytes, size_t size, const int *fds, size_t fd_count) {
    fd_count = std::min(fd_count, cuframes::kScmMaxFd);
    return cuframes::send_with_descriptors(socket, bytes, size, fds, fd_count, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0;
}

bool drain(int socket) {
    while (true) {
        std::array<uint8_t, 4096> buffer{};
        iovec io{buffer.data(), buffer.size()};
        alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * cuframes::kScmMaxFd)> control{};
        msghdr message{};
        message.msg_iov = &io;
        message.msg_iovlen = 1;
        message.msg_control = control.data();
        message.msg_controllen = control.size();
        ssize_t received = ::recvmsg(socket, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (received < 0 && errno == EINTR) continue;
        for (cmsghdr *entry = CMSG_FIRSTHDR(&message); received >= 0 && entry != nullptr;
             entry = CMSG_NXTHDR(&message, entry)) {
            if (entry->cmsg_level != SOL_SOCKET || entry->cmsg_type != SCM_RIGHTS) continue;
            size_t count = (entry->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < count; ++i) {
                int fd;
                std::memcpy(&fd, CMSG_DATA(entry) + i * sizeof(int), sizeof fd);
                ::close(fd);
            }
        }
        if (received < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
        if (received == 0) return false;
    }
}

std::string make_scratch_dir() {
    const char *tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/cuframes-fuzz-XXXXXX";
    std::vector<char> name(pattern.begin(), pattern.end());
    name.push_back('\0');
    require(::mkdtemp(name.data()) != nullptr, "mkdtemp");
    return name.data();
}

}  // namespace cuframes_fuzz
