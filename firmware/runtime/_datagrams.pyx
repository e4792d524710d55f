# cython: language_level=3
"""datagrams.SocketPair in C: poll, recvmsg and sendto called directly (Linux; see datagrams.py).

The same behaviour as datagrams.PySocketPair, which tests/runtime/test_datagrams.py checks on
both. What it saves per datagram: the socket module's ancillary list, the stamp's unpacking and
a new address tuple (an address that repeats, as a call's peer does, is handed out again), and
on sending the parsing of the address (kept per channel while the stream's tuple is the same).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.exc cimport PyErr_SetFromErrno
from libc.errno cimport EAGAIN, EINTR, errno
from libc.string cimport memcmp, memcpy, memset


cdef extern from "<sys/socket.h>" nogil:
    struct sockaddr:
        sa_family_t sa_family
    struct iovec:
        void *iov_base
        size_t iov_len
    struct msghdr:
        void *msg_name
        socklen_t msg_namelen
        iovec *msg_iov
        size_t msg_iovlen
        void *msg_control
        size_t msg_controllen
        int msg_flags
    struct cmsghdr:
        size_t cmsg_len
        int cmsg_level
        int cmsg_type
    cmsghdr *CMSG_FIRSTHDR(msghdr *)
    cmsghdr *CMSG_NXTHDR(msghdr *, cmsghdr *)
    unsigned char *CMSG_DATA(cmsghdr *)
    size_t CMSG_LEN(size_t)
    ssize_t recvmsg(int, msghdr *, int)
    ssize_t sendto(int, const void *, size_t, int, const sockaddr *, socklen_t)
    int MSG_DONTWAIT, MSG_TRUNC, SOL_SOCKET, SOCK_DGRAM, AF_INET, AF_INET6

cdef extern from "<netinet/in.h>" nogil:
    struct sockaddr_in:
        unsigned short sin_port
    struct sockaddr_in6:
        unsigned short sin6_port
    unsigned short htons(unsigned short)
    unsigned short ntohs(unsigned short)

cdef extern from "<netdb.h>" nogil:
    struct addrinfo:
        int ai_flags
        int ai_family
        int ai_socktype
        socklen_t ai_addrlen
        sockaddr *ai_addr
    int getaddrinfo(const char *, const char *, const addrinfo *, addrinfo **)
    void freeaddrinfo(addrinfo *)
    int getnameinfo(const sockaddr *, socklen_t, char *, socklen_t, char *, socklen_t, int)
    int AI_NUMERICHOST, NI_NUMERICHOST

cdef extern from "<poll.h>" nogil:
    struct pollfd:
        int fd
        short events
        short revents
    int poll(pollfd *, unsigned long, int)
    short POLLIN

cdef enum:
    RECV_BYTES = 4096  # datagrams.RECV_BYTES
    SO_TIMESTAMPNS_OLD = 35  # datagrams.SO_TIMESTAMPNS: its timespec is two native longs
    HOST_BYTES = 1025  # NI_MAXHOST


cdef class SocketPair:
    """See datagrams.PySocketPair (the fields are in _datagrams.pxd)."""

    def __init__(self, rtp, rtcp):
        self._sockets = (rtp, rtcp)
        for channel in range(2):
            self._fds[channel] = self._sockets[channel].fileno()
            self._family[channel] = int(self._sockets[channel].family)
            self._from_len[channel] = 0
            self._to_len[channel] = 0
        self._from_addr = [None, None]
        self._to_addr = [None, None]

    cpdef int waiting(self) except -1:
        cdef pollfd fds[2]
        cdef int ready
        for channel in range(2):
            fds[channel].fd = self._fds[channel]
            fds[channel].events = POLLIN
            fds[channel].revents = 0
        while True:
            ready = poll(fds, 2, 0)
            if ready >= 0:
                break
            if errno != EINTR:
                PyErr_SetFromErrno(OSError)
        if ready == 0:
            return 0
        return (1 if fds[0].revents else 0) | (2 if fds[1].revents else 0)

    cpdef receive(self, int channel):
        cdef char data[RECV_BYTES]
        cdef size_t control[8]  # room for one cmsghdr and a timespec, aligned for both
        cdef sockaddr_storage peer
        cdef iovec vector
        cdef msghdr message
        cdef cmsghdr *item
        cdef long *timespec
        cdef long long stamp = 0
        cdef ssize_t size
        if channel != 0 and channel != 1:
            raise IndexError("no such channel")
        vector.iov_base = data
        vector.iov_len = RECV_BYTES
        while True:
            memset(&message, 0, sizeof(message))
            message.msg_name = &peer
            message.msg_namelen = sizeof(peer)
            message.msg_iov = &vector
            message.msg_iovlen = 1
            message.msg_control = control
            message.msg_controllen = sizeof(control)
            size = recvmsg(self._fds[channel], &message, MSG_DONTWAIT)
            if size >= 0:
                break
            if errno == EAGAIN:  # EWOULDBLOCK is the same on Linux
                return None
            if errno != EINTR:
                PyErr_SetFromErrno(OSError)
        item = CMSG_FIRSTHDR(&message)
        while item != NULL:
            if (item.cmsg_level == SOL_SOCKET and item.cmsg_type == SO_TIMESTAMPNS_OLD
                    and item.cmsg_len == CMSG_LEN(2 * sizeof(long))):
                timespec = <long *>CMSG_DATA(item)
                stamp = timespec[0] * 1000000000LL + timespec[1]
            item = CMSG_NXTHDR(&message, item)
        if message.msg_flags & MSG_TRUNC:
            size = 0
        return (PyBytes_FromStringAndSize(data, size),
                self._sender(channel, &peer, message.msg_namelen), stamp)

    cdef object _sender(self, int channel, sockaddr_storage *peer, socklen_t length):
        cdef char host[HOST_BYTES]
        cdef unsigned short port
        if (length == self._from_len[channel]
                and memcmp(peer, &self._from[channel], length) == 0):
            return self._from_addr[channel]
        if peer.ss_family == AF_INET6:
            port = ntohs((<sockaddr_in6 *>peer).sin6_port)
        elif peer.ss_family == AF_INET:
            port = ntohs((<sockaddr_in *>peer).sin_port)
        else:
            raise OSError("a datagram from an address of family %d" % peer.ss_family)
        if getnameinfo(<sockaddr *>peer, length, host, HOST_BYTES, NULL, 0, NI_NUMERICHOST):
            raise OSError("the address of a datagram could not be written out")
        addr = (host.decode("ascii"), port)
        memcpy(&self._from[channel], peer, length)
        self._from_len[channel] = length
        self._from_addr[channel] = addr
        return addr

    cpdef send(self, int channel, bytes data, tuple addr):
        if channel != 0 and channel != 1:
            raise IndexError("no such channel")
        if addr is not self._to_addr[channel] and not self._parse(channel, addr):
            self._sockets[channel].sendto(data, addr)  # a host name: the socket module resolves it
            return
        while sendto(self._fds[channel], PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), 0,
                     <sockaddr *>&self._to[channel], self._to_len[channel]) < 0:
            if errno != EINTR:
                PyErr_SetFromErrno(OSError)

    cdef bint _parse(self, int channel, tuple addr) except -1:
        """Keep addr's numeric host and port for the channel; False for a host name."""
        cdef addrinfo hints
        cdef addrinfo *found
        host, port = addr
        if not 0 <= port <= 0xFFFF:
            raise OverflowError("port must be 0-65535.")
        memset(&hints, 0, sizeof(hints))
        hints.ai_flags = AI_NUMERICHOST
        hints.ai_family = self._family[channel]
        hints.ai_socktype = SOCK_DGRAM
        encoded = host.encode("idna")
        if getaddrinfo(encoded, NULL, &hints, &found) != 0:
            return False
        try:
            if found.ai_addrlen > sizeof(sockaddr_storage):
                return False
            memcpy(&self._to[channel], found.ai_addr, found.ai_addrlen)
            self._to_len[channel] = found.ai_addrlen
        finally:
            freeaddrinfo(found)
        if self._to[channel].ss_family == AF_INET6:
            (<sockaddr_in6 *>&self._to[channel]).sin6_port = htons(port)
        else:
            (<sockaddr_in *>&self._to[channel]).sin_port = htons(port)
        self._to_addr[channel] = addr
        return True
