"""The HTTP API's routes: status, door/call/hangup actions, server-sent events, the sim HAL's
button and output history (the server itself is firmware/runtime/httpd.py).

Loopback by default; a bearer token is required on every /api/ route when one is configured (the
config refuses a non-loopback listen address without one). Bad requests get a 4xx with a JSON
error, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any, Protocol

from firmware.runtime.httpd import Handler, HttpError, Request, Response, Route, json_response


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


def _source(request: Request) -> str:
    source = request.json().get("source", "api")
    if not isinstance(source, str) or len(source) > 64:
        raise HttpError(400, "source must be a short string")
    return f"http:{source}"


def routes(controls: Controls, sim: SimControls | None = None) -> list[Route]:
    """The firmware's routes; the sim HAL's when it runs."""

    async def status(_: Request) -> Response:
        return json_response(controls.status())

    def action(run: Callable[[str], dict[str, Any]]) -> Handler:
        async def handler(request: Request) -> Response:
            result = run(_source(request))
            return json_response(result, status=409 if result.get("error") else 200)

        return handler

    async def events(_: Request) -> Response:
        return Response(
            content_type="text/event-stream",
            headers=[("cache-control", "no-cache")],
            stream=_event_stream(controls),
        )

    table: list[Route] = [
        ("GET", "/api/status", status),
        ("POST", "/api/door/open", action(controls.open_door)),
        ("POST", "/api/call", action(controls.place_call)),
        ("POST", "/api/hangup", action(controls.hangup)),
        ("GET", "/api/events", events),
    ]
    if sim is not None:

        async def sim_button(request: Request) -> Response:
            action_name = request.json().get("action")
            if action_name not in ("press", "release", "click"):
                raise HttpError(400, 'action must be "press", "release" or "click"')
            return json_response(sim.sim_button(action_name))

        async def sim_door(request: Request) -> Response:
            is_open = request.json().get("open")
            if not isinstance(is_open, bool):
                raise HttpError(400, 'give {"open": true} or {"open": false}')
            return json_response(sim.sim_door_sensor(is_open))

        async def sim_outputs(_: Request) -> Response:
            return json_response(sim.sim_outputs())

        table += [
            ("POST", "/api/sim/button", sim_button),
            ("POST", "/api/sim/door", sim_door),
            ("GET", "/api/sim/outputs", sim_outputs),
        ]
    return table


async def _event_stream(controls: Controls) -> AsyncGenerator[bytes, None]:
    """The recent events, then each new one; a comment every 15 s keeps proxies from timing the
    stream out. Subscribed only once the server iterates (a HEAD request never does)."""
    queue = controls.subscribe()
    try:
        for event in controls.recent_events():
            yield _sse(event)
        while True:
            try:
                yield _sse(await asyncio.wait_for(queue.get(), 15))
            except TimeoutError:
                yield b": keep-alive\n\n"
    finally:
        controls.unsubscribe(queue)


def _sse(event: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"


def packaged_panel() -> Path:
    """The emulator's web panel shipped inside the package (package data: plain files beside this
    module; importlib.resources would cost 1.6 MB of RSS for the modules it imports)."""
    return Path(__file__).resolve().parent / "web"
