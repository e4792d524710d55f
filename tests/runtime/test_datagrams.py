"""The pump's socket work (firmware/runtime/datagrams.py) over loopback: both implementations of
SocketPair, the socket module's and the compiled one, through the same checks."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from firmware.runtime import datagrams
from firmware.runtime.datagrams import RECV_BYTES, RTCP, RTP, SO_TIMESTAMPNS
from firmware.runtime.media import RtpPorts

pytestmark = pytest.mark.timeout(30)

IMPLEMENTATIONS = [pytest.param(datagrams.PySocketPair, id="python")]
if datagrams.CSocketPair is not None:
    IMPLEMENTATIONS.append(pytest.param(datagrams.CSocketPair, id="compiled"))


def test_the_compiled_pair_is_the_one_in_use_where_it_is_built() -> None:
    # (Whether it is built and current: tests/runtime/test_compiled.py.)
    if datagrams.CSocketPair is None:
        assert datagrams.SocketPair is datagrams.PySocketPair
        assert datagrams.IMPLEMENTATION == "Python"
    else:
        assert datagrams.SocketPair is datagrams.CSocketPair
        assert datagrams.IMPLEMENTATION == "compiled"


class Rig:
    def __init__(self, kind: Any, host: str = "127.0.0.1") -> None:
        self.ports = RtpPorts(host, 43000, 43999)
        self.rtp, self.rtcp, self.port = self.ports.open_pair()
        self.pair = kind(self.rtp, self.rtcp)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.peer = socket.socket(family, socket.SOCK_DGRAM)
        self.peer.bind((host, 0))
        self.peer.settimeout(2)
        self.host = host

    def to(self, channel: int, data: bytes, peer: socket.socket | None = None) -> None:
        (peer or self.peer).sendto(data, (self.host, self.port + channel))

    def settle(self, bits: int) -> int:
        deadline = time.monotonic() + 2
        while (waiting := self.pair.waiting()) != bits and time.monotonic() < deadline:
            time.sleep(0.005)
        return waiting

    def close(self) -> None:
        for sock in (self.rtp, self.rtcp, self.peer):
            sock.close()
        self.ports.close()


@pytest.fixture(params=IMPLEMENTATIONS)
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    rig = Rig(request.param)
    yield rig
    rig.close()


def test_waiting_names_the_sockets_with_datagrams(rig: Rig) -> None:
    assert rig.pair.waiting() == 0
    rig.to(RTCP, b"rtcp")
    assert rig.settle(2) == 2
    rig.to(RTP, b"rtp")
    assert rig.settle(3) == 3
    assert rig.pair.receive(RTP)[0] == b"rtp"
    assert rig.settle(2) == 2
    assert rig.pair.receive(RTCP)[0] == b"rtcp"
    assert rig.settle(0) == 0


def test_a_datagram_comes_with_its_sender_and_the_kernels_arrival_stamp(rig: Rig) -> None:
    assert rig.pair.receive(RTP) is None
    # The kernel switches its stamps on a moment after the first socket asks (RtpPorts keeps
    # them on from then): wait for that, as a door does between start and a call.
    deadline = time.monotonic() + 2
    while True:
        before = time.time_ns()
        rig.to(RTP, b"probe")
        rig.settle(1)
        data, addr, stamp = rig.pair.receive(RTP)
        assert data == b"probe" and addr == rig.peer.getsockname()[:2]
        if SO_TIMESTAMPNS is None:
            assert stamp == 0
            return
        if stamp:
            break
        assert time.monotonic() < deadline, "the kernel never stamped a datagram"
    assert before - 10_000_000 <= stamp <= time.time_ns()  # CLOCK_REALTIME, ns
    assert rig.pair.receive(RTP) is None


def test_a_new_sender_gets_its_own_address(rig: Rig) -> None:
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))
    try:
        senders = [rig.peer, other, other, rig.peer]
        for number, sender in enumerate(senders):
            rig.to(RTP, b"%d" % number, sender)
        rig.settle(1)
        for number, sender in enumerate(senders):
            data, addr, _stamp = rig.pair.receive(RTP)
            assert data == b"%d" % number
            assert addr == sender.getsockname() and type(addr) is tuple
            assert type(addr[0]) is str and type(addr[1]) is int
    finally:
        other.close()


def test_an_oversized_datagram_comes_empty_and_the_next_one_whole(rig: Rig) -> None:
    rig.to(RTP, bytes(RECV_BYTES + 1))
    rig.to(RTP, bytes(range(256)) * 16)  # exactly RECV_BYTES
    rig.settle(1)
    assert rig.pair.receive(RTP)[0] == b""
    assert rig.pair.receive(RTP)[0] == bytes(range(256)) * 16


def test_send_follows_the_address_it_is_given(rig: Rig) -> None:
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))
    other.settimeout(2)
    try:
        peer = rig.peer.getsockname()
        rig.pair.send(RTP, b"one", peer)
        rig.pair.send(RTP, b"two", tuple(peer))  # an equal tuple, another object
        rig.pair.send(RTP, b"three", other.getsockname())
        rig.pair.send(RTCP, b"four", peer)
        rig.pair.send(RTP, b"five", peer)
        assert rig.peer.recvfrom(100) == (b"one", ("127.0.0.1", rig.port))
        assert rig.peer.recvfrom(100) == (b"two", ("127.0.0.1", rig.port))
        assert other.recvfrom(100) == (b"three", ("127.0.0.1", rig.port))
        assert rig.peer.recvfrom(100) == (b"four", ("127.0.0.1", rig.port + 1))
        assert rig.peer.recvfrom(100) == (b"five", ("127.0.0.1", rig.port))
    finally:
        other.close()


def test_errors_are_the_socket_modules(rig: Rig) -> None:
    # (An unconnected UDP socket is not told of ICMP errors, so receive has none to show here.)
    with pytest.raises(OSError):
        rig.pair.send(RTP, b"x", ("::1", 9))  # an IPv6 address on an IPv4 socket
    with pytest.raises(OverflowError):
        rig.pair.send(RTP, b"x", ("127.0.0.1", 70000))
    with pytest.raises(IndexError):
        rig.pair.receive(2)
    rig.rtp.close()
    with pytest.raises(OSError):
        rig.pair.receive(RTP)
    with pytest.raises(OSError):
        rig.pair.send(RTP, b"x", rig.peer.getsockname())


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
@pytest.mark.parametrize("kind", IMPLEMENTATIONS)
def test_ipv6(kind: Any) -> None:
    rig = Rig(kind, "::1")
    try:
        rig.to(RTP, b"six")
        rig.settle(1)
        data, addr, _stamp = rig.pair.receive(RTP)
        assert data == b"six" and addr == rig.peer.getsockname()[:2]
        rig.pair.send(RTCP, b"back", addr)
        assert rig.peer.recvfrom(100)[0] == b"back"
        with pytest.raises(OSError):
            rig.pair.send(RTP, b"x", ("127.0.0.1", 9))  # an IPv4 address on an IPv6 socket
    finally:
        rig.close()
