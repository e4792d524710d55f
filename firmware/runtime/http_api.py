"""The HTTP API (aiohttp): status, door/call/hangup actions, server-sent events, the sim HAL's
button and output history, and the emulator's web panel as static files.

Loopback by default; a bearer token is required on every /api/ route when one is configured (the
config refuses a non-loopback listen address without one). Bad requests get a 4xx with a JSON
error, never a traceback.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

log = logging.getLogger("intercom.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Controls(Protocol):
    """What the API needs from the firmware."""

    def status(self) -> dict[str, Any]: ...
    def open_door(self, source: str) -> dict[str, Any]: ...
    def place_call(self, source: str) -> dict[str, Any]: ...
    def hangup(self, source: str) -> dict[str, Any]: ...
    def subscribe(self) -> asyncio.Queue[dict[str, Any]]: ...
    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None: ...
    def recent_events(self) -> list[dict[str, Any]]: ...


class SimControls(Protocol):
    """Extra endpoints when the sim HAL runs."""

    def sim_button(self, action: str) -> dict[str, Any]: ...
    def sim_outputs(self) -> dict[str, Any]: ...
    def sim_door_sensor(self, is_open: bool) -> dict[str, Any]: ...


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_json(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object")
    return body


def build_app(
    controls: Controls,
    token: str = "",
    sim: SimControls | None = None,
    panel: Path | None = None,
    extra_routes: list[web.AbstractRouteDef] | None = None,
) -> web.Application:
    """The aiohttp application. `panel` is a folder of static files served at / (the emulator)."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if token and request.path.startswith("/api/"):
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return error_json(401, "missing or wrong bearer token")
        try:
            return await handler(request)
        except ApiError as exc:
            return error_json(exc.status, exc.message)
        except web.HTTPException as exc:
            if exc.status >= 400:
                return error_json(exc.status, exc.reason)
            raise
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("API error on %s %s", request.method, request.path)
            return error_json(500, "internal error (see the firmware log)")

    app = web.Application(middlewares=[guard], client_max_size=64 * 1024)

    async def status(_: web.Request) -> web.Response:
        return web.json_response(controls.status())

    def action(run: Callable[[str], dict[str, Any]]) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            body = await _json_body(request)
            source = body.get("source", "api")
            if not isinstance(source, str) or len(source) > 64:
                raise ApiError(400, "source must be a short string")
            result = run(f"http:{source}")
            return web.json_response(result, status=409 if result.get("error") else 200)

        return handler

    async def events(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        queue = controls.subscribe()
        try:
            for event in controls.recent_events():
                await response.write(_sse(event))
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), 15)
                    await response.write(_sse(event))
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            controls.unsubscribe(queue)
        return response

    routes: list[web.AbstractRouteDef] = [
        web.get("/api/status", status),
        web.post("/api/door/open", action(controls.open_door)),
        web.post("/api/call", action(controls.place_call)),
        web.post("/api/hangup", action(controls.hangup)),
        web.get("/api/events", events),
    ]
    if sim is not None:

        async def sim_button(request: web.Request) -> web.Response:
            body = await _json_body(request)
            action_name = body.get("action")
            if action_name not in ("press", "release", "click"):
                raise ApiError(400, 'action must be "press", "release" or "click"')
            return web.json_response(sim.sim_button(action_name))

        async def sim_door(request: web.Request) -> web.Response:
            body = await _json_body(request)
            if not isinstance(body.get("open"), bool):
                raise ApiError(400, 'give {"open": true} or {"open": false}')
            return web.json_response(sim.sim_door_sensor(body["open"]))

        async def sim_outputs(_: web.Request) -> web.Response:
            return web.json_response(sim.sim_outputs())

        routes += [
            web.post("/api/sim/button", sim_button),
            web.post("/api/sim/door", sim_door),
            web.get("/api/sim/outputs", sim_outputs),
        ]
    routes += extra_routes or []
    if panel is not None:

        async def index(_: web.Request) -> web.FileResponse:
            return web.FileResponse(panel / "index.html")

        routes += [web.get("/", index), web.static("/static", panel)]
    app.add_routes(routes)
    return app


def _sse(event: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"


def packaged_panel() -> Path:
    """The emulator's web panel shipped inside the package."""
    return Path(str(resources.files("firmware.runtime") / "web"))
