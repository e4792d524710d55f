"""The HTTP server (firmware/runtime/http.py) with the API's routes, over real sockets on loopback:
well-formed requests through the standard library's client, broken ones as raw bytes."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from firmware.runtime import http_api, httpd
from firmware.runtime.app import EventBus

pytestmark = pytest.mark.timeout(30)

TOKEN = "s3cret"


class Controls:
    """The firmware's side of the API: records the actions, publishes on a real EventBus."""

    def __init__(self) -> None:
        self.bus = EventBus()
        self.actions: list[tuple[str, str]] = []
        self.busy = False

    def status(self) -> dict[str, Any]:
        return {"door": {"state": "IDLE"}, "actions": len(self.actions)}

    def _act(self, name: str, source: str) -> dict[str, Any]:
        if self.busy:
            return {"ok": False, "error": "busy"}
        self.actions.append((name, source))
        return {"ok": True}

    def open_door(self, source: str) -> dict[str, Any]:
        return self._act("open", source)

    def place_call(self, source: str) -> dict[str, Any]:
        return self._act("call", source)

    def hangup(self, source: str) -> dict[str, Any]:
        return self._act("hangup", source)

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        return self.bus.subscribe()

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self.bus.unsubscribe(queue)

    def recent_events(self) -> list[dict[str, Any]]:
        return list(self.bus.recent)

    def sim_button(self, action: str) -> dict[str, Any]:
        return self._act(f"button-{action}", "sim")

    def sim_outputs(self) -> dict[str, Any]:
        return {"history": []}

    def sim_door_sensor(self, is_open: bool) -> dict[str, Any]:
        return self._act(f"door-{is_open}", "sim")


async def crash(_: httpd.Request) -> httpd.Response:
    raise RuntimeError("a bug in a handler")


async def echo_query(request: httpd.Request) -> httpd.Response:
    return httpd.json_response({"query": request.query, "path": request.path})


Scenario = Callable[[Controls, int], Awaitable[None]]


def serve(
    scenario: Scenario, token: str = "", static: Path | None = None, host: str = "127.0.0.1"
) -> None:
    """Run scenario(controls, port) against a server on an ephemeral port, then close it."""

    async def main() -> None:
        controls = Controls()
        routes = http_api.routes(controls, controls)
        routes += [("POST", "/api/crash", crash), ("GET", "/api/echo", echo_query)]
        server = httpd.Server(routes, token=token, static=static)
        _, port = await server.start(host, 0)
        try:
            await asyncio.wait_for(scenario(controls, port), 20)
        finally:
            await asyncio.wait_for(server.close(), 5)

    asyncio.run(main())


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    host: str = "127.0.0.1",
) -> tuple[int, dict[str, str], bytes]:
    """One request with the standard library's client (blocking: run it in a thread)."""
    connection = http.client.HTTPConnection(host, port, timeout=5)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


async def call(port: int, method: str, path: str, body: bytes | None = None, **kw: Any) -> Any:
    return await asyncio.to_thread(request, port, method, path, body, **kw)


async def raw(port: int, data: bytes, then_eof: bool = False) -> bytes:
    """Send bytes as they are (then_eof: and shut down the sending side); everything the server
    answers until it closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        if then_eof:
            writer.write_eof()
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


def status_and_json(answer: bytes) -> tuple[int, Any]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 "), answer
    return int(head.split(b" ")[1]), json.loads(body)


# -- the routes ------------------------------------------------------------------------------
def test_status_actions_and_their_errors() -> None:
    async def scenario(controls: Controls, port: int) -> None:
        code, headers, body = await call(port, "GET", "/api/status")
        assert code == 200 and headers["content-type"] == "application/json; charset=utf-8"
        assert json.loads(body) == {"door": {"state": "IDLE"}, "actions": 0}

        assert (await call(port, "POST", "/api/door/open", b'{"source": "panel"}'))[0] == 200
        assert (await call(port, "POST", "/api/call"))[0] == 200  # no body: {}
        assert (await call(port, "POST", "/api/hangup", b"{}"))[0] == 200
        assert (await call(port, "POST", "/api/sim/button", b'{"action": "click"}'))[0] == 200
        assert (await call(port, "POST", "/api/sim/door", b'{"open": true}'))[0] == 200
        assert controls.actions == [
            ("open", "http:panel"),
            ("call", "http:api"),
            ("hangup", "http:api"),
            ("button-click", "sim"),
            ("door-True", "sim"),
        ]
        controls.busy = True
        code, _, body = await call(port, "POST", "/api/call", b"{}")
        assert code == 409 and json.loads(body)["error"] == "busy"
        controls.busy = False

        for path, payload, words in [
            ("/api/door/open", b"{not json", "not valid JSON"),
            ("/api/door/open", b"\xff\xfe\x00", "not valid JSON"),
            ("/api/door/open", b"[" * 50_000, "not valid JSON"),  # nesting deeper than the stack
            ("/api/door/open", b"[1, 2]", "JSON object"),
            ("/api/door/open", b'{"source": 7}', "short string"),
            ("/api/sim/button", b'{"action": "smash"}', "press"),
            ("/api/sim/door", b'{"open": "yes"}', "open"),
        ]:
            code, headers, body = await call(port, "POST", path, payload)
            assert code == 400 and words in json.loads(body)["error"], (path, payload)
        assert len(controls.actions) == 5

        code, _, body = await call(port, "POST", "/api/crash")
        assert code == 500 and "internal error" in json.loads(body)["error"]
        code, _, body = await call(port, "GET", "/api/echo?types=1&x=a%20b")
        assert json.loads(body) == {"query": {"types": "1", "x": "a b"}, "path": "/api/echo"}

    serve(scenario)


def test_unknown_path_is_404_and_wrong_method_is_405_with_allow() -> None:
    async def scenario(_: Controls, port: int) -> None:
        for path in ("/api/nope", "/", "/static/panel.js"):  # no panel on this server
            code, headers, body = await call(port, "GET", path)
            assert code == 404 and json.loads(body) == {"error": "Not Found"}, path
        code, headers, body = await call(port, "GET", "/api/door/open")
        assert code == 405 and json.loads(body) == {"error": "Method Not Allowed"}
        assert headers["allow"] == "POST"
        code, headers, _ = await call(port, "DELETE", "/api/status")
        assert code == 405 and headers["allow"] == "GET, HEAD"
        # HEAD answers like GET, without the body.
        code, headers, body = await call(port, "HEAD", "/api/status")
        assert code == 200 and body == b"" and int(headers["content-length"]) > 10

    serve(scenario)


def test_the_bearer_token_guards_every_api_path() -> None:
    async def scenario(controls: Controls, port: int) -> None:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            for method, path in (("GET", "/api/status"), ("POST", "/api/door/open")):
                code, _, body = await call(port, method, path, headers=headers)
                assert code == 401 and "token" in json.loads(body)["error"], (headers, path)
        # Unknown /api/ paths too: no probing of what exists without the token.
        assert (await call(port, "GET", "/api/nope"))[0] == 401
        assert controls.actions == []
        good = {"Authorization": f"Bearer {TOKEN}"}
        assert (await call(port, "GET", "/api/status", headers=good))[0] == 200
        assert (await call(port, "POST", "/api/door/open", headers=good))[0] == 200
        assert (await call(port, "GET", "/api/nope", headers=good))[0] == 404
        assert controls.actions == [("open", "http:api")]

    serve(scenario, token=TOKEN)


# -- malformed and oversize requests ---------------------------------------------------------
def test_a_malformed_request_gets_400_and_the_connection_closes() -> None:
    async def scenario(controls: Controls, port: int) -> None:
        for data in (
            b"GARBAGE\r\n\r\n",
            b"GET /api/status HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
            b"GET /api/status HTTP/1.1\r\n\r\n",  # HTTP/1.1 without Host
            b"POST /api/call HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        ):
            code, body = status_and_json(await raw(port, data))
            assert code == 400 and body["error"], data
        # A request cut short by the client's end of stream: a 400 it can still read.
        for cut in (
            b"POST /api/call HTTP/1.1\r\nHost: x\r\nContent-Le",
            b"POST /api/call HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{}",
        ):
            code, body = status_and_json(await raw(port, cut, then_eof=True))
            assert code == 400 and "closed" in body["error"], cut
        assert controls.actions == []

    serve(scenario)


def test_oversize_headers_get_431_whole_or_in_pieces() -> None:
    async def scenario(_: Controls, port: int) -> None:
        head = b"GET /api/status HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000
        code, body = status_and_json(await raw(port, head + b"\r\n\r\n"))
        assert code == 431 and body["error"]
        code, body = status_and_json(await raw(port, head))  # the end never comes
        assert code == 431 and body["error"]
        # Many headers that are each small add up the same way.
        many = b"".join(b"X-%d: %s\r\n" % (i, b"b" * 100) for i in range(200))
        answer = await raw(port, b"GET /api/status HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
        assert status_and_json(answer)[0] == 431

    serve(scenario)


def test_a_body_over_64_kb_gets_413_declared_or_chunked() -> None:
    async def scenario(controls: Controls, port: int) -> None:
        # Declared: refused before the body is sent at all.
        head = b"POST /api/door/open HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n"
        answer = await raw(port, head)
        code, body = status_and_json(answer)
        assert code == 413 and "body larger" in body["error"]
        assert b"connection: close" in answer.lower()
        # Chunked: refused once the chunks pass the limit.
        chunk = b"%x\r\n%s\r\n" % (40_000, b" " * 40_000)
        chunked = b"POST /api/door/open HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        code, _ = status_and_json(await raw(port, chunked + chunk + chunk + b"0\r\n\r\n"))
        assert code == 413
        # Just under the limit is fine (JSON with padding).
        padded = b'{"source": "x"}' + b" " * (64 * 1024 - 15)
        assert (await call(port, "POST", "/api/door/open", padded))[0] == 200
        assert controls.actions == [("open", "http:x")]

    serve(scenario)


# -- connections -----------------------------------------------------------------------------
def test_keep_alive_serves_two_requests_on_one_connection() -> None:
    def two_requests(port: int) -> list[tuple[int, Any]]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            answers = []
            sockets = []
            for method, path, body in (("GET", "/api/status", None), ("POST", "/api/call", b"{}")):
                connection.request(method, path, body=body)
                response = connection.getresponse()
                answers.append((response.status, json.loads(response.read())))
                assert not response.will_close
                sockets.append(connection.sock)
            # http.client reconnects silently when the server closed: same socket = kept alive.
            assert sockets[0] is not None and sockets[0] is sockets[1]
            return answers
        finally:
            connection.close()

    async def scenario(controls: Controls, port: int) -> None:
        answers = await asyncio.to_thread(two_requests, port)
        assert answers == [(200, {"door": {"state": "IDLE"}, "actions": 0}), (200, {"ok": True})]
        # Pipelined on one connection (sent at once): both answered, in order.
        pipelined = (
            b"GET /api/nope HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /api/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        answer = await raw(port, pipelined)
        assert answer.count(b"HTTP/1.1 ") == 2
        assert answer.index(b"HTTP/1.1 404") < answer.index(b"HTTP/1.1 200")

    serve(scenario)


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_ipv6_loopback() -> None:
    async def scenario(_: Controls, port: int) -> None:
        code, _, body = await call(port, "GET", "/api/status", host="::1")
        assert code == 200 and json.loads(body)["door"]["state"] == "IDLE"

    serve(scenario, host="::1")


def test_the_listen_address_in_use_is_an_oserror() -> None:
    async def main() -> None:
        first = httpd.Server([])
        _, port = await first.start("127.0.0.1", 0)
        try:
            with pytest.raises(OSError):
                await httpd.Server([]).start("127.0.0.1", port)
        finally:
            await first.close()

    asyncio.run(main())


# -- server-sent events ----------------------------------------------------------------------
def test_events_stream_recent_and_new_events_and_end_on_shutdown() -> None:
    async def main() -> None:
        controls = Controls()
        controls.bus.publish("door", state="IDLE")
        server = httpd.Server(http_api.routes(controls))
        _, port = await server.start("127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200 ")
        assert b"content-type: text/event-stream" in head.lower()
        assert b"transfer-encoding: chunked" in head.lower()

        async def next_event() -> dict[str, Any]:
            size = int(await asyncio.wait_for(reader.readline(), 5), 16)
            data = await reader.readexactly(size + 2)
            assert data.startswith(b"data: ") and data.endswith(b"\n\n\r\n")
            event: dict[str, Any] = json.loads(data[6:-4])
            return event

        assert (await next_event())["state"] == "IDLE"  # the recent one
        assert len(controls.bus.subscribers) == 1
        controls.bus.publish("call", state="RINGING")
        assert (await next_event())["state"] == "RINGING"

        await asyncio.wait_for(server.close(), 5)
        # A clean end: the last chunk, then the connection closes; the subscriber is gone.
        assert await asyncio.wait_for(reader.read(), 5) == b"0\r\n\r\n"
        assert controls.bus.subscribers == set()
        writer.close()

    asyncio.run(main())


def test_a_client_leaving_the_event_stream_unsubscribes_it() -> None:
    async def scenario(controls: Controls, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        for _ in range(500):
            if controls.bus.subscribers:
                break
            await asyncio.sleep(0.01)
        assert len(controls.bus.subscribers) == 1
        writer.close()
        # No event is published: the server notices the close by reading, not by writing.
        for _ in range(500):
            if not controls.bus.subscribers:
                break
            await asyncio.sleep(0.01)
        assert controls.bus.subscribers == set()
        # The server still serves.
        assert (await call(port, "GET", "/api/status"))[0] == 200

    serve(scenario)


def test_closing_the_server_closes_idle_keep_alive_connections() -> None:
    async def main() -> None:
        server = httpd.Server(http_api.routes(Controls()))
        _, port = await server.start("127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /api/status HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200 ") and b"connection: close" not in head.lower()
        await asyncio.wait_for(server.close(), 5)
        rest = await asyncio.wait_for(reader.read(), 5)  # the body, then EOF
        assert json.loads(rest)["door"]["state"] == "IDLE"
        writer.close()
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", port)

    asyncio.run(main())


# -- the static panel ------------------------------------------------------------------------
def test_the_panel_is_served_with_content_types_and_nothing_outside_it() -> None:
    panel = http_api.packaged_panel()

    async def scenario(_: Controls, port: int) -> None:
        code, headers, body = await call(port, "GET", "/")
        assert code == 200 and headers["content-type"] == "text/html; charset=utf-8"
        assert body == (panel / "index.html").read_bytes()
        for name, content_type in (
            ("panel.js", "text/javascript; charset=utf-8"),
            ("panel.css", "text/css; charset=utf-8"),
            ("icon.png", "image/png"),
        ):
            code, headers, body = await call(port, "GET", f"/static/{name}")
            assert code == 200 and headers["content-type"] == content_type, name
            assert body == (panel / name).read_bytes()
        for path in (
            "/static/nope.js",
            "/static/../http.py",
            "/static/%2e%2e/http.py",
            "/static/%2e%2e/%2e%2e/__init__.py",
            "/static/",
            "/static//etc/passwd",
            "/static/panel.js%00.png",
        ):
            code, _, body = await call(port, "GET", path)
            assert code == 404 and json.loads(body)["error"], path
        assert (await call(port, "POST", "/static/panel.js"))[0] == 405
        # The token guards /api/ only, not the panel's files (as before).
        assert (await call(port, "GET", "/static/panel.css"))[0] == 200
        assert (await call(port, "GET", "/api/status"))[0] == 401

    serve(scenario, static=panel, token=TOKEN)
