"""The firmware (`intercom run`, peer-to-peer, no registrar) against SIPp's built-in scenarios,
and against a burst of malformed SIP over UDP and TCP."""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path

import pytest

from tests.interop.audio import DOOR_HZ, read_pcm, seconds_of_tone
from tests.interop.peers import DATA, LOOPBACK, Sipp, sip_options, start_door, stop_door

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

RFC4475 = Path(__file__).resolve().parents[1] / "data" / "rfc4475"


def test_sipp_uac_calls_are_answered_for_an_allowed_caller(stack, tmp_path):
    """`sipp -sn uac` (From sip:sipp@...) calls the door three times, one after the other: each
    INVITE is answered by itself, ACKed, and ended by SIPp's BYE."""
    door = start_door(stack, tmp_path, None, {"answer": {"allowed": ["sipp"]}})
    sipp = stack.enter_context(Sipp(tmp_path / "sipp", deadline_s=40))
    target = f"{LOOPBACK}:{door.sip_port}"
    code = sipp.run([target, "-sn", "uac", "-s", "door", "-m", "3", "-l", "1", "-d", "500"])
    assert code == 0, sipp.log()[-3000:] + sipp.errors()
    assert door.log().count("answered (PCMU)") == 3
    assert door.log().count("ended: remote_hangup") == 3
    assert door.door_state() == "IDLE"
    stop_door(door)


def test_door_calls_sipp_uas_which_echoes_its_audio(stack, tmp_path, tones):
    """The button calls `sipp -sn uas -rtp_echo`; the door's microphone tone comes back to its
    speaker through SIPp's RTP echo; the door hangs up (BYE) and SIPp counts a successful call."""
    sipp = stack.enter_context(Sipp(tmp_path / "sipp", deadline_s=40))
    sipp.start(["-sn", "uas", "-rtp_echo", "-m", "1"])
    sipp.wait_listening()
    door = start_door(
        stack,
        tmp_path,
        None,
        {
            "call": {"targets": [f"sip:sipp@{LOOPBACK}:{sipp.port}"]},
            "audio": {"mic_file": str(tones[DOOR_HZ])},
        },
    )
    door.click()
    door.wait_door("IN_CALL", 5)
    time.sleep(2)  # talk to the echo
    assert door.hangup()["ok"]
    assert sipp.wait(15) == 0, sipp.log()[-3000:] + sipp.errors()
    door.wait_door("IDLE", 5)
    stop_door(door)
    assert seconds_of_tone(read_pcm(door.speaker_path), DOOR_HZ) >= 1.2


def scan(port: int, count: int) -> list[bytes]:
    """What a SIP scanner sends: well-formed OPTIONS and INVITEs from strangers, many of them."""
    out = []
    for n in range(count):
        method = "INVITE" if n % 3 == 0 else "OPTIONS"
        out.append(
            (
                f"{method} sip:{100 + n}@{LOOPBACK}:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 192.0.2.66:5060;branch=z9hG4bK-scan-{n}\r\n"
                "Max-Forwards: 70\r\n"
                f'From: "friendly-scanner" <sip:{100 + n}@192.0.2.66>;tag=scan{n}\r\n'
                f"To: <sip:{100 + n}@{LOOPBACK}>\r\n"
                f"Call-ID: scan-{n}@192.0.2.66\r\nCSeq: 1 {method}\r\n"
                "User-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n"
            ).encode()
        )
    return out


def mutations(rng: random.Random) -> list[bytes]:
    """The RFC 4475 torture messages, each also cut short and with bytes flipped, plus noise."""
    out = []
    for path in sorted(RFC4475.glob("*.dat")):
        message = path.read_bytes()
        out.append(message)
        for _ in range(3):
            out.append(message[: rng.randrange(1, len(message))])
        for _ in range(4):
            flipped = bytearray(message)
            for _ in range(rng.randrange(1, 8)):
                flipped[rng.randrange(len(flipped))] = rng.randrange(256)
            out.append(bytes(flipped))
        # Header lines shuffled, or repeated many times.
        head, _, body = message.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        rest = lines[1:]
        rng.shuffle(rest)
        out.append(b"\r\n".join([lines[0], *rest]) + b"\r\n\r\n" + body)
        out.append((b"\r\n".join([lines[0], *(rest * 40)]) + b"\r\n\r\n" + body)[:65000])
    for _ in range(100):
        out.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 1500))))
    out += [b"", b"\r\n", b"\r\n\r\n", b"\x00" * 1000, b"SIP/2.0 200 OK\r\n\r\n", b"A" * 60000]
    return out


def test_malformed_burst_leaves_the_door_up_and_answering(stack, tmp_path):
    """About 700 datagrams of torture messages, mutations, noise and a scanner's requests, as fast
    as they go, and a TCP stream of garbage: the door keeps running, logs the drops, answers
    OPTIONS at once (UDP and TCP: no 503 because the scan filled its transaction table), and
    still takes a call."""
    door = start_door(stack, tmp_path, None, {"answer": {"allowed": ["sipp"]}})
    datagrams = mutations(random.Random(4475)) + scan(door.sip_port, 90)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        for data in datagrams:
            sock.sendto(data, (LOOPBACK, door.sip_port))
            time.sleep(0.0005)
    with socket.create_connection((LOOPBACK, door.sip_port), timeout=5) as stream:
        stream.sendall(b"INVITE sip:door@127.0.0.1 SIP/2.0\r\nContent-Length: -5\r\n\r\n")
        stream.sendall(bytes(random.Random(1).randrange(256) for _ in range(4000)))
        while stream.recv(65535):
            pass  # until the door closes the connection
    assert door.running
    time.sleep(0.3)  # let it take in what is still queued
    assert sip_options(door.sip_port) == 200
    assert sip_options(door.sip_port, transport="tcp") == 200
    assert door.status()["door"]["state"] == "IDLE"
    log = door.log()
    assert log.count("dropped SIP message") >= 100, log[-3000:]
    assert "closing TCP connection" in log

    # And a real call still goes through.
    sipp = stack.enter_context(Sipp(tmp_path / "sipp", deadline_s=30))
    code = sipp.run([f"{LOOPBACK}:{door.sip_port}", "-sn", "uac", "-s", "door", "-m", "1"])
    assert code == 0, sipp.log()[-3000:] + sipp.errors()
    stop_door(door)


def test_offer_in_the_2xx_and_answer_in_the_ack(stack, tmp_path, tones):
    """SIPp calls without SDP (a delayed offer, RFC 3261 13.2.1): the door offers in its 200, takes
    the answer from the ACK, and media flows (SIPp echoes it back to the door's speaker)."""
    door = start_door(
        stack,
        tmp_path,
        None,
        {"answer": {"allowed": ["sipp"]}, "audio": {"mic_file": str(tones[DOOR_HZ])}},
    )
    sipp = stack.enter_context(Sipp(tmp_path / "sipp", deadline_s=30))
    scenario = str(DATA / "sipp-uac-offer-in-ack.xml")
    target = f"{LOOPBACK}:{door.sip_port}"
    code = sipp.run([target, "-sf", scenario, "-s", "door", "-m", "1", "-rtp_echo"])
    assert code == 0, sipp.log()[-3000:] + sipp.errors()
    assert "answered (PCMU)" in door.log()
    door.wait_door("IDLE", 5)
    stop_door(door)
    assert seconds_of_tone(read_pcm(door.speaker_path), DOOR_HZ) >= 1.2
