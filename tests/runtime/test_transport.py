"""SIP transports on loopback: UDP, TCP framing, replies on the same connection, connecting."""

from __future__ import annotations

import asyncio
import socket

import pytest

from firmware.runtime.transport import Addr, SipTransport

OPTIONS = (
    b"OPTIONS sip:door@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKx\r\n"
    b"From: <sip:a@b>;tag=1\r\nTo: <sip:door@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n"
    b"Max-Forwards: 70\r\nContent-Length: 4\r\n\r\nbody"
)


class Inbox:
    def __init__(self) -> None:
        self.items: asyncio.Queue[tuple[bytes, Addr, str]] = asyncio.Queue()

    def __call__(self, data: bytes, addr: Addr, transport: str) -> None:
        self.items.put_nowait((data, addr, transport))

    async def get(self) -> tuple[bytes, Addr, str]:
        return await asyncio.wait_for(self.items.get(), 5)


@pytest.mark.timeout(20)
def test_udp_and_tcp_round_trips() -> None:
    async def scenario() -> None:
        inbox_a, inbox_b = Inbox(), Inbox()
        a, b = SipTransport(inbox_a), SipTransport(inbox_b)
        addr_a = await a.start("127.0.0.1", 0)
        addr_b = await b.start("127.0.0.1", 0)
        try:
            a.send(OPTIONS, addr_b, "udp")
            data, source, kind = await inbox_b.get()
            assert (data, source, kind) == (OPTIONS, addr_a, "udp")

            # TCP: a connects on demand; b answers on the same connection (a's ephemeral port).
            a.send(OPTIONS + OPTIONS, addr_b, "tcp")
            first, peer, kind = await inbox_b.get()
            second, peer2, _ = await inbox_b.get()
            assert first == second == OPTIONS and kind == "tcp" and peer == peer2
            assert peer != addr_a  # the connection's own source port
            b.send(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", peer, "tcp")
            reply, source, kind = await inbox_a.get()
            assert reply.startswith(b"SIP/2.0 200 OK") and source == addr_b and kind == "tcp"
            assert len(b._connections) == 1
        finally:
            await a.close()
            await b.close()

    asyncio.run(scenario())


@pytest.mark.timeout(20)
def test_tcp_partial_writes_and_framing_error_closes() -> None:
    async def scenario() -> None:
        inbox = Inbox()
        server = SipTransport(inbox)
        host, port = await server.start("127.0.0.1", 0)
        try:
            reader, writer = await asyncio.open_connection(host, port)
            for i in range(0, len(OPTIONS), 7):  # dribble the message in small pieces
                writer.write(OPTIONS[i : i + 7])
                await writer.drain()
                await asyncio.sleep(0.001)
            data, _, _ = await inbox.get()
            assert data == OPTIONS
            writer.write(b"OPTIONS sip:x SIP/2.0\r\nContent-Length: -1\r\n\r\n")
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the server
            writer.close()
        finally:
            await server.close()

    asyncio.run(scenario())


@pytest.mark.timeout(20)
def test_send_to_unreachable_tcp_peer_does_not_raise_and_reports_the_failure() -> None:
    async def scenario() -> None:
        failures: list[tuple[Addr, str]] = []
        transport = SipTransport(Inbox(), lambda addr, kind: failures.append((addr, kind)))
        await transport.start("127.0.0.1", 0)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed_port = probe.getsockname()[1]
        try:
            transport.send(OPTIONS, ("127.0.0.1", closed_port), "tcp")
            await asyncio.sleep(0.2)
            assert transport._connections == {}
            # For the agent's transport_failed: the address as the agent gave it.
            assert failures == [(("127.0.0.1", closed_port), "tcp")]
            transport.send(OPTIONS, ("no-such-host.invalid", 5060), "udp")
            for _ in range(100):  # a name that does not resolve (RFC 6761), however slowly
                if len(failures) > 1:
                    break
                await asyncio.sleep(0.05)
            assert failures[1:] == [(("no-such-host.invalid", 5060), "udp")]
        finally:
            await transport.close()

    asyncio.run(scenario())
