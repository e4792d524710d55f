"""The audio pump's socket work on a call's RTP and RTCP sockets: which of the two has datagrams
waiting, one datagram in with the kernel's arrival stamp, one datagram out.

Two implementations of the one class `SocketPair`. `_datagrams.pyx`, which setup.py compiles on
Linux, calls poll, recvmsg and sendto itself: the receive side in Python's socket module builds
a list of ancillary tuples, a stamp to unpack and an address tuple for every datagram, and after
the pump's 20 ms sleep that cold code costs more than the kernel's part (docs/benchmarks.md).
`PySocketPair` below does the same with the socket module; it runs where the compiled one is not
built (the emulator on macOS, an install without a C compiler, the wheel flash.sh builds for a
board). tests/runtime/test_datagrams.py runs both through the same checks.
"""

from __future__ import annotations

import select
import socket
import struct
import sys
from typing import Any

RTP = 0  # the channels of a pair, and their bits in `SocketPair.waiting()`
RTCP = 1
RECV_BYTES = 4096  # more than any G.711 packet (120 ms: 972 bytes) or RTCP report we read

# Linux's SO_TIMESTAMPNS (not in Python's socket module): the kernel stamps each datagram with
# its arrival time (CLOCK_REALTIME, struct timespec). The value and layout are asm-generic's (x86,
# ARM, RISC-V), the "old" option whose timespec has native longs also on 32-bit ARM. Elsewhere
# (the emulator on macOS) a datagram has no stamp and counts as arrived at the tick that reads
# it: the jitter buffer then sees up to 20 ms of jitter and plays out that much later.
SO_TIMESTAMPNS = 35 if sys.platform == "linux" else None
_TIMESPEC = struct.Struct("@ll")
_ANCILLARY_BYTES = socket.CMSG_SPACE(_TIMESPEC.size) if SO_TIMESTAMPNS else 0
# Plain ints: `flags & socket.MSG_TRUNC` runs the enum module's Python code on every datagram.
_MSG_TRUNC = int(socket.MSG_TRUNC)
_SOL_SOCKET = int(socket.SOL_SOCKET)
_TIMESPEC_BYTES = _TIMESPEC.size
_unpack_timespec = _TIMESPEC.unpack


class PySocketPair:
    """A call's RTP and RTCP sockets (non-blocking, bound), as the pump's thread uses them.

    The pair does not own the sockets: whoever opened them closes them, after the last use."""

    def __init__(self, rtp: socket.socket, rtcp: socket.socket) -> None:
        self._sockets = (rtp, rtcp)
        self._rtp_fd = rtp.fileno()
        # Which of the two has datagrams waiting, in one syscall: a recvmsg that finds nothing
        # raises BlockingIOError, which costs more than this poll.
        self._poller = select.poll()
        self._poller.register(rtp, select.POLLIN)
        self._poller.register(rtcp, select.POLLIN)

    def waiting(self) -> int:
        """Bit 1 << RTP and bit 1 << RTCP: the socket has a datagram (or an error) waiting."""
        bits = 0
        for fd, _events in self._poller.poll(0):
            bits |= 1 << (RTP if fd == self._rtp_fd else RTCP)
        return bits

    def receive(self, channel: int) -> tuple[bytes, tuple[str, int], int] | None:
        """One waiting datagram as (data, (host, port), stamp), or None when none waits.

        data is b"" for a datagram longer than RECV_BYTES (cut short, it could parse as a shorter
        packet); stamp is the kernel's arrival time in CLOCK_REALTIME ns, 0 without one.
        OSError: an error the socket had queued (an ICMP report), now cleared."""
        try:
            data, ancillary, flags, addr = self._sockets[channel].recvmsg(
                RECV_BYTES, _ANCILLARY_BYTES
            )
        except BlockingIOError:
            return None
        if flags & _MSG_TRUNC:
            data = b""
        stamp = 0
        for level, kind, value in ancillary:
            if level == _SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) == _TIMESPEC_BYTES:
                seconds, nanoseconds = _unpack_timespec(value)
                stamp = seconds * 1_000_000_000 + nanoseconds
        return data, (addr[0], addr[1]), stamp

    def send(self, channel: int, data: bytes, addr: tuple[str, int]) -> None:
        """Send one datagram; OSError when the kernel refuses it (a full buffer, no route)."""
        self._sockets[channel].sendto(data, addr)


def _compiled() -> Any:
    """setup.py's build of _datagrams.pyx, or None where there is none."""
    if sys.platform != "linux":
        return None
    try:
        from firmware.runtime import _datagrams  # type: ignore[attr-defined]
    except ImportError:
        return None
    return _datagrams.SocketPair


CSocketPair = _compiled()
SocketPair: Any = CSocketPair or PySocketPair
IMPLEMENTATION = "Python" if CSocketPair is None else "compiled"
