"""The firmware (`intercom run`, sim board) in calls through Kamailio with baresip and linphonec as
the flats' phones: the button call with two-way audio and the DTMF door code, hang-ups from either
side, parallel and sequential ringing, and calls to the door from allowed and other callers."""

from __future__ import annotations

import time

import pytest

from tests.interop.audio import DOOR_HZ, FLAT_HZ, LINPHONE_HZ, read_pcm, seconds_of_tone
from tests.interop.peers import (
    Baresip,
    Linphone,
    flat_account,
    start_door,
    start_flat,
    stop_door,
    wait_for,
)

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

PULSE_MS = 700


def call_ids(pbx, method, user):
    """Call-IDs of the requests with method whose Request-URI (as received) names user."""
    return [r["cid"] for r in pbx.requests(method) if r["ruri"].startswith(f"sip:{user}@")]


def test_button_call_audio_and_dtmf_door_code(pbx, stack, tmp_path, tones):
    """Button -> Kamailio (407 for the INVITE) -> baresip answers; both directions carry their
    tone; RFC 4733 `1234#` pulses the relay for pulse_ms; baresip hangs up (BYE)."""
    flat = start_flat(stack, tmp_path, pbx, "flat101", tones[FLAT_HZ])
    door = start_door(
        stack,
        tmp_path,
        pbx,
        {
            "call": {"targets": [pbx.uri("flat101")]},
            "door": {"pulse_ms": PULSE_MS},
            "audio": {"mic_file": str(tones[DOOR_HZ])},
        },
    )
    door.click()
    call = flat.ctl.wait_event("CALL_ESTABLISHED", 10)
    assert call["peeruri"] == "sip:door@127.0.0.1" and call["direction"] == "incoming"
    status = door.wait_door("IN_CALL", 5)
    assert status["door"]["peer"].startswith("sip:flat101@")
    # The INVITE was challenged (407) and sent again with credentials, same Call-ID.
    assert call_ids(pbx, "INVITE", "flat101").count(call["id"]) == 2

    time.sleep(1.5)  # talk
    assert flat.ctl.command("sndcode", "1234#")["ok"]
    pulses = wait_for(
        lambda: [p for p in door.relay_pulses() if p[1] is not None], 8, "a whole relay pulse"
    )
    [(on_ms, off_ms)] = pulses
    assert PULSE_MS - 10 <= off_ms - on_ms <= PULSE_MS + 150, (on_ms, off_ms)
    status = door.status()
    assert status["door"]["last_opening"]["method"] == "dtmf"
    assert status["call"]["stats"]["dtmf_received"] == 5

    assert flat.ctl.command("hangup")["ok"]
    flat.ctl.wait_event("CALL_CLOSED", 5)
    status = door.wait_door("IDLE", 5)
    assert status["last_call_stats"]["packets_received"] > 100
    assert call["id"] in [r["cid"] for r in pbx.requests("BYE")]
    stop_door(door)

    # Two-way audio by content: the door's 1 kHz reached the flat, the flat's 600 Hz the door.
    [received] = flat.received_wavs()
    assert seconds_of_tone(read_pcm(received), DOOR_HZ) >= 1.6
    assert seconds_of_tone(read_pcm(door.speaker_path), FLAT_HZ) >= 1.6


def test_the_door_hangs_up_by_the_api(pbx, stack, tmp_path, tones):
    """POST /api/hangup ends the call with a BYE."""
    flat = start_flat(stack, tmp_path, pbx, "flat101", tones[FLAT_HZ])
    door = start_door(stack, tmp_path, pbx, {"call": {"targets": [pbx.uri("flat101")]}})
    door.click()
    call = flat.ctl.wait_event("CALL_ESTABLISHED", 10)
    door.wait_door("IN_CALL", 5)
    assert door.hangup()["ok"]
    closed = flat.ctl.wait_event("CALL_CLOSED", 5)
    assert closed["id"] == call["id"]
    door.wait_door("IDLE", 5)
    bye = [r for r in pbx.requests("BYE") if r["cid"] == call["id"]]
    assert [r["from"] for r in bye] == ["sip:door@127.0.0.1"]
    stop_door(door)


def test_sigterm_in_a_call_during_a_door_pulse(pbx, stack, tmp_path, tones):
    """SIGTERM in a call while the strike is energised (an 8 s pulse): the strike is released at
    once, the call gets its BYE, the binding is removed, and the exit code is 0."""
    flat = start_flat(stack, tmp_path, pbx, "flat101", tones[FLAT_HZ])
    door = start_door(
        stack,
        tmp_path,
        pbx,
        {"call": {"targets": [pbx.uri("flat101")]}, "door": {"pulse_ms": 8000}},
    )
    door.click()
    call = flat.ctl.wait_event("CALL_ESTABLISHED", 10)
    door.wait_door("IN_CALL", 5)
    assert door.post("/api/door/open")["ok"]
    wait_for(lambda: door.status()["relay"]["on"], 3, "the relay to pull")
    started = time.monotonic()
    stop_door(door)  # exit code 0, and the relay off in the board's state file
    assert time.monotonic() - started < 3
    closed = flat.ctl.wait_event("CALL_CLOSED", 5)
    assert closed["id"] == call["id"]
    assert call["id"] in [r["cid"] for r in pbx.requests("BYE")]
    assert pbx.contacts("door") == []


def test_calls_to_the_door_from_allowed_and_other_callers(pbx, stack, tmp_path, tones):
    """An allowed flat's call is answered by itself and can open the door; anyone else gets 403."""
    flat = start_flat(stack, tmp_path, pbx, "flat101", tones[FLAT_HZ])
    stranger = start_flat(stack, tmp_path, pbx, "mallory", tones[FLAT_HZ])
    door = start_door(
        stack,
        tmp_path,
        pbx,
        {
            "call": {"targets": [pbx.uri("flat101")]},
            "answer": {"allowed": ["flat101"]},
            "door": {"pulse_ms": PULSE_MS},
        },
    )
    assert stranger.ctl.command("dial", pbx.uri("door"))["ok"]
    closed = stranger.ctl.wait_event("CALL_CLOSED", 10)
    assert "403" in closed["param"], closed
    assert "CALL_ESTABLISHED" not in stranger.ctl.event_types()
    assert door.door_state() == "IDLE"

    assert flat.ctl.command("dial", pbx.uri("door"))["ok"]
    call = flat.ctl.wait_event("CALL_ESTABLISHED", 10)
    assert call["direction"] == "outgoing"
    status = door.wait_door("IN_CALL", 5)
    assert status["door"]["peer"].startswith("sip:flat101@")
    time.sleep(0.5)
    assert flat.ctl.command("sndcode", "1234#")["ok"]
    wait_for(lambda: door.relay_pulses(), 8, "the relay to pull")
    assert flat.ctl.command("hangup")["ok"]
    door.wait_door("IDLE", 5)
    stop_door(door)


def test_parallel_ring_first_answer_wins_and_the_other_is_cancelled(pbx, stack, tmp_path, tones):
    """Both flats ring; linphonec answers; the door CANCELs baresip's ringing call (487)."""
    ringing = start_flat(stack, tmp_path, pbx, "flat101", tones[FLAT_HZ], answermode="manual")
    linphone = stack.enter_context(
        Linphone(tmp_path / "flat102", "flat102", pbx.port, play=tones[LINPHONE_HZ])
    )
    linphone.start()
    linphone.wait_registered()
    door = start_door(
        stack,
        tmp_path,
        pbx,
        {
            "call": {"targets": [pbx.uri("flat101"), pbx.uri("flat102")], "strategy": "parallel"},
            "audio": {"mic_file": str(tones[DOOR_HZ])},
        },
    )
    door.click()
    incoming = ringing.ctl.wait_event("CALL_INCOMING", 10)
    status = door.wait_door("IN_CALL", 10)
    assert status["door"]["peer"].startswith("sip:flat102@")
    linphone.wait_log("connected", 5)
    closed = ringing.ctl.wait_event("CALL_CLOSED", 5)
    assert closed["id"] == incoming["id"]
    assert "CALL_ESTABLISHED" not in ringing.ctl.event_types()
    assert incoming["id"] in [r["cid"] for r in pbx.requests("CANCEL")]
    assert f"RPL 487 Request Terminated for INVITE cid={incoming['id']}" in pbx.log()
    assert incoming["id"] not in [r["cid"] for r in pbx.requests("BYE")]

    time.sleep(1.5)  # talk
    linphone.command("1234#")  # digits typed in a call go as RFC 4733 events
    pulses = wait_for(door.relay_pulses, 8, "the relay to pull")
    assert len(pulses) == 1
    assert door.status()["door"]["last_opening"]["by"].startswith("sip:flat102@")
    linphone.command("terminate")  # the BYE comes to the door from linphonec's GRUU contact
    door.wait_door("IDLE", 5)
    stop_door(door)
    assert seconds_of_tone(read_pcm(door.speaker_path), LINPHONE_HZ) >= 1.2
    heard = wait_for(
        lambda: linphone.record.exists() and seconds_of_tone(read_pcm(linphone.record), DOOR_HZ),
        5,
        "linphonec's recording of the call",
    )
    assert heard >= 1.2


def test_parallel_ring_when_both_flats_answer_at_once(pbx, stack, tmp_path, tones):
    """Both flats answer by themselves within milliseconds: the first 200 wins; the other call
    is CANCELled or, when its 200 crossed the CANCEL, ACKed and ended with a BYE (RFC 3261 9.1):
    exactly one call stays up."""
    flats = [
        start_flat(stack, tmp_path, pbx, user, tones[FLAT_HZ]) for user in ("flat101", "flat102")
    ]
    door = start_door(
        stack, tmp_path, pbx, {"call": {"targets": [pbx.uri("flat101"), pbx.uri("flat102")]}}
    )
    door.click()
    status = door.wait_door("IN_CALL", 10)
    wait_for(
        lambda: any("CALL_CLOSED" in f.ctl.event_types() for f in flats), 5, "the other call to end"
    )
    time.sleep(1)  # and nothing else happens
    answered = [f for f in flats if "CALL_ESTABLISHED" in f.ctl.event_types()]
    [winner] = [f for f in answered if "CALL_CLOSED" not in f.ctl.event_types()]
    [loser] = [f for f in flats if f is not winner]
    user = winner.workdir.name
    assert status["door"]["peer"].startswith(f"sip:{user}@")
    if loser in answered:  # its 200 crossed our CANCEL: ACKed, then a BYE
        call_id = loser.ctl.wait_event("CALL_ESTABLISHED", 0)["id"]
        assert call_id in [r["cid"] for r in pbx.requests("BYE")]
    assert door.hangup()["ok"]
    winner.ctl.wait_event("CALL_CLOSED", 5)
    stop_door(door)


def test_sequential_ring_falls_back_when_the_first_flat_does_not_answer(
    pbx, stack, tmp_path, tones
):
    """flat101 rings target_timeout_s and is cancelled; then flat102 rings and answers."""
    first = start_flat(stack, tmp_path, pbx, "flat101", tones[FLAT_HZ], answermode="manual")
    second = start_flat(stack, tmp_path, pbx, "flat102", tones[FLAT_HZ])
    door = start_door(
        stack,
        tmp_path,
        pbx,
        {
            "call": {
                "targets": [pbx.uri("flat101"), pbx.uri("flat102")],
                "strategy": "sequential",
                "target_timeout_s": 3,
            },
        },
    )
    door.click()
    clicked = time.monotonic()
    incoming = first.ctl.wait_event("CALL_INCOMING", 10)
    closed = first.ctl.wait_event("CALL_CLOSED", 8)
    assert closed["id"] == incoming["id"]
    call = second.ctl.wait_event("CALL_ESTABLISHED", 8)
    assert time.monotonic() - clicked >= 3
    assert "CALL_ESTABLISHED" not in first.ctl.event_types()
    assert incoming["id"] in [r["cid"] for r in pbx.requests("CANCEL")]
    # flat102 was called only after flat101's call was cancelled.
    log = pbx.log()
    assert log.index("REQ CANCEL sip:flat101@") < log.index(f"cid={call['id']}")
    status = door.wait_door("IN_CALL", 5)
    assert status["door"]["peer"].startswith("sip:flat102@")
    assert door.hangup()["ok"]
    second.ctl.wait_event("CALL_CLOSED", 5)
    stop_door(door)


def test_sequential_ring_moves_on_at_once_from_an_offline_or_declining_flat(
    pbx, stack, tmp_path, tones
):
    """flat103 is not registered (404 from Kamailio), flat102 declines (486): flat101 is rung
    straight away, without waiting for target_timeout_s."""
    declining = start_flat(stack, tmp_path, pbx, "flat102", tones[FLAT_HZ], answermode="manual")
    answering = start_flat(stack, tmp_path, pbx, "flat101", tones[FLAT_HZ])
    door = start_door(
        stack,
        tmp_path,
        pbx,
        {
            "call": {
                "targets": [pbx.uri("flat103"), pbx.uri("flat102"), pbx.uri("flat101")],
                "strategy": "sequential",
                "target_timeout_s": 10,
            },
        },
    )
    door.click()
    clicked = time.monotonic()
    declining.ctl.wait_event("CALL_INCOMING", 5)
    assert declining.ctl.command("hangup")["ok"]  # decline: 486
    answering.ctl.wait_event("CALL_ESTABLISHED", 5)
    assert time.monotonic() - clicked < 3
    door.wait_door("IN_CALL", 5)
    log = door.log()
    assert "ended: rejected (404)" in log and "ended: rejected (486)" in log
    assert door.hangup()["ok"]
    answering.ctl.wait_event("CALL_CLOSED", 5)
    stop_door(door)


def test_caller_cancels_while_the_door_waits_to_answer(pbx, stack, tmp_path, tones):
    """With answer.delay_s the door rings (180) first; the caller's CANCEL gets 200 and 487."""
    flat = start_flat(stack, tmp_path, pbx, "flat101", tones[FLAT_HZ])
    door = start_door(stack, tmp_path, pbx, {"answer": {"allowed": ["flat101"], "delay_s": 3}})
    assert flat.ctl.command("dial", pbx.uri("door"))["ok"]
    ringing = flat.ctl.wait_event("CALL_RINGING", 5)
    door.wait_door("RINGING", 2)
    assert flat.ctl.command("hangup")["ok"]
    flat.ctl.wait_event("CALL_CLOSED", 5)
    door.wait_door("IDLE", 2)
    assert "CALL_ESTABLISHED" not in flat.ctl.event_types()
    assert f"RPL 487 Request Terminated for INVITE cid={ringing['id']}" in pbx.log()
    assert "ended: cancelled (487)" in door.log()
    stop_door(door)


def test_calls_over_tcp_both_ways_with_hold_and_resume(pbx, stack, tmp_path, tones):
    """Door and flat registered over TCP, the flat with A-law only: the button call with the
    door code, then the flat's call to the door, put on hold and resumed (re-INVITEs) before the
    flat hangs up."""
    flat = stack.enter_context(
        Baresip(
            tmp_path / "flat101",
            flat_account(pbx, "flat101")
            .replace(f":{pbx.port}>", f":{pbx.port};transport=tcp>")
            .replace("audio_codecs=PCMU,PCMA", "audio_codecs=PCMA"),
            f"aufile,{tones[FLAT_HZ]}",
            90,
        )
    )
    flat.start()
    flat.wait_registered()
    door = start_door(
        stack,
        tmp_path,
        pbx,
        {
            "sip": {"transport": "tcp"},
            "call": {"targets": [pbx.uri("flat101")]},
            "answer": {"allowed": ["flat101"]},
            "door": {"pulse_ms": PULSE_MS},
            "audio": {"mic_file": str(tones[DOOR_HZ])},
        },
    )
    door.click()
    call = flat.ctl.wait_event("CALL_ESTABLISHED", 10)
    status = door.wait_door("IN_CALL", 5)
    assert status["call"]["stats"]["codec"] == "PCMA"  # the flat's only law, not our first
    time.sleep(0.5)
    assert flat.ctl.command("sndcode", "1234#")["ok"]
    wait_for(door.relay_pulses, 8, "the relay to pull")
    assert flat.ctl.command("hangup")["ok"]
    door.wait_door("IDLE", 5)
    assert {r["transport"] for r in pbx.requests() if r["cid"] == call["id"]} == {"tcp"}

    seen = len(flat.ctl.events)
    assert flat.ctl.command("dial", pbx.uri("door"))["ok"]
    call = flat.ctl.wait_event("CALL_ESTABLISHED", 10, after=seen)
    door.wait_door("IN_CALL", 5)
    time.sleep(0.5)
    # On hold (baresip offers sendonly) the door answers recvonly and must not send; once
    # resumed it sends again. (baresip's own recording stops at the hold: count packets.)
    assert flat.ctl.command("hold")["ok"]
    time.sleep(0.3)
    held = door.status()["call"]["stats"]["packets_sent"]
    time.sleep(0.6)
    assert door.status()["call"]["stats"]["packets_sent"] == held
    assert flat.ctl.command("resume")["ok"]
    time.sleep(1)
    assert door.status()["call"]["stats"]["packets_sent"] >= held + 40
    assert door.door_state() == "IN_CALL"
    assert flat.ctl.command("hangup")["ok"]
    door.wait_door("IDLE", 5)
    invites = [r for r in pbx.requests("INVITE") if r["cid"] == call["id"]]
    assert len(invites) == 4  # challenged, authorised, hold, resume
    assert {r["transport"] for r in invites} == {"tcp"}
    stop_door(door)
    first = flat.received_wavs()[0]  # the button call, in A-law
    assert seconds_of_tone(read_pcm(first), DOOR_HZ) >= 0.8
