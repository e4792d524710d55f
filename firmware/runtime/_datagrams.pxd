# The C declarations of _datagrams.pyx that the compiled audio pump (media.pxd) calls directly.

cdef extern from "<sys/socket.h>" nogil:
    ctypedef unsigned int socklen_t
    ctypedef unsigned short sa_family_t
    struct sockaddr_storage:
        sa_family_t ss_family


cdef class SocketPair:
    cdef tuple _sockets
    cdef int _fds[2]
    cdef int _family[2]
    # The last sender per channel, as raw bytes and as the tuple handed out for them.
    cdef sockaddr_storage _from[2]
    cdef socklen_t _from_len[2]
    cdef list _from_addr
    # The last destination per channel: the tuple it was given as, and its parsed form.
    cdef sockaddr_storage _to[2]
    cdef socklen_t _to_len[2]
    cdef list _to_addr

    cpdef int waiting(self) except -1
    cpdef receive(self, int channel)
    cdef object _sender(self, int channel, sockaddr_storage *peer, socklen_t length)
    cpdef send(self, int channel, bytes data, tuple addr)
    cdef bint _parse(self, int channel, tuple addr) except -1
