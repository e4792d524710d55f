"""Non-blocking UDP sockets on 127.0.0.1 for the tests' RTP peers."""

from __future__ import annotations

import socket


def udp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


def received(sock: socket.socket) -> list[bytes]:
    """Every datagram waiting on the socket."""
    out = []
    while True:
        try:
            out.append(sock.recv(65535))
        except BlockingIOError:
            return out
