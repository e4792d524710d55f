"""A small HTTP/1.1 server for the API and the emulator's panel: h11 parses and frames the
messages, asyncio streams move the bytes, a route table maps (method, path) to a handler.

It replaced aiohttp, whose import alone cost 14 MB of the firmware's 42 MB RSS (its client,
connector and cookie jar come along; docs/benchmarks-firmware.md). What the API needs is small:
bodies of at most 64 kB read whole, JSON in and out, a bearer token, one endless response (the
server-sent events) and a few static files. Every request gets an answer or a closed
connection: errors are JSON `{"error": "..."}` with a 4xx status, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

import h11

log = logging.getLogger("intercom.http")

MAX_BODY = 64 * 1024
MAX_HEAD = 16 * 1024  # request line and headers; more gets 431
# A client that sends nothing for this long (idle keep-alive, or a stalled request) is dropped,
# so forgotten connections cannot pile up. aiohttp's keep-alive timeout was the same.
IDLE_TIMEOUT_S = 75.0

REASONS = {
    100: b"Continue",
    200: b"OK",
    400: b"Bad Request",
    401: b"Unauthorized",
    404: b"Not Found",
    405: b"Method Not Allowed",
    409: b"Conflict",
    413: b"Content Too Large",
    431: b"Request Header Fields Too Large",
    500: b"Internal Server Error",
}

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".wav": "audio/wav",
    ".txt": "text/plain; charset=utf-8",
}


class HttpError(Exception):
    """Raised by a handler (or the server) to answer with a JSON error."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Request:
    __slots__ = ("body", "headers", "method", "path", "query")

    def __init__(
        self, method: str, target: str, headers: dict[str, str], body: bytes = b""
    ) -> None:
        path, _, query = target.partition("?")
        self.method = method
        self.path = unquote(path)
        self.query = dict(parse_qsl(query))
        self.headers = headers  # lower-case names
        self.body = body

    def json(self) -> dict[str, Any]:
        """The body as a JSON object; no body is an empty object."""
        if not self.body:
            return {}
        try:
            value = json.loads(self.body)
        except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, [[[[...
            raise HttpError(400, "body is not valid JSON") from None
        if not isinstance(value, dict):
            raise HttpError(400, "body must be a JSON object")
        return value


class Response:
    __slots__ = ("body", "content_type", "headers", "status", "stream")

    def __init__(
        self,
        status: int = 200,
        body: bytes = b"",
        content_type: str = "application/json; charset=utf-8",
        headers: list[tuple[str, str]] | None = None,
        stream: AsyncGenerator[bytes, None] | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers or []
        # An endless body (server-sent events), sent chunked until the client leaves or the
        # server stops. The generator is closed either way (its `finally` runs).
        self.stream = stream


def json_response(data: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(data).encode())


def error_response(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


Handler = Callable[[Request], Awaitable[Response]]
Route = tuple[str, str, Handler]  # (method, path, handler); a GET route answers HEAD too


class Server:
    """The routes on one listening address. `static` is a folder served at /static/ and its
    index.html at / (the emulator's panel). With a `token`, every /api/ request needs
    `Authorization: Bearer <token>`."""

    def __init__(self, routes: list[Route], token: str = "", static: Path | None = None) -> None:
        self.routes: dict[str, dict[str, Handler]] = {}
        for method, path, handler in routes:
            self.routes.setdefault(path, {})[method] = handler
        self.token = token
        self.static = static.resolve() if static is not None else None
        if self.static is not None:
            self.routes.setdefault("/", {})["GET"] = self._index
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen (IPv4 or IPv6); the address actually bound (port 0 picks a free one)."""
        self._server = await asyncio.start_server(
            self._connection, host, port, reuse_address=True, limit=MAX_HEAD
        )
        bound = self._server.sockets[0].getsockname()
        return host, int(bound[1])

    async def close(self) -> None:
        """Stop listening and close every connection, event streams included: the handlers are
        all quick, and an event stream never ends by itself."""
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    # -- one connection: requests one after the other (keep-alive) ---------------------------
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        try:
            while True:
                request: Request | None = None
                try:
                    request = await self._read_request(conn, reader, writer)
                    if request is None:
                        break
                    response = await self._respond(request)
                # A request that could not be read whole: answer, then close the connection
                # (`request` stays None), since what follows it cannot be trusted.
                except HttpError as exc:
                    response = error_response(exc.status, exc.message)
                except h11.RemoteProtocolError as exc:  # malformed request, headers too long
                    if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
                        break
                    response = error_response(exc.error_status_hint, str(exc))
                await self._send(conn, reader, writer, request, response)
                if response.stream is not None:
                    break  # the stream's reader task may have eaten what came after it
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    break
                conn.start_next_cycle()
        except (OSError, TimeoutError, asyncio.CancelledError):
            pass  # the client left or went quiet, or the server stops: just close
        except Exception:
            log.exception("HTTP connection failed")
        finally:
            self._connections.discard(task)
            writer.close()

    async def _read_request(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Request | None:
        """The next request with its whole body, or None when the client closed the connection."""
        start = await _next_event(conn, reader)
        if isinstance(start, h11.ConnectionClosed):
            return None
        assert isinstance(start, h11.Request)
        # h11 bounds only a head that arrives in pieces; one that came in a single read is whole.
        if len(start.target) + sum(len(n) + len(v) for n, v in start.headers) > MAX_HEAD:
            raise HttpError(431, "request head too large")
        headers: dict[str, str] = {}
        for name, value in start.headers:
            key = name.decode("ascii")
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        # Refuse a declared oversize body before reading it (the connection then closes).
        if int(headers.get("content-length", "0")) > MAX_BODY:  # h11 made it one plain number
            raise HttpError(413, f"body larger than {MAX_BODY} bytes")
        if conn.they_are_waiting_for_100_continue:  # curl waits for this before a large body
            writer.write(
                conn.send(
                    h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue")
                )
            )
        body = bytearray()
        while not isinstance(event := await _next_event(conn, reader), h11.EndOfMessage):
            if isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_BODY:  # chunked: no length known in advance
                    raise HttpError(413, f"body larger than {MAX_BODY} bytes")
        method, target = start.method.decode("ascii"), start.target.decode("latin-1")
        return Request(method, target, headers, bytes(body))

    async def _respond(self, request: Request) -> Response:
        path = request.path
        if self.token and path.startswith("/api/"):
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
                return error_response(401, "missing or wrong bearer token")
        methods = self.routes.get(path)
        if methods is None and self.static is not None and path.startswith("/static/"):
            methods = {"GET": self._static_file}
        if methods is None:
            return error_response(404, "Not Found")
        handler = methods.get("GET" if request.method == "HEAD" else request.method)
        if handler is None:
            allowed = sorted({*methods, *(["HEAD"] if "GET" in methods else [])})
            response = error_response(405, "Method Not Allowed")
            response.headers.append(("allow", ", ".join(allowed)))
            return response
        try:
            return await handler(request)
        except HttpError as exc:
            return error_response(exc.status, exc.message)
        except Exception:
            log.exception("API error on %s %s", request.method, path)
            return error_response(500, "internal error (see the firmware log)")

    async def _send(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: Request | None,
        response: Response,
    ) -> None:
        headers = [("content-type", response.content_type), *response.headers]
        if response.stream is None:
            headers.append(("content-length", str(len(response.body))))
        if request is None or conn.their_state is not h11.DONE:
            headers.append(("connection", "close"))
        status, reason = response.status, REASONS.get(response.status, b"")
        writer.write(conn.send(h11.Response(status_code=status, headers=headers, reason=reason)))
        head = request is not None and request.method == "HEAD"
        if response.stream is not None and not head:
            await self._stream(conn, reader, writer, response.stream)
            return
        if response.body and not head:
            writer.write(conn.send(h11.Data(data=response.body)))
        writer.write(conn.send(h11.EndOfMessage()))
        await writer.drain()

    async def _stream(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        chunks: AsyncGenerator[bytes, None],
    ) -> None:
        """Send chunks until the client closes the connection or the server stops (both cancel
        this task); then end the chunked body cleanly and let the connection close."""
        task = asyncio.current_task()
        assert task is not None

        async def until_eof() -> None:
            # While waiting for the next event nothing is written, so only a read notices that
            # the client left. It sends nothing more; anything it does send is dropped.
            with contextlib.suppress(OSError):
                while await reader.read(4096):
                    pass

        def client_left(_: asyncio.Task[None]) -> None:
            task.cancel()

        watcher = asyncio.get_running_loop().create_task(until_eof())
        watcher.add_done_callback(client_left)
        try:
            async for chunk in chunks:
                writer.write(conn.send(h11.Data(data=chunk)))
                await writer.drain()
        finally:
            # Nothing here waits, so no second cancel can land before the connection closes.
            watcher.remove_done_callback(client_left)
            watcher.cancel()
            await chunks.aclose()  # its `finally` runs now, not when garbage-collected
            with contextlib.suppress(h11.LocalProtocolError, OSError, RuntimeError):
                writer.write(conn.send(h11.EndOfMessage()))  # the last chunk: a clean end

    # -- the static panel --------------------------------------------------------------------
    async def _index(self, _: Request) -> Response:
        assert self.static is not None
        return _file(self.static / "index.html")

    async def _static_file(self, request: Request) -> Response:
        assert self.static is not None
        try:
            path = (self.static / request.path[len("/static/") :]).resolve()
        except ValueError:  # a NUL byte (%00) in the path
            raise HttpError(404, "Not Found") from None
        if not path.is_relative_to(self.static) or not path.is_file():  # no ../ out of the folder
            raise HttpError(404, "Not Found")
        return _file(path)


def _file(path: Path) -> Response:
    content_type = CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")
    return Response(body=path.read_bytes(), content_type=content_type)


async def _next_event(conn: h11.Connection, reader: asyncio.StreamReader) -> Any:
    """The next h11 event of the request, reading from the socket as needed."""
    while (event := conn.next_event()) is h11.NEED_DATA:
        # b"" at the end of the stream tells h11 the client closed the connection.
        conn.receive_data(await asyncio.wait_for(reader.read(65536), IDLE_TIMEOUT_S))
    return event
