"""The door firmware as a process, side by side with baresip 1.0.0, under SIPp load on loopback.

    .venv/bin/python -m bench bench_firmware --quick      everyday: ~7 min, 60 s audio call
    .venv/bin/python -m bench bench_firmware              the docs' figures: ~25 min
    .venv/bin/python -m bench bench_firmware --quick --only idle,calls

Parts (`--only`), in this order; every peer is on 127.0.0.1 with ports from peers.free_port(),
runs under `timeout` with a hard deadline and is stopped at the end (tests/interop/peers.py):

idle    `intercom run` and baresip, both up and idle, side by side for --idle-s (30 s): share of
        a core (/proc/<pid>/task/*/schedstat ns; utime+stime ticks as a check), wake-ups/s.
cpu     --rounds (3; quick 1) alternating --call-s calls (60 s; quick 30 s) to each from SIPp
        with RTP both ways (SIPp rtp_stream: looped 20 ms PCMU speech; the callee sends its
        microphone: a speech WAV): share of a core per call second (median ratio of the
        rounds), and both sides' RTP send intervals from a tshark capture.
floor   the cpu rounds with three more peers: the firmware through bench/firmware_harness.py
        with `--floor glue` (each tick after the call has started runs the pump's own code
        around a core that does nothing), `--floor io` (only the socket work: poll, recvmsg
        with the arrival stamp, one sendto) and `--floor empty` (no work: the thread's wake-up
        and the pump's loop). What a Python pump costs without the core's audio work, next to
        baresip's whole call.
calls   SIPp `-sn uac` (PCMU SDP, -d 100 ms calls, one at a time, --cps) makes --calls calls to
        each, after 20 warm-up calls: INVITE -> 200 OK from SIPp's -trace_shortmsg µs
        timestamps and from a tshark capture; RSS/fds/threads before and after.
button  the firmware (through bench/firmware_harness.py, which timestamps the button's HTTP
        handler and the debounced ButtonPressed) calls a `sipp -sn uas`; --presses presses via
        POST /api/sim/button; tshark timestamps the HTTP request and the INVITE.
burst   the firmware in a call with RTP both ways; SIPp sends --bursts (3; quick 2) bursts of
        --burst-s (10 s) of 40 INVITE/s (each expects 486 and ACKs it), 35 s apart: the call's
        RTP intervals before/during/after, the 486 times, RSS/fds/tasks/transactions after each
        burst once its transactions expired, and the objects kept per INVITE (before and after
        gc.collect()).
audio   the firmware with `[audio] loopback = true` in one --audio-s call (60 s quick, 600 s
        full) with the bench's own RTP peer (paced PCMU, a 10 ms noise burst every second): the
        burst's delay through the firmware (cross-correlation) and the firmware's RTP rate,
        drift and send intervals (tshark).

Results: a summary on stdout and JSON in the work folder (kept with --keep, or --json FILE).
tshark needs root or CAP_NET_RAW on lo: without it the capture figures are skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import firmware_rig as rig
from bench.firmware_harness import FLOORS
from tests.interop.peers import LOOPBACK

PARTS = ("idle", "calls", "cpu", "floor", "button", "burst", "audio")
WARMUP_CALLS = 20


def say(text: str) -> None:
    print(text, flush=True)


def _can_capture() -> bool:
    return os.geteuid() == 0 and shutil.which("tshark") is not None


class Run:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.results: dict[str, Any] = {"machine": rig.machine(), "args": vars(args)}
        self.capture_ok = _can_capture()
        if not self.capture_ok:
            say("note: not root (or no tshark): the capture-based figures are skipped")
        self.speech = rig.speech_wav(workdir / "speech.wav", max(args.call_s, 60) + 120)
        self.ulaw = rig.speech_ulaw(workdir / "speech.ulaw")
        self.scenarios = {}
        for name, text in (
            ("media", rig.scenario_media(self.ulaw)),
            ("peer", rig.scenario_peer()),
            ("busy", rig.scenario_busy()),
        ):
            path = workdir / f"{name}.xml"
            path.write_text(text)
            self.scenarios[name] = path

    def capture(self, stack: contextlib.ExitStack, bpf: str, label: str, seconds: float) -> Any:
        if not self.capture_ok:
            return None
        capture = stack.enter_context(rig.Capture(self.workdir, bpf, label, seconds + 60))
        return capture.start()

    def sipp(self, stack: contextlib.ExitStack, label: str, seconds: float) -> rig.BenchSipp:
        return stack.enter_context(rig.BenchSipp(self.workdir / label, deadline_s=seconds + 30))

    # -- idle, calls, cpu: `intercom run` and baresip side by side --------------------------------
    def side_by_side(self, parts: list[str]) -> None:
        a = self.args
        budget = 60 + a.idle_s + 2 * (a.calls / a.cps + 60) + 5 * a.rounds * (a.call_s + 40)
        with contextlib.ExitStack() as stack:
            firmware = stack.enter_context(
                rig.BenchFirmware(
                    self.workdir / "door",
                    {"audio": {"backend": "sim", "mic_file": str(self.speech)}},
                    deadline_s=budget,
                )
            ).start()
            baresip = stack.enter_context(
                rig.BenchBaresip(self.workdir / "baresip", self.speech, budget)
            ).start()
            peers = {
                "firmware": (firmware, firmware.meter, firmware.sip_port, "door"),
                "baresip": (baresip, baresip.meter, baresip.sip_port, "flat"),
            }
            if "idle" in parts:
                self.idle(peers)
            rounds = dict(peers)
            if "floor" in parts:
                for kind in FLOORS:
                    door = rig.HarnessFirmware(
                        self.workdir / f"door-floor-{kind}",
                        {"audio": {"backend": "sim", "mic_file": str(self.speech)}},
                        deadline_s=budget,
                    )
                    door.floor = kind
                    stack.enter_context(door).start()
                    rounds[f"floor-{kind}"] = (door, door.meter, door.sip_port, "door")
            # The CPU calls before the short calls: a failure there (a call left up) must not
            # spoil the CPU figure.
            if "cpu" in parts or "floor" in parts:
                # Alternating rounds: the machine's load changes, all see the same changes.
                names = list(rounds)
                for n in range(self.args.rounds):
                    for name in names if n % 2 == 0 else names[::-1]:
                        self.cpu(stack, name, *rounds[name])
                self.summarise_cpu()
            if "calls" in parts:
                for name in ("firmware", "baresip"):
                    self.calls(stack, name, *peers[name])
            # The firmware must still be healthy and exit cleanly.
            self.results.setdefault("side_by_side", {})["firmware_exit"] = firmware.stop()
            self.results["side_by_side"]["firmware_tracebacks"] = firmware.log().count("Traceback")

    def idle(self, peers: dict[str, Any]) -> None:
        say(f"idle: {self.args.idle_s:g} s, both up, no traffic")
        time.sleep(5)  # settle after start
        before = {name: p[1].snapshot() for name, p in peers.items()}
        time.sleep(self.args.idle_s)
        after = {name: p[1].snapshot() for name, p in peers.items()}
        out = {}
        for name in peers:
            out[name] = {
                **rig.cpu_between(before[name], after[name]),
                "rss_kb": after[name]["rss_kb"],
            }
            say(
                f"  {name:8s} {out[name]['cpu_percent']:.4f} % of a core "
                f"(ticks: {out[name]['cpu_percent_ticks']:.3f} %), "
                f"{out[name]['wakeups_per_s']:.2f} wake-ups/s, "
                f"RSS {after[name]['rss_kb'] / 1024:.1f} MB"
            )
        self.results["idle"] = out

    def calls(
        self, stack: contextlib.ExitStack, name: str, peer: Any, meter: Any, port: int, user: str
    ) -> None:
        a = self.args
        say(
            f"calls: {name}: {WARMUP_CALLS} warm-up + {a.calls} short calls at {a.cps:g}/s, "
            "one at a time"
        )
        seconds = a.calls / a.cps + 60
        capture = self.capture(stack, f"udp port {port}", f"calls-{name}", seconds)
        common = [f"{LOOPBACK}:{port}", "-sn", "uac", "-s", user, "-d", "100", "-l", "1"]
        warm = self.sipp(stack, f"sipp-warm-{name}", 60)
        warm_code = warm.run([*common, "-m", str(WARMUP_CALLS), "-r", str(a.cps)])
        time.sleep(2)
        before = meter.snapshot()
        main = self.sipp(stack, f"sipp-calls-{name}", seconds)
        code = main.run([*common, "-m", str(a.calls), "-r", str(a.cps)])
        time.sleep(3)
        after = meter.snapshot()
        if capture is not None:
            capture.stop()
        sipp_ms = main.response_times(200)
        out: dict[str, Any] = {
            "sipp_exit": code,
            "warmup_exit": warm_code,
            "finals": main.final_statuses(),
            "answer_ms_sipp": rig.summary(sipp_ms),
            "before": before,
            "after": after,
            "rss_growth_kb": after["rss_kb"] - before["rss_kb"],
            "rss_growth_per_call_kb": (after["rss_kb"] - before["rss_kb"]) / a.calls,
            "cpu": rig.cpu_between(before, after),
        }
        if capture is not None:
            out["answer_ms_wire"] = rig.summary(rig.sip_wire_latency(capture, port))
        answered = out["finals"].get("200", 0)
        out["rss_growth_per_answered_call_kb"] = (
            out["rss_growth_kb"] / answered if answered else None
        )
        self.results.setdefault("calls", {})[name] = out
        wire = out.get("answer_ms_wire", {})
        say(
            f"  {name:8s} sipp exit {code}, finals {out['finals']}; INVITE->200 median "
            f"{out['answer_ms_sipp'].get('median', float('nan')):.3f} ms (SIPp), "
            f"{wire.get('median', float('nan')):.3f} ms (wire); RSS "
            f"{before['rss_kb'] / 1024:.2f} -> {after['rss_kb'] / 1024:.2f} MB, fds "
            f"{before['fds']} -> {after['fds']}, threads {before['threads']} -> {after['threads']}"
        )
        if code != 0:
            say("  " + main.errors()[:600].replace("\n", "\n  "))

    def cpu(
        self, stack: contextlib.ExitStack, name: str, peer: Any, meter: Any, port: int, user: str
    ) -> None:
        a = self.args
        say(f"cpu: {name}: one {a.call_s:g} s call, RTP both ways")
        sipp = self.sipp(stack, f"sipp-cpu-{name}", a.call_s + 20)
        low, high = peer.rtp_range
        capture = self.capture(
            stack,
            f"udp and (portrange {low}-{high} or port {sipp.media_port})",
            f"cpu-{name}",
            a.call_s + 20,
        )
        sipp.start(
            [
                f"{LOOPBACK}:{port}",
                "-sf",
                str(self.scenarios["media"]),
                "-s",
                user,
                "-m",
                "1",
                "-d",
                str(int(a.call_s * 1000)),
            ]
        )

        sipp.wait_answered()
        time.sleep(2)
        before = meter.snapshot()
        time.sleep(a.call_s - 4)
        after = meter.snapshot()
        code = sipp.wait()
        out: dict[str, Any] = {"sipp_exit": code, **rig.cpu_between(before, after)}
        if capture is not None:
            capture.stop()
            streams = rig.rtp_times(capture, (low, high))
            theirs = rig.rtp_times(capture, (sipp.media_port, sipp.media_port))
            if streams:
                port_, times = max(streams.items(), key=lambda kv: len(kv[1]))
                out["rtp_out"] = rig.rtp_stream_stats(times, f"{name} port {port_}")
            if theirs:
                times = max(theirs.values(), key=len)
                out["rtp_in"] = rig.rtp_stream_stats(times, "sipp rtp_stream")
        if out["wakeups_per_s"] < 45:  # every peer wakes at least once per 20 ms frame
            raise SystemExit(
                f"cpu: {name}: {out['wakeups_per_s']:.1f} wake-ups/s during the call: its audio "
                f"did not run (--keep keeps its log in the work folder)"
            )
        self.results.setdefault("cpu_rounds", []).append({"peer": name, **out})
        self.results.setdefault("cpu", {})[name] = out  # the last round (RTP figures)
        p99 = out.get("rtp_out", {}).get("interval_ms", {}).get("p99", float("nan"))
        say(
            f"  {name:8s} sipp exit {code}: {out['cpu_percent']:.3f} % of a core per call "
            f"(ticks {out['cpu_percent_ticks']:.3f} %), {out['wakeups_per_s']:.0f} wake-ups/s; "
            f"RTP out p99 interval {p99:.3f} ms"
        )

    def summarise_cpu(self) -> None:
        rounds = self.results.get("cpu_rounds", [])
        by_peer = {
            name: [r["cpu_percent"] for r in rounds if r["peer"] == name and r["sipp_exit"] == 0]
            for name in ("firmware", "baresip")
        }
        ratios = [f / b for f, b in zip(by_peer["firmware"], by_peer["baresip"], strict=False)]
        self.results["cpu_summary"] = {
            "firmware_percent": by_peer["firmware"],
            "baresip_percent": by_peer["baresip"],
            "ratios": ratios,
            "median_ratio": rig.percentile(ratios, 50) if ratios else None,
        }
        if len(ratios) > 1:
            say(
                f"  rounds: firmware {[round(x, 3) for x in by_peer['firmware']]} %, baresip "
                f"{[round(x, 3) for x in by_peer['baresip']]} %, ratios "
                f"{[round(x, 2) for x in ratios]}"
            )
        for kind in FLOORS:
            name = f"floor-{kind}"
            percents = [
                r["cpu_percent"] for r in rounds if r["peer"] == name and r["sipp_exit"] == 0
            ]
            if not percents:
                continue
            floor_ratios = [f / b for f, b in zip(percents, by_peer["baresip"], strict=False)]
            self.results["cpu_summary"][name] = {
                "percent": percents,
                "ratios": floor_ratios,
                "median_ratio": rig.percentile(floor_ratios, 50) if floor_ratios else None,
            }
            say(
                f"  {name}: {[round(x, 3) for x in percents]} %, ratios to baresip "
                f"{[round(x, 2) for x in floor_ratios]}"
            )

    # -- button -> INVITE ----------------------------------------------------------------------
    def button(self) -> None:
        a = self.args
        say(f"button: {a.presses} presses via POST /api/sim/button, INVITE to a sipp uas")
        with contextlib.ExitStack() as stack:
            sipp = self.sipp(stack, "sipp-button", 30 + a.presses * 3)
            sipp.start(["-sn", "uas", "-m", str(a.presses)])
            sipp.wait_listening()
            door = stack.enter_context(
                rig.HarnessFirmware(
                    self.workdir / "door-button",
                    {"call": {"targets": [f"sip:sipp@{LOOPBACK}:{sipp.port}"]}},
                    deadline_s=60 + a.presses * 3,
                )
            ).start()
            capture = self.capture(
                stack,
                f"(tcp port {door.api_port}) or (udp port {sipp.port})",
                "button",
                30 + a.presses * 3,
            )
            for _ in range(a.presses):
                door.post("/api/sim/button", {"action": "press"})
                time.sleep(0.12)
                door.post("/api/sim/button", {"action": "release"})
                door.wait_door("IN_CALL", 5)
                door.post("/api/hangup")
                door.wait_door("IDLE", 5)
                time.sleep(0.2)
            code = sipp.wait(20)
            out: dict[str, Any] = {"sipp_exit": code}
            handler = door.marks("press")
            pressed = door.marks("pressed")
            out["handler_to_event_ms"] = rig.summary(
                [(p - h) * 1000 for h, p in zip(handler, pressed, strict=False)]
            )
            if capture is not None:
                capture.stop()
                http = [
                    float(r[0])
                    for r in capture.fields(
                        'http.request.uri == "/api/sim/button" && frame contains "press"',
                        ["frame.time_epoch"],
                        decode_as=[f"tcp.port=={door.api_port},http"],
                    )
                ]
                invites = [
                    float(r[0])
                    for r in capture.fields(
                        f'sip.Method == "INVITE" && udp.dstport == {sipp.port}',
                        ["frame.time_epoch"],
                        decode_as=[f"udp.port=={sipp.port},sip"],
                    )
                ]
                # A retransmitted INVITE would be a second one per call: keep the first after
                # each press.
                firsts = []
                for t in pressed:
                    later = [i for i in invites if i >= t - 0.001]
                    firsts.append(min(later) if later else float("nan"))
                out["counts"] = {
                    "http": len(http),
                    "handler": len(handler),
                    "pressed": len(pressed),
                    "invites": len(invites),
                }
                out["event_to_invite_ms"] = rig.summary(
                    [(i - p) * 1000 for p, i in zip(pressed, firsts, strict=False)]
                )
                out["http_to_handler_ms"] = rig.summary(
                    [(h - t) * 1000 for t, h in zip(http, handler, strict=False)]
                )
                out["http_to_invite_ms"] = rig.summary(
                    [(i - t) * 1000 for t, i in zip(http, firsts, strict=False)]
                )
            out["firmware_exit"] = door.stop()
        self.results["button"] = out
        e2i = out.get("event_to_invite_ms", {})
        say(
            "  press event -> INVITE on the wire: median "
            f"{e2i.get('median', float('nan')):.3f} ms, "
            f"max {e2i.get('max', float('nan')):.3f} ms; HTTP request -> INVITE median "
            f"{out.get('http_to_invite_ms', {}).get('median', float('nan')):.2f} ms "
            f"(debounce {out['handler_to_event_ms'].get('median', float('nan')):.2f} ms)"
        )

    # -- 40 INVITE/s while a call is up ---------------------------------------------------------
    def burst(self) -> None:
        """--bursts bursts in one call, each followed by 35 s for its transactions to expire:
        the first shows the timing (and fills caches), the growth from the second-last to the
        last expired state is what is kept per INVITE."""
        a = self.args
        pre, post, expire = 5.0, 5.0, 35.0  # Timer J/L: 64*T1 = 32 s
        call_s = pre + a.bursts * (a.burst_s + expire + 1) + post
        invites = int(40 * a.burst_s)
        say(
            f"burst: {a.bursts} x {invites} INVITEs at 40/s during a {call_s:g} s call with RTP "
            "both ways"
        )
        with contextlib.ExitStack() as stack:
            door = stack.enter_context(
                rig.HarnessFirmware(
                    self.workdir / "door-burst",
                    {"audio": {"backend": "sim", "mic_file": str(self.speech)}},
                    deadline_s=call_s + 120,
                )
            ).start()
            assert door.meter is not None
            low, high = door.rtp_range
            capture = self.capture(stack, f"udp and portrange {low}-{high}", "burst", call_s + 20)
            call = self.sipp(stack, "sipp-burst-call", call_s + 20)
            target = f"{LOOPBACK}:{door.sip_port}"
            media = str(self.scenarios["media"])
            call.start(
                [target, "-sf", media, "-s", "door", "-m", "1", "-d", str(int(call_s * 1000))]
            )
            call.wait_answered()
            time.sleep(pre - 2)
            probes: dict[str, Any] = {"in_call_before": door.probe()}
            snaps: dict[str, Any] = {"in_call_before": door.meter.snapshot()}
            bursts = []
            for n in range(1, a.bursts + 1):
                sipp = self.sipp(stack, f"sipp-burst{n}", a.burst_s + 30)
                t0 = time.time()
                busy = str(self.scenarios["busy"])
                code = sipp.run(
                    [target, "-sf", busy, "-s", "door", "-m", str(invites), "-r", "40", "-l", "200"]
                )
                t1 = time.time()
                time.sleep(1)
                probes[f"burst{n}_end"] = door.probe()
                snaps[f"burst{n}_end"] = door.meter.snapshot()
                time.sleep(expire)
                probes[f"burst{n}_expired"] = door.probe(types=True)
                snaps[f"burst{n}_expired"] = door.meter.snapshot()
                bursts.append(
                    {
                        "exit": code,
                        "finals": sipp.final_statuses(),
                        "busy_ms": rig.summary(sipp.response_times(486)),
                        "t0": t0,
                        "t1": t1,
                        "seconds": t1 - t0,
                    }
                )
            call_code = call.wait()
            time.sleep(2)
            probes["idle_after_call"] = door.probe()
            snaps["idle_after_call"] = door.meter.snapshot()
            time.sleep(expire)
            probes["idle_expired"] = door.probe()
            snaps["idle_expired"] = door.meter.snapshot()
            last = f"burst{a.bursts}_expired"
            previous = f"burst{a.bursts - 1}_expired"
            first, second = probes[previous], probes[last]
            out: dict[str, Any] = {
                "call_exit": call_code,
                "bursts": bursts,
                "invites_per_burst": invites,
                "probe": probes,
                "snap": snaps,
                "kept_types": {
                    name: count - first.get("types", {}).get(name, 0)
                    for name, count in second.get("types", {}).items()
                    if count - first.get("types", {}).get(name, 0) > invites // 4
                },
                "kept_types_after_collect": {
                    name: count - first.get("types_after_collect", {}).get(name, 0)
                    for name, count in second.get("types_after_collect", {}).items()
                    if count - first.get("types_after_collect", {}).get(name, 0) > invites // 4
                },
                "kept_per_invite": {
                    "gc_objects": (second["gc_objects"] - first["gc_objects"]) / invites,
                    "gc_objects_after_collect": (
                        second.get("gc_objects_after_collect", 0)
                        - first.get("gc_objects_after_collect", 0)
                    )
                    / invites,
                    "gc_collected": second.get("gc_collected"),
                    "rss_bytes": 1024
                    * (snaps[last]["rss_kb"] - snaps[previous]["rss_kb"])
                    / invites,
                },
            }
            if capture is not None:
                capture.stop()
                streams = rig.rtp_times(capture, (low, high))
                if streams:
                    times = max(streams.values(), key=len)
                    t0, t1 = bursts[0]["t0"], bursts[0]["t1"]
                    windows = {
                        "before": [t for t in times if t0 - pre < t < t0],
                        "during": [t for t in times if t0 <= t <= t1],
                        "after": [t for t in times if t1 < t < t1 + expire],
                    }
                    for n, b in enumerate(bursts[1:], 2):
                        windows[f"during{n}"] = [t for t in times if b["t0"] <= t <= b["t1"]]
                    out["rtp"] = {k: rig.rtp_stream_stats(v, k) for k, v in windows.items()}
            out["firmware_exit"] = door.stop()
            out["tracebacks"] = door.log().count("Traceback")
        self.results["burst"] = out
        nan = float("nan")
        rtp = out.get("rtp", {})
        for n, b in enumerate(bursts, 1):
            during = rtp.get("during" if n == 1 else f"during{n}", {}).get("interval_ms", {})
            say(
                f"  burst {n}: exit {b['exit']} finals {b['finals']} in {b['seconds']:.1f} s; 486 "
                f"median {b['busy_ms'].get('median', nan):.3f} ms, max "
                f"{b['busy_ms'].get('max', nan):.3f} ms; RTP interval p99 during "
                f"{during.get('p99', nan):.3f} ms (before: "
                f"{rtp.get('before', {}).get('interval_ms', {}).get('p99', nan):.3f} ms)"
            )
        for key in probes:
            p, sn = probes[key], snaps[key]
            say(
                f"  {key:16s} RSS {sn['rss_kb']} kB, fds {sn['fds']}, threads {sn['threads']}, "
                f"tasks {p['tasks']}, transactions {p['transactions']}, calls {p['agent_calls']}, "
                f"gc objects {p['gc_objects']}"
            )
        kept = out["kept_per_invite"]
        if out["kept_types"]:
            say(f"  object types grown by the last burst: {out['kept_types']}")
        if out["kept_types_after_collect"]:
            say(f"  ... still there after gc.collect(): {out['kept_types_after_collect']}")
        say(
            f"  kept per INVITE (last burst): {kept['gc_objects']:.2f} objects "
            f"({kept['gc_objects_after_collect']:.2f} after gc.collect(), which freed "
            f"{kept['gc_collected']}), {kept['rss_bytes']:.0f} B RSS"
        )

    # -- the audio path in loopback, and the RTP clock -----------------------------------------
    def audio(self) -> None:
        a = self.args
        say(f"audio: one {a.audio_s:g} s call, sim audio in loopback, bursts every second")
        with contextlib.ExitStack() as stack:
            door = stack.enter_context(
                rig.BenchFirmware(
                    self.workdir / "door-audio",
                    {"audio": {"backend": "sim", "loopback": True}},
                    deadline_s=a.audio_s + 120,
                )
            ).start()
            assert door.meter is not None
            low, high = door.rtp_range
            capture = self.capture(
                stack, f"udp and src portrange {low}-{high}", "audio", a.audio_s + 30
            )
            peer = rig.RtpPeer()
            stack.callback(peer.stop)
            sipp = self.sipp(stack, "sipp-audio", a.audio_s + 30)
            sipp.start(
                [
                    f"{LOOPBACK}:{door.sip_port}",
                    "-sf",
                    str(self.scenarios["peer"]),
                    "-s",
                    "door",
                    "-m",
                    "1",
                    "-d",
                    str(int(a.audio_s * 1000)),
                    "-key",
                    "rtp_port",
                    str(peer.port),
                ]
            )
            sipp.wait_answered()
            peer.start_sending()
            time.sleep(2)
            before = door.meter.snapshot()
            code = sipp.wait()
            after = door.meter.snapshot()
            peer.stop()
            delays = peer.delays()
            good = [d for d in delays if d[2] > 0.5]
            values = [d[1] for d in good]
            first = [d[1] for d in good if d[0] < 60]
            last_start = max((d[0] for d in good), default=0) - 60
            last = [d[1] for d in good if d[0] >= last_start]
            out: dict[str, Any] = {
                "sipp_exit": code,
                "bursts_sent": len(peer.sent_bursts),
                "bursts_found": len(good),
                "quality_min": min((d[2] for d in delays), default=None),
                "delay_ms": rig.summary(values),
                "first_minute_ms": rig.summary(first),
                "last_minute_ms": rig.summary(last),
                "peer_send_late": peer.send_late,
                "arrival_interval_ms": rig.summary(peer.arrival_intervals()),
                "cpu": rig.cpu_between(before, after),
                "delays": [(round(t, 3), round(d, 3), round(q, 3)) for t, d, q in delays],
            }
            if capture is not None:
                capture.stop()
                streams = rig.rtp_times(capture, (low, high))
                if streams:
                    times = max(streams.values(), key=len)
                    out["rtp"] = rig.rtp_stream_stats(times, "firmware RTP out")
            out["firmware_exit"] = door.stop()
            out["stats_line"] = [line for line in door.log().splitlines() if "ended" in line][-1:]
        self.results["audio"] = out
        nan = float("nan")
        d = out["delay_ms"]
        rtp = out.get("rtp", {})
        say(
            f"  delay min/median/max {d.get('min', nan):.2f}/{d.get('median', nan):.2f}/"
            f"{d.get('max', nan):.2f} ms over {out['bursts_found']}/{out['bursts_sent']} "
            "bursts; "
            f"first minute median {out['first_minute_ms'].get('median', float('nan')):.2f}, last "
            f"{out['last_minute_ms'].get('median', float('nan')):.2f} ms"
        )
        if rtp:
            say(
                f"  RTP {rtp['rate_pps']:.4f} packets/s over {rtp['seconds']:.1f} s, drift "
                f"{rtp['drift_ms_per_min']:.4f} ms/min, interval p99 "
                f"{rtp['interval_ms']['p99']:.3f} ms, "
                f"max {rtp['interval_ms']['max']:.3f} ms"
            )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench_firmware", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="60 s audio call, 200 calls")
    parser.add_argument("--only", default=",".join(PARTS), help="comma-separated parts")
    parser.add_argument("--idle-s", type=float, default=30)
    parser.add_argument("--calls", type=int, default=None, help="short calls (500; quick 200)")
    parser.add_argument("--cps", type=float, default=10, help="short calls per second")
    parser.add_argument("--call-s", type=float, default=None, help="CPU call (60 s; quick 30 s)")
    parser.add_argument("--rounds", type=int, default=None, help="CPU call rounds (3; quick 1)")
    parser.add_argument("--presses", type=int, default=None, help="button presses (50; quick 20)")
    parser.add_argument("--burst-s", type=float, default=10)
    parser.add_argument("--bursts", type=int, default=None, help="bursts (>= 2; 3, quick 2)")
    parser.add_argument("--audio-s", type=float, default=None, help="audio call (600 s; quick 60)")
    parser.add_argument(
        "--firmware-python",
        metavar="PYTHON",
        help="run the firmware with this interpreter (it needs the project installed; "
        "default: this environment's `intercom`)",
    )
    parser.add_argument("--workdir", help="work folder (default: a new one under /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (captures, logs)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--report", metavar="JSON", help="only print the summary of a results file")
    args = parser.parse_args(argv)
    if args.report:
        report(json.loads(Path(args.report).read_text()))
        return 0
    quick = args.quick
    args.calls = args.calls or (200 if quick else 500)
    args.call_s = args.call_s or (30 if quick else 60)
    args.presses = args.presses or (20 if quick else 50)
    args.rounds = args.rounds or (1 if quick else 3)
    args.bursts = max(2, args.bursts or (2 if quick else 3))
    args.audio_s = args.audio_s or (60 if quick else 600)
    parts = [p for p in args.only.split(",") if p]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)} (parts: {', '.join(PARTS)})")

    workdir = (
        Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench-firmware-"))
    )
    workdir.mkdir(parents=True, exist_ok=True)
    say(f"work folder {workdir}")
    rig.BenchFirmware.python = args.firmware_python
    run = Run(args, workdir)
    m = run.results["machine"]
    m["firmware_python"] = rig.python_version(args.firmware_python or sys.executable)
    say(f"machine: {m['cpu']}, nproc {m['nproc']}, load {m['loadavg_start']}, {m['versions']}")
    say(f"firmware's Python: {m['firmware_python']}")
    started = time.monotonic()
    try:
        if {"idle", "calls", "cpu", "floor"} & set(parts):
            run.side_by_side(parts)
        if "button" in parts:
            run.button()
        if "burst" in parts:
            run.burst()
        if "audio" in parts:
            run.audio()
    finally:
        run.results["seconds"] = time.monotonic() - started
        run.results["loadavg_end"] = os.getloadavg()
        rig.write_json(workdir / "results.json", run.results)
        if args.json:
            rig.write_json(Path(args.json), run.results)
        if not args.keep and not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            say(f"results: {workdir / 'results.json'}")
    report(run.results)
    return 0


def report(results: dict[str, Any]) -> None:
    """The figures against their goals."""
    nan = float("nan")
    rows = []

    def row(figure: str, value: str, goal: str, met: bool | None, reference: str = "") -> None:
        verdict = "-" if met is None else ("met" if met else "MISSED")
        rows.append((figure, value, goal, verdict, reference))

    calls = results.get("calls", {})
    if calls:
        fw, bs = calls.get("firmware", {}), calls.get("baresip", {})
        med = fw.get("answer_ms_sipp", {}).get("median", nan)
        row(
            "INVITE -> 200 OK, median (SIPp µs)",
            f"{med:.3f} ms",
            "< 2 ms",
            med < 2,
            f"{bs.get('answer_ms_sipp', {}).get('median', nan):.3f} ms",
        )
        wire = fw.get("answer_ms_wire", {}).get("median", nan)
        row(
            "INVITE -> 200 OK, median (tshark)",
            f"{wire:.3f} ms",
            "< 2 ms",
            wire < 2,
            f"{bs.get('answer_ms_wire', {}).get('median', nan):.3f} ms",
        )
        rss = fw.get("after", {}).get("rss_kb", 0) / 1024
        row(
            "RSS after the calls",
            f"{rss:.1f} MB",
            "< 30 MB",
            rss < 30,
            f"{bs.get('after', {}).get('rss_kb', 0) / 1024:.1f} MB",
        )
        per = fw.get("rss_growth_per_call_kb", nan)
        row(
            f"RSS growth per call ({fw.get('finals')})",
            f"{per:.2f} kB",
            "< 50 kB",
            per < 50,
            f"{bs.get('rss_growth_per_call_kb', nan):.2f} kB",
        )
        answered = fw.get("finals", {}).get("200", 0)
        attempted = sum(fw.get("finals", {}).values())
        row(
            "short calls answered",
            f"{answered}/{attempted}",
            "all",
            answered == attempted and attempted > 0,
            str(bs.get("finals")),
        )
    idle = results.get("idle", {})
    if idle:
        v = idle["firmware"]["cpu_percent"]
        row(
            "idle CPU (30 s)",
            f"{v:.4f} %",
            "< 0.1 %",
            v < 0.1,
            f"{idle['baresip']['cpu_percent']:.4f} %",
        )
    cpu = results.get("cpu", {})
    summary = results.get("cpu_summary")
    if summary and summary.get("ratios"):
        f = rig.percentile(summary["firmware_percent"], 50)
        b = rig.percentile(summary["baresip_percent"], 50)
        ratio = summary["median_ratio"]
        row(
            f"CPU per call-second (median of {len(summary['ratios'])} rounds)",
            f"{f:.3f} % ({ratio:.2f}x baresip, {min(summary['ratios']):.2f}-"
            f"{max(summary['ratios']):.2f}x)",
            "<= 1.5x baresip",
            ratio <= 1.5,
            f"{b:.3f} %",
        )
        for kind, what in (
            ("glue", "its own code around a core that does nothing"),
            ("io", "socket work only"),
            ("empty", "an empty tick"),
        ):
            floor = summary.get(f"floor-{kind}")
            if floor and floor["ratios"]:
                row(
                    f"the same, the firmware's pump doing {what} (--floor {kind})",
                    f"{rig.percentile(floor['percent'], 50):.3f} % "
                    f"({floor['median_ratio']:.2f}x baresip)",
                    "-",
                    None,
                    f"{b:.3f} %",
                )
    elif cpu and "firmware" in cpu and "baresip" in cpu:
        f, b = cpu["firmware"]["cpu_percent"], cpu["baresip"]["cpu_percent"]
        row(
            "CPU per call-second",
            f"{f:.3f} % ({f / b:.2f}x baresip)",
            "<= 1.5x baresip",
            f <= 1.5 * b,
            f"{b:.3f} %",
        )
        fo = cpu["firmware"].get("rtp_out", {}).get("interval_ms", {}).get("p99", nan)
        bo = cpu["baresip"].get("rtp_out", {}).get("interval_ms", {}).get("p99", nan)
        row(
            "RTP send interval p99 (CPU call)",
            f"{fo:.3f} ms",
            "< 20.5 ms",
            fo < 20.5,
            f"{bo:.3f} ms",
        )
    button = results.get("button", {})
    if button.get("event_to_invite_ms"):
        v = button["event_to_invite_ms"].get("median", nan)
        row(
            "button press event -> INVITE, median",
            f"{v:.3f} ms (max {button['event_to_invite_ms'].get('max', nan):.3f})",
            "< 5 ms",
            v < 5,
        )
        v = button["http_to_invite_ms"].get("median", nan)
        row("HTTP press request -> INVITE, median", f"{v:.2f} ms", "(incl. debounce)", None)
    burst = results.get("burst", {})
    if burst:
        during = burst.get("rtp", {}).get("during", {}).get("interval_ms", {}).get("p99", nan)
        before = burst.get("rtp", {}).get("before", {}).get("interval_ms", {}).get("p99", nan)
        row(
            "RTP interval p99 during 40 INVITE/s",
            f"{during:.3f} ms (before {before:.3f})",
            "< 20.5 ms",
            during < 20.5,
        )
        b = burst["bursts"][0]
        row(
            f"INVITE -> 486 median / max ({b['finals']})",
            f"{b['busy_ms'].get('median', nan):.3f} / {b['busy_ms'].get('max', nan):.3f} ms",
            "at once",
            b["finals"].get("486", 0) == burst["invites_per_burst"],
        )
        p0 = burst["probe"]["in_call_before"]
        p1 = burst["probe"][f"burst{len(burst['bursts'])}_expired"]
        kept = burst["kept_per_invite"]
        row(
            "tasks, transactions: before -> after the bursts",
            f"{p0['tasks']}, {p0['transactions']} -> {p1['tasks']}, {p1['transactions']}",
            "no growth",
            p1["tasks"] <= p0["tasks"] and p1["transactions"] <= p0["transactions"],
        )
        row(
            "kept per INVITE (last burst)",
            f"{kept['gc_objects']:.2f} objects "
            f"({kept.get('gc_objects_after_collect', nan):.2f} after gc.collect()), "
            f"{kept['rss_bytes']:.0f} B RSS",
            "0",
            kept["gc_objects"] < 1,
        )
    audio = results.get("audio", {})
    if audio:
        d = audio.get("delay_ms", {})
        row(
            "audio delay min/median/max",
            f"{d.get('min', nan):.1f}/{d.get('median', nan):.1f}/{d.get('max', nan):.1f} ms",
            "< 60 ms",
            d.get("max", nan) < 60,
        )
        row(
            "audio delay first/last minute median",
            f"{audio['first_minute_ms'].get('median', nan):.1f}/"
            f"{audio['last_minute_ms'].get('median', nan):.1f} ms",
            "flat",
            None,
        )
        rtp = audio.get("rtp", {})
        if rtp:
            rate = rtp["rate_pps"]
            row(
                f"RTP rate over {rtp['seconds']:.0f} s",
                f"{rate:.4f} /s (drift {rtp['drift_ms_per_min']:.4f} ms/min)",
                "50.00 +/- 0.05",
                abs(rate - 50) <= 0.05,
            )
            p99 = rtp["interval_ms"]["p99"]
            row("RTP send interval p99 (audio call)", f"{p99:.3f} ms", "< 20.5 ms", p99 < 20.5)
    if not rows:
        return
    say("")
    firmware_python = results.get("machine", {}).get("firmware_python")
    if firmware_python:
        say(f"The firmware ran on Python {firmware_python}.")
    say("| figure | firmware | goal | verdict | baresip (same run) |")
    say("| --- | --- | --- | --- | --- |")
    for r in rows:
        say("| " + " | ".join(r) + " |")
