"""SIP transports: one UDP socket and a TCP listener with client connections, on one local address.

Incoming messages reach `on_message(data, addr, transport)` as whole messages (TCP streams are cut
by the core's StreamFramer). `send(data, addr, transport)` resolves host names, reuses a TCP
connection to or from `addr` (responses go back on the connection the request came on) and opens
one when there is none. When that fails (the name does not resolve, the TCP connect is refused or
times out) `on_failure(addr, transport)` is called, for the agent's `transport_failed` (RFC 3261
18.4: the transaction fails at once instead of waiting for its timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable

from firmware.core.sip.message import StreamFramer
from firmware.core.sip.syntax import SipParseError

log = logging.getLogger("intercom.sip")

Addr = tuple[str, int]
OnMessage = Callable[[bytes, Addr, str], None]
OnFailure = Callable[[Addr, str], None]

# A stream connection that has been silent this long is closed (RFC 5626 keep-alives aside).
TCP_IDLE_TIMEOUT_S = 300.0


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, owner: SipTransport) -> None:
        self.owner = owner

    def datagram_received(
        self, data: bytes, addr: tuple[str, int] | tuple[str, int, int, int]
    ) -> None:
        self.owner._deliver(data, (addr[0], addr[1]), "udp")

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and the like: the transaction layer's timers deal with it.
        log.debug("udp error: %s", exc)


class _TcpConnection(asyncio.Protocol):
    def __init__(self, owner: SipTransport) -> None:
        self.owner = owner
        self.framer = StreamFramer()
        self.transport: asyncio.Transport | None = None
        self.peer: Addr | None = None
        self.aliases: set[Addr] = set()  # the names we reached it by (a registrar's host name)
        self.idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = (peer[0], peer[1])
        self.owner._connections[self.peer] = self
        self._touch()

    def _touch(self) -> None:
        if self.idle is not None:
            self.idle.cancel()
        self.idle = asyncio.get_running_loop().call_later(TCP_IDLE_TIMEOUT_S, self.close)

    def data_received(self, data: bytes) -> None:
        self._touch()
        try:
            messages = self.framer.feed(data)
        except SipParseError as exc:
            log.warning("closing TCP connection from %s: %s", self.peer, exc.reason)
            self.close()
            return
        assert self.peer is not None
        for message in messages:
            self.owner._deliver(message, self.peer, "tcp")

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        self._touch()
        self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.idle is not None:
            self.idle.cancel()
        if self.peer is not None and self.owner._connections.get(self.peer) is self:
            del self.owner._connections[self.peer]
        if self.owner.on_closed is not None and self.peer is not None:
            for addr in sorted({self.peer, *self.aliases}):
                self.owner.on_closed(addr, "tcp")


class SipTransport:
    """UDP and TCP on the same local host:port."""

    def __init__(
        self,
        on_message: OnMessage,
        on_failure: OnFailure | None = None,
        on_closed: OnFailure | None = None,
    ) -> None:
        self.on_message = on_message
        self.on_failure = on_failure
        self.on_closed = on_closed  # a stream connection ended: (peer addr, "tcp")
        self.local: Addr | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp_server: asyncio.Server | None = None
        self._connections: dict[Addr, _TcpConnection] = {}
        self._connecting: dict[Addr, asyncio.Future[_TcpConnection]] = {}
        self._resolved: dict[str, str] = {}
        self._pending: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int, tcp: bool = True) -> Addr:
        """Bind UDP (and TCP) on host:port; port 0 picks a free port for both."""
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        for _ in range(20):
            udp, _ = await loop.create_datagram_endpoint(
                lambda: _Udp(self), local_addr=(host, port), family=family
            )
            bound = udp.get_extra_info("sockname")[1]
            if not tcp:
                self._udp = udp
                break
            try:
                self._tcp_server = await loop.create_server(
                    lambda: _TcpConnection(self), host, bound, family=family, reuse_address=True
                )
            except OSError:
                udp.close()
                if port:  # the caller asked for this port: TCP on it is taken
                    raise
                continue
            self._udp = udp
            break
        else:
            raise OSError("no port free for both UDP and TCP")
        self.local = (host, bound)
        return self.local

    async def _resolve(self, host: str) -> str:
        if host in self._resolved:
            return self._resolved[host]
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
            self._resolved[host] = host
            return host
        except OSError:
            pass
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_DGRAM)
        address = str(infos[0][4][0])
        self._resolved[host] = address
        return address

    def send(self, data: bytes, addr: Addr, transport: str) -> None:
        """Send now if possible; name resolution and TCP connects finish in the background."""
        host, port = addr
        address = self._resolved.get(host)
        if transport == "udp" and address is not None and self._udp is not None:
            self._udp.sendto(data, (address, port))
            return
        connection = self._connections.get(addr)
        if transport == "tcp" and connection is not None:
            connection.send(data)
            return
        task = asyncio.get_running_loop().create_task(self._send_slow(data, addr, transport))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _send_slow(self, data: bytes, addr: Addr, transport: str) -> None:
        try:
            host = await self._resolve(addr[0])
            if transport == "udp":
                assert self._udp is not None, "transport not started"
                self._udp.sendto(data, (host, addr[1]))
            else:
                connection = await self._connect((host, addr[1]))
                connection.aliases.add(addr)
                connection.send(data)
        except OSError as exc:
            log.warning("cannot send to %s:%s over %s: %s", addr[0], addr[1], transport, exc)
            if self.on_failure is not None:
                self.on_failure(addr, transport)

    async def _connect(self, addr: Addr) -> _TcpConnection:
        if addr in self._connections:
            return self._connections[addr]
        if addr in self._connecting:
            return await self._connecting[addr]
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_TcpConnection] = loop.create_future()
        self._connecting[addr] = future
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(lambda: _TcpConnection(self), addr[0], addr[1]), 5
            )
            # The connection registered itself under the peer's own address form.
            self._connections[addr] = connection
            future.set_result(connection)
            return connection
        except (OSError, asyncio.TimeoutError) as exc:
            future.set_exception(OSError(f"TCP connect to {addr[0]}:{addr[1]} failed: {exc}"))
            future.exception()  # retrieved: nobody else may be waiting
            raise OSError(f"TCP connect to {addr[0]}:{addr[1]} failed: {exc}") from None
        finally:
            del self._connecting[addr]

    def _deliver(self, data: bytes, addr: Addr, transport: str) -> None:
        self._resolved.setdefault(addr[0], addr[0])
        self.on_message(data, addr, transport)

    async def close(self) -> None:
        for task in list(self._pending):
            task.cancel()
        for connection in list(self._connections.values()):
            connection.close()
        if self._tcp_server is not None:
            self._tcp_server.close()
            with contextlib.suppress(Exception):
                await self._tcp_server.wait_closed()
        if self._udp is not None:
            self._udp.close()
