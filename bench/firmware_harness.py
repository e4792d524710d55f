"""The firmware as `intercom run --config FILE` runs it, plus probes for bench_firmware.

    python -m bench.firmware_harness --config door.toml

Same code path as firmware/runtime/cli.py `_run` and app.py `run()`: load the config, set up
logging, start `Firmware`, wait for SIGTERM, stop. Added, without touching the firmware:

- a line `BENCH <what> <time.time()>` on stderr when the sim button's HTTP handler runs
  (`press`, `release`, `click`) and when the HAL's debounced `ButtonPressed` reaches the
  firmware (`pressed`), so the bench can put them on one clock with tshark's capture timestamps;
- GET /bench/probe: asyncio tasks, the agent's calls, dialogs and transactions, the station's
  media, gc objects (what a leak would grow); with ?types=1 the most numerous object types,
  before and after gc.collect();
- `--profile FILE`: run under cProfile timed by the thread's CPU clock, stats written at exit
  (`python -m pstats FILE`);
- `--floor glue|io|empty`: the cost floor of a Python audio pump. Once a call's stream has
  heard its peer, each 20 ms tick runs the pump's own code around a core that costs nothing
  (`glue`: the real tick, but the stream drops what arrives, turns the microphone's frame into
  one ready-made packet, plays silence and has no timer due), only its socket work (`io`, through
  the pump's datagrams.SocketPair: poll, `recvmsg` with the arrival stamp for every waiting
  datagram, one 172-byte `sendto` to the peer) or nothing at all (`empty`: the thread's wake-up
  and the pump's loop). The bench's `floor` part sets what the core costs against what the pump
  costs without it. The call itself (SIP, RTP latching) runs as usual.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import sys
import time
from typing import Any

from firmware.core.media import MediaStream
from firmware.runtime import app, config, datagrams, httpd, logs, station
from firmware.runtime import media as runtime_media
from hal import events as hal_events


def _mark(what: str) -> None:
    print(f"BENCH {what} {time.time():.6f}", file=sys.stderr, flush=True)


def _instrument() -> None:
    on_hal_event = app.Firmware._on_hal_event
    sim_button = app.Firmware.sim_button

    def traced_on_hal_event(self: app.Firmware, event: Any) -> None:
        if isinstance(event, hal_events.ButtonPressed):
            _mark("pressed")
        on_hal_event(self, event)

    def traced_sim_button(self: app.Firmware, action: str) -> dict[str, Any]:
        _mark(action)
        return sim_button(self, action)

    app.Firmware._on_hal_event = traced_on_hal_event  # type: ignore[method-assign]
    app.Firmware.sim_button = traced_sim_button  # type: ignore[method-assign]


FLOORS = ("glue", "io", "empty")  # --floor: what is left of a tick (see the module docstring)
_FLOOR_PACKET = bytes([0x80, 0]) + bytes(170)  # a 20 ms PCMU packet's size; the peer counts them


class _FreeCore(MediaStream):
    """A MediaStream whose per-tick work costs nothing (`--floor glue`): what arrives is
    dropped, the microphone's frame becomes one ready-made packet, the speaker gets silence and no
    timer is due. Everything else (stats, events, re-INVITE, close) goes to the real stream.

    A subclass, because the compiled pump holds its stream as a C-typed MediaStream; the methods
    below override the compiled ones (cpdef) for this instance only."""

    def __init__(self, stream: Any, remote: Any) -> None:  # no MediaStream state of its own
        self._stream = stream
        self._out = [(_FLOOR_PACKET, remote)]

    def receive_rtp(self, data: bytes, addr: Any, now_ms: int) -> None:
        pass

    def receive_rtcp(self, data: bytes, addr: Any, now_ms: int) -> None:
        pass

    def push_capture(self, pcm: bytes, now_ms: int) -> list[tuple[bytes, Any]]:
        return self._out

    def pull_playout(self, now_ms: int) -> bytes:
        return runtime_media.SILENCE

    def next_deadline(self) -> None:
        return None

    def has_output(self) -> bool:
        return False


def _delegate(name: str) -> Any:
    return lambda self, *args: getattr(self._stream, name)(*args)


for _name in (
    "update",
    "receive_info",
    "send_dtmf",
    "stats",
    "next_event",
    "datagrams_to_send",
    "handle_timer",
    "close",
):
    setattr(_FreeCore, _name, _delegate(_name))


def _floor(kind: str) -> None:
    """Replace the pump's tick by the pump's code around a free core (glue), its socket work
    only (io) or nothing (empty), per call from the first tick after its stream has heard the
    peer (see the module docstring). A subclass of the pump, which the station then builds."""
    real_tick = runtime_media.AudioPump.tick
    # Per call ID: (its datagrams.SocketPair, the peer's RTP address) once its stream has heard
    # it. By ID: the compiled CallMedia takes no weak references. A bench makes a few calls.
    floors: dict[str, Any] = {}

    class FloorPump(runtime_media.AudioPump):
        def tick(self, now: float) -> None:
            media = self.media
            stream = media.stream if media is not None else None
            if media is None or stream is None or media.rtp is None or media.rtcp is None:
                real_tick(self, now)
                return
            floor = floors.get(media.call_id)
            if floor is None:
                stats = stream.stats()
                if not stats["packets_received"]:
                    real_tick(self, now)
                    return
                if kind == "glue":
                    media.stream = _FreeCore(stream, stats["remote_rtp"])
                    floor = floors[media.call_id] = ()
                else:
                    floor = floors[media.call_id] = (media._sockets, stats["remote_rtp"])
            if kind == "glue":
                real_tick(self, now)
                return
            if kind == "empty":
                return
            sockets, remote = floor
            for _ in range(runtime_media.MAX_DATAGRAMS_PER_TICK):
                waiting = sockets.waiting()
                if not waiting:
                    break
                for channel in (datagrams.RTP, datagrams.RTCP):
                    if waiting & (1 << channel):
                        with contextlib.suppress(OSError):  # an ICMP error, as the pump reads it
                            sockets.receive(channel)
            with contextlib.suppress(OSError):  # the peer has gone (after its BYE)
                sockets.send(datagrams.RTP, _FLOOR_PACKET, remote)

    station.AudioPump = FloorPump  # type: ignore[misc]


def _probe(firmware: app.Firmware) -> dict[str, Any]:
    agent = firmware.agent
    layer = getattr(agent, "_layer", None)
    return {
        "tasks": len(asyncio.all_tasks()),
        "agent_calls": len(getattr(agent, "_calls", ())),
        "dialogs": len(getattr(agent, "_dialogs", ())),
        "transactions": len(layer) if layer is not None else None,
        "server_transactions": len(getattr(layer, "_server", ())),
        "media": len(firmware.calls),
        "pump_running": bool(firmware.pump and firmware.pump.running),
        "pump_late_ticks": firmware.pump.late_ticks if firmware.pump else None,
        "gc_objects": len(gc.get_objects()),
        "door": firmware.door.state if firmware.door else None,
    }


async def _run(cfg: config.Config) -> int:
    firmware = app.Firmware(cfg)

    async def probe(request: httpd.Request) -> httpd.Response:
        result = _probe(firmware)
        if request.query.get("types"):
            # The most numerous object types (what a leak would be made of), and the same after a
            # full collection: cyclic garbage waits for a rare gen-2 pass, a real leak stays.
            counts = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
            result["types"] = dict(counts.most_common(60))
            result["gc_collected"] = gc.collect()
            result["gc_objects_after_collect"] = len(gc.get_objects())
            counts = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
            result["types_after_collect"] = dict(counts.most_common(60))
        return httpd.json_response(result)

    try:
        await firmware.start(extra_routes=[("GET", "/bench/probe", probe)])
        await firmware.wait_stopped()
    finally:
        await firmware.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="firmware_harness")
    parser.add_argument("--config", required=True)
    parser.add_argument("--profile", help="run under cProfile and write the stats here at exit")
    parser.add_argument("--floor", choices=FLOORS, help="a tick without the core's work")
    args = parser.parse_args(argv)
    cfg = config.load(args.config)
    logs.setup(cfg["log"]["level"])
    _instrument()
    if args.floor:
        _floor(args.floor)
    if not args.profile:
        return asyncio.run(_run(cfg))
    import cProfile

    # CPU time, not wall time: waiting in epoll costs nothing, a cold-cache wake-up does.
    profiler = cProfile.Profile(time.thread_time)
    try:
        return profiler.runcall(asyncio.run, _run(cfg))
    finally:
        profiler.dump_stats(args.profile)


if __name__ == "__main__":
    raise SystemExit(main())
