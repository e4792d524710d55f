"""The MediaStream facade: two streams (door and flat) talking over an in-memory network with a
fake clock, plus the baresip capture, garbage, hold, re-INVITEs, DTMF and RTCP."""

import math
import struct

from firmware.core import dtmf, g711, media, rtcp, rtp, tones
from firmware.core.media import (
    DtmfReceived,
    MediaStream,
    MediaTimedOut,
    PacketDropped,
    RemoteAddressLearned,
    RemoteSsrcChanged,
    RtcpByeReceived,
)
from firmware.core.pcm import pcm_to_samples
from firmware.core.rtp import RtpPacket
from firmware.core.sdp import MediaParams
from tests.core.support import FakeRandom, raises, read_data
from tests.core.test_dtmf import baresip_packets

DOOR = ("192.168.1.10", 40000)
FLAT = ("192.168.1.20", 50000)
NAT = ("203.0.113.5", 61234)  # where the flat's packets really come from
SILENCE = bytes(320)


def params(remote, codec="PCMU", dtmf_pt=101, ptime_ms=20, direction="sendrecv"):
    pt = 0 if codec == "PCMU" else 8
    return MediaParams(remote, (remote[0], remote[1] + 1), pt, codec, dtmf_pt, ptime_ms, direction)


def tone(frequency=1000, level_dbm0=-10):
    """A function now_ms -> 20 ms of a continuous sine."""
    return lambda now: tones.render([(frequency, level_dbm0)], now * 8, 160)


def events(stream):
    out = []
    while True:
        event = stream.next_event()
        if event is None:
            return out
        out.append(event)


def level(pcm, frequency):
    samples = pcm_to_samples(pcm)
    w = 2 * math.pi * frequency / 8000
    re = sum(v * math.cos(w * i) for i, v in enumerate(samples))
    im = sum(v * math.sin(w * i) for i, v in enumerate(samples))
    return 2 * math.sqrt(re * re + im * im) / len(samples)  # amplitude of that component


class Call:
    """Door and flat streams over a network: delay_ms, a loss(direction, n) predicate, and the
    flat behind a NAT (its packets come from NAT, not from the address in its SDP)."""

    def __init__(
        self, delay_ms=0, loss=None, nat=False, flat_ptime_ms=20, door_kw=None, flat_kw=None, **p
    ):
        self.now = 0
        self.door = MediaStream(params(FLAT, **p), FakeRandom(1), 0, **(door_kw or {}))
        flat_params = params(DOOR, ptime_ms=flat_ptime_ms, **p)
        self.flat = MediaStream(flat_params, FakeRandom(2), 0, **(flat_kw or {}))
        self.delay_ms = delay_ms
        self.loss = loss or (lambda direction, n: False)
        self.flat_src = NAT if nat else FLAT
        self.queue = []  # [deliver_at, receiver name, channel, data, source]
        self.sent = {"door": [], "flat": []}  # (data, addr) as returned by the streams
        self.played = {"door": [], "flat": []}
        self.count = {"door": 0, "flat": 0}

    def _send(self, name, channel, datagrams):
        target = "flat" if name == "door" else "door"
        for data, addr in datagrams:
            self.sent[name].append((data, addr, channel))
            self.count[name] += 1
            if self.loss(name, self.count[name]):
                continue
            source = DOOR if name == "door" else self.flat_src
            if channel == "rtcp":
                source = (source[0], source[1] + 1)
            self.queue.append([self.now + self.delay_ms, target, channel, data, source])

    def run(self, ms, door_audio=None, flat_audio=None):
        end = self.now + ms
        while self.now < end:
            due = [q for q in self.queue if q[0] <= self.now]
            self.queue = [q for q in self.queue if q[0] > self.now]
            for _at, target, channel, data, source in due:
                stream = getattr(self, target)
                if channel == "rtp":
                    stream.receive_rtp(data, source, self.now)
                else:
                    stream.receive_rtcp(data, source, self.now)
            for name, audio in (("door", door_audio), ("flat", flat_audio)):
                stream = getattr(self, name)
                pcm = audio(self.now) if audio else SILENCE
                self._send(name, "rtp", stream.push_capture(pcm, self.now))
                deadline = stream.next_deadline()
                if deadline is not None and deadline <= self.now:
                    stream.handle_timer(self.now)
                self._send(name, "rtcp", stream.datagrams_to_send())
                self.played[name].append(stream.pull_playout(self.now))
            self.now += 20


def test_audio_flows_both_ways_at_the_right_level():
    call = Call(delay_ms=30)
    call.run(3000, door_audio=tone(1000), flat_audio=tone(425))
    heard_by_flat = b"".join(call.played["flat"][-50:])
    heard_by_door = b"".join(call.played["door"][-50:])
    want = tones.amplitude(-10)
    assert abs(level(heard_by_flat, 1000) / want - 1) < 0.05
    assert abs(level(heard_by_door, 425) / want - 1) < 0.05
    assert level(heard_by_flat, 425) < 0.01 * want  # and not the other way round
    door, flat = call.door.stats(), call.flat.stats()
    assert door["packets_sent"] == 150 and flat["packets_received"] == 150 - 2  # 2 in flight
    assert flat["packets_lost"] == 0 and flat["jitter_ms"] == 0.0 and flat["concealed_ms"] == 0
    assert door["codec"] == "PCMU" and door["remote_ssrc"] == flat["local_ssrc"]
    assert events(call.door) == [] and events(call.flat) == []


def test_everything_the_door_sends_is_well_formed():
    call = Call()
    call.run(6000, door_audio=tone())
    rtp_out = [RtpPacket.parse(d) for d, addr, channel in call.sent["door"] if channel == "rtp"]
    assert all(addr == FLAT for _d, addr, channel in call.sent["door"] if channel == "rtp")
    for i in range(1, len(rtp_out)):
        assert (rtp_out[i].sequence_number - rtp_out[i - 1].sequence_number) & 0xFFFF == 1
        assert (rtp_out[i].timestamp - rtp_out[i - 1].timestamp) & 0xFFFFFFFF == 160
    assert [p.marker for p in rtp_out[:3]] == [True, False, False]
    assert {p.payload_type for p in rtp_out} == {0} and {len(p.payload) for p in rtp_out} == {160}
    reports = [
        rtcp.parse_compound(d) for d, addr, channel in call.sent["door"] if channel == "rtcp"
    ]
    assert 1 <= len(reports) <= 3
    first, sdes = reports[0]
    assert isinstance(first, rtcp.SenderReport) and first.ssrc == rtp_out[0].ssrc
    assert sdes.cname(first.ssrc).endswith(b"@intercom")


def test_rtcp_every_five_seconds_gives_loss_jitter_and_rtt():
    lost = {50, 51, 52, 400}  # these packets of the flat's never arrive at the door
    quiet = {"detect_inband_dtmf": False}  # (keeps the MicroPython run short)
    call = Call(
        delay_ms=40, loss=lambda d, n: d == "flat" and n in lost, door_kw=quiet, flat_kw=quiet
    )
    call.run(30000)
    door, flat = call.door.stats(), call.flat.stats()
    assert 4 <= door["rtcp_sent"] <= 9 and 4 <= flat["rtcp_sent"] <= 9
    reports = [rtcp.parse_compound(d)[0] for d, _a, c in call.sent["door"] if c == "rtcp"]
    assert all(isinstance(r, rtcp.SenderReport) and len(r.reports) == 1 for r in reports)
    assert door["packets_lost"] == 4 and 0.2 < door["loss_percent"] < 0.3
    assert flat["remote_packets_lost"] == 4  # what the door reported back about the flat's stream
    assert 80 <= door["rtt_ms"] <= 100 and 80 <= flat["rtt_ms"] <= 100  # 40 ms each way
    assert door["remote_jitter_ms"] == 0.0 and door["jitter_ms"] == 0.0


def test_symmetric_rtp_learns_the_peer_behind_nat():
    call = Call(nat=True)
    call.run(1000, door_audio=tone(), flat_audio=tone(425))
    learned = [e for e in events(call.door) if isinstance(e, RemoteAddressLearned)]
    assert RemoteAddressLearned("rtp", NAT, FLAT) in learned
    before = len(call.sent["door"])
    call.run(200, door_audio=tone())
    later = [addr for _d, addr, channel in call.sent["door"][before:] if channel == "rtp"]
    assert later and set(later) == {NAT}
    call.run(8000, door_audio=tone(), flat_audio=tone(425))
    rtcp_learned = [e for e in events(call.door) if isinstance(e, RemoteAddressLearned)]
    assert rtcp_learned == [
        RemoteAddressLearned("rtcp", (NAT[0], NAT[1] + 1), (FLAT[0], FLAT[1] + 1))
    ]
    assert call.door.stats()["remote_rtp"] == NAT


def test_garbage_never_raises_and_is_counted():
    stream = MediaStream(params(FLAT), FakeRandom(3), 0)
    rng = FakeRandom(99)
    good = read_data("media/baresip/rtp_pcmu_first.bin")
    garbage = [b"", b"\x80", good[:11], b"\x00" * 40, b"\xff" * 200, good[:12] + b"\x00" * 1500]
    garbage += [bytes(rng.getrandbits(8) for _ in range(rng.getrandbits(7))) for _ in range(300)]
    for i, data in enumerate(garbage):
        stream.receive_rtp(data, FLAT, i)
        stream.receive_rtcp(data, (FLAT[0], FLAT[1] + 1), i)
    stats = stream.stats()
    assert stats["packets_dropped"] >= 2 * len(garbage) - 5  # a few random ones may parse
    assert len(stats["drops"]) >= 4
    dropped = [e for e in events(stream) if isinstance(e, PacketDropped)]
    assert 4 <= len(dropped) <= len(stats["drops"]) + 2  # one per reason, not one per packet
    assert all(e.count == 1 for e in dropped)
    # Later drops of a known reason are summarised at most every 10 s.
    for i in range(100):
        stream.receive_rtp(b"\x00" * 40, FLAT, 20000 + i)
    summary = [e for e in events(stream) if isinstance(e, PacketDropped)]
    assert len(summary) == 1 and summary[0].reason == "bad version" and summary[0].count > 1
    assert len(stream.pull_playout(30000)) == 320


def test_foreign_payload_types_and_sources_are_ignored():
    call = Call()
    call.run(400, flat_audio=tone(425))
    stream = call.door
    intruder = RtpPacket(0, 1, 1, 0xBAD, b"\x00" * 160).serialize()
    video = RtpPacket(96, 1000, 1, call.flat.stats()["local_ssrc"], b"\x00" * 160).serialize()
    for i in range(5):
        stream.receive_rtp(intruder, FLAT, call.now + i)
        stream.receive_rtp(video, FLAT, call.now + i)
        stream.receive_rtp(intruder, ("198.51.100.66", 4000), call.now + i)
    drops = stream.stats()["drops"]
    assert drops["other SSRC"] == 5 and drops["unexpected payload type"] == 5
    assert drops["other source address"] == 5
    assert stream.stats()["remote_rtp"] == FLAT


def test_inactivity_timeout():
    call = Call(door_kw={"inactivity_timeout_ms": 10000})
    call.run(1000, flat_audio=tone())
    mute = {"on": True}
    call.loss = lambda direction, n: direction == "flat" and mute["on"]
    call.run(10500)
    timeouts = [e for e in events(call.door) if isinstance(e, MediaTimedOut)]
    assert len(timeouts) == 1 and 10000 <= timeouts[0].idle_ms <= 10020
    assert call.door.stats()["timed_out"]
    call.run(20000)
    assert [e for e in events(call.door) if isinstance(e, MediaTimedOut)] == []  # once
    mute["on"] = False
    call.run(1000, flat_audio=tone())
    assert not call.door.stats()["timed_out"]
    mute["on"] = True
    call.run(11000)
    assert len([e for e in events(call.door) if isinstance(e, MediaTimedOut)]) == 1
    assert (
        MediaStream(params(FLAT), FakeRandom(1), 0, inactivity_timeout_ms=None).next_deadline()
        < 4000
    )


def test_hold_stops_sending_but_keeps_the_clock_and_numbering():
    call = Call()
    call.run(400, door_audio=tone())
    last = RtpPacket.parse(call.sent["door"][-1][0])
    call.door.update(params(FLAT, direction="recvonly"), call.now)  # the flat put us on hold
    before = len(call.sent["door"])
    call.run(2000, door_audio=tone())
    assert [c for _d, _a, c in call.sent["door"][before:] if c == "rtp"] == []
    assert call.door.next_deadline() is not None
    call.door.update(params(FLAT), call.now)
    before = len(call.sent["door"])
    call.run(40, door_audio=tone())
    resumed = RtpPacket.parse(next(d for d, _a, c in call.sent["door"][before:] if c == "rtp"))
    assert resumed.sequence_number == (last.sequence_number + 1) & 0xFFFF
    assert (resumed.timestamp - last.timestamp) & 0xFFFFFFFF == 160 * (1 + 100)  # 2 s on hold
    assert resumed.marker
    # On hold (sendonly: we do not expect to receive) there is no inactivity timeout.
    stream = MediaStream(
        params(FLAT, direction="sendonly"), FakeRandom(1), 0, rtcp_interval_ms=10**9
    )
    assert stream.next_deadline() > 10**8
    assert stream.pull_playout(0) == SILENCE


def test_reinvite_to_pcma_carries_on():
    call = Call()
    call.run(1000, door_audio=tone(), flat_audio=tone(425))
    call.door.update(params(FLAT, codec="PCMA"), call.now)
    call.flat.update(params(DOOR, codec="PCMA"), call.now)
    call.run(2000, door_audio=tone(), flat_audio=tone(425))
    packets = [RtpPacket.parse(d) for d, _a, c in call.sent["door"] if c == "rtp"]
    assert packets[0].payload_type == 0 and packets[-1].payload_type == 8
    assert len({p.ssrc for p in packets}) == 1
    assert abs(level(b"".join(call.played["flat"][-40:]), 1000) / tones.amplitude(-10) - 1) < 0.05
    assert call.flat.stats()["codec"] == "PCMA" and call.flat.stats()["packets_lost"] == 0
    raises(ValueError, call.door.update, params(FLAT, codec="G729"), call.now)


def test_rfc4733_dtmf_end_to_end_with_lost_packets():
    sent = []

    def loss(direction, n):
        if direction != "door":
            return False
        sent.append(n)
        return n in (26, 27, 28, 40, 41, 42, 43, 44, 45)  # starts and ends of some events

    call = Call(loss=loss)
    call.run(200, door_audio=tone())
    call.door.send_dtmf("1234#", call.now)
    call.run(2000, door_audio=tone())
    got = [e for e in events(call.flat) if isinstance(e, DtmfReceived)]
    assert got == [DtmfReceived(d, dtmf.SOURCE_RFC4733) for d in "1234#"]
    events_sent = [RtpPacket.parse(d) for d, _a, c in call.sent["door"] if c == "rtp"]
    assert len([p for p in events_sent if p.payload_type == 101]) == 5 * 7
    assert call.door.stats()["dtmf_sent"] == 5 and call.flat.stats()["dtmf_received"] == 5


def test_inband_dtmf_when_the_peer_has_no_telephone_event():
    call = Call(dtmf_pt=None)
    call.run(200, door_audio=tone(425, -20))
    call.door.send_dtmf("147*0#", call.now)
    call.run(2000, door_audio=tone(425, -20))
    got = [e for e in events(call.flat) if isinstance(e, DtmfReceived)]
    assert got == [DtmfReceived(d, dtmf.SOURCE_INBAND) for d in "147*0#"]
    rtp_out = [RtpPacket.parse(d) for d, _a, c in call.sent["door"] if c == "rtp"]
    assert {p.payload_type for p in rtp_out} == {0}


def _feed_capture(stream, packets, source=FLAT):
    for us, packet in packets:
        stream.receive_rtp(packet.serialize(), source, us // 1000)


def test_baresip_capture_gives_5_and_hash_once():
    stream = MediaStream(params(FLAT), FakeRandom(1), 0)
    packets = baresip_packets()
    now = 0
    for us, packet in packets:
        while now < us // 1000:
            stream.pull_playout(now)
            now += 20
        stream.receive_rtp(packet.serialize(), FLAT, us // 1000)
    for _ in range(20):
        stream.pull_playout(now)
        now += 20
    assert events(stream) == [DtmfReceived("5", "rfc4733"), DtmfReceived("#", "rfc4733")]
    assert stream.stats()["packets_received"] == len(packets)


def test_a_digit_sent_both_ways_is_reported_once():
    # Like baresip, but the audio beside the events carries the tone itself (leaked in-band).
    stream = MediaStream(params(FLAT), FakeRandom(1), 0)
    ssrc, seq, ts = 0x1234, 100, 8000
    now = 0
    got = []
    for frame in range(60):
        if 10 <= frame < 20 or 35 <= frame < 45:
            digit = "5" if frame < 20 else "9"
            low, high = dtmf._keypad_tones(digit)
            pcm = tones.render([(low, -8), (high, -6)], frame * 160, 160)
        else:
            pcm = SILENCE
        stream.receive_rtp(
            RtpPacket(0, seq, ts, ssrc, g711.encode("PCMU", pcm), frame == 0).serialize(), FLAT, now
        )
        seq += 1
        if 10 <= frame < 23 or 35 <= frame < 48:
            start = 10 if frame < 23 else 35
            code = dtmf.event_code("5" if frame < 23 else "9")
            n = frame - start + 1
            end = n >= 10
            payload = dtmf.TelephoneEvent(code, end, 10, 160 * min(n, 10)).serialize()
            stream.receive_rtp(
                RtpPacket(101, seq, 8000 + 160 * start, ssrc, payload, n == 1).serialize(),
                FLAT,
                now,
            )
            seq += 1
        ts += 160
        stream.pull_playout(now)
        now += 20
    for _ in range(10):
        stream.pull_playout(now)
        now += 20
    got = [e for e in events(stream) if isinstance(e, DtmfReceived)]
    assert got == [DtmfReceived("5", "rfc4733"), DtmfReceived("9", "rfc4733")]
    # Without the RFC 4733 packets the in-band detector alone hears both.
    alone = MediaStream(params(FLAT), FakeRandom(1), 0)
    seq, ts, now = 100, 8000, 0
    for frame in range(60):
        if 10 <= frame < 20 or 35 <= frame < 45:
            low, high = dtmf._keypad_tones("5" if frame < 20 else "9")
            pcm = tones.render([(low, -8), (high, -6)], frame * 160, 160)
        else:
            pcm = SILENCE
        alone.receive_rtp(
            RtpPacket(0, seq, ts, ssrc, g711.encode("PCMU", pcm)).serialize(), FLAT, now
        )
        seq, ts = seq + 1, ts + 160
        alone.pull_playout(now)
        now += 20
    assert [e for e in events(alone) if isinstance(e, DtmfReceived)] == [
        DtmfReceived("5", "inband"),
        DtmfReceived("9", "inband"),
    ]


def test_sip_info_dtmf():
    stream = MediaStream(params(FLAT), FakeRandom(1), 0)
    stream.receive_info("application/dtmf-relay", b"Signal=9\r\nDuration=160\r\n", 100)
    stream.receive_info("application/dtmf", b"9", 200)  # pressed again
    event = dtmf.TelephoneEvent(dtmf.event_code("9"), True, 10, 800).serialize()
    for seq in (1, 2):  # ... and sent as RFC 4733 too: the same press, reported once
        stream.receive_rtp(RtpPacket(101, seq, 5000, 0x77, event).serialize(), FLAT, 250 + seq)
    stream.receive_info("application/dtmf", b"#", 300)
    assert events(stream) == [
        DtmfReceived("9", "info"),
        DtmfReceived("9", "info"),
        DtmfReceived("#", "info"),
    ]
    exc = raises(dtmf.DtmfError, stream.receive_info, "text/plain", b"9", 400)
    assert exc.reason == "unsupported content type"
    assert (
        raises(dtmf.DtmfError, stream.receive_info, "application/dtmf", b"x", 400).reason
        == "bad signal"
    )


def test_close_sends_bye_and_goes_quiet():
    call = Call()
    call.run(1000, door_audio=tone(), flat_audio=tone(425))
    call.door.close(call.now, b"door closed")
    ((datagram, addr),) = call.door.datagrams_to_send()
    assert addr == (FLAT[0], FLAT[1] + 1)
    first, sdes, bye = rtcp.parse_compound(datagram)
    ssrc = call.door.stats()["local_ssrc"]
    assert (
        isinstance(first, rtcp.SenderReport)
        and sdes.cname(ssrc)
        and bye == rtcp.Bye([ssrc], b"door closed")
    )
    call.flat.receive_rtcp(datagram, (DOOR[0], DOOR[1] + 1), call.now)
    assert RtcpByeReceived(ssrc, "door closed") in events(call.flat)
    assert call.door.push_capture(tone()(0), call.now) == []
    assert call.door.pull_playout(call.now) == SILENCE
    assert call.door.next_deadline() is None and call.door.datagrams_to_send() == []
    call.door.receive_rtp(b"junk", FLAT, call.now)
    call.door.close(call.now)
    assert call.door.datagrams_to_send() == []


def test_rtcp_mux():
    call = Call(door_kw={"rtcp_mux": True}, flat_kw={"rtcp_mux": True})
    call.run(7000, door_audio=tone(), flat_audio=tone())
    rtcp_sent = [(d, a) for d, a, c in call.sent["door"] if c == "rtcp"]
    assert rtcp_sent and {a for _d, a in rtcp_sent} == {FLAT}
    stream = call.flat
    before = stream.stats()["rtcp_received"]
    stream.receive_rtp(rtcp_sent[0][0], DOOR, call.now)  # RTCP arriving on the RTP port
    assert stream.stats()["rtcp_received"] == before + 1


def test_a_new_ssrc_from_the_peer():
    call = Call()
    call.run(1000, flat_audio=tone(425))
    old = call.flat.stats()["local_ssrc"]
    call.flat = MediaStream(params(DOOR), FakeRandom(77), call.now)  # the peer restarted media
    call.run(1000, flat_audio=tone(425))
    new = call.flat.stats()["local_ssrc"]
    assert RemoteSsrcChanged(new, old) in events(call.door)
    assert abs(level(b"".join(call.played["door"][-20:]), 425) / tones.amplitude(-10) - 1) < 0.05


def test_peer_with_30_ms_packets_plays_continuously():
    call = Call(flat_ptime_ms=30)
    call.run(3000, flat_audio=tone(425))
    packets = [RtpPacket.parse(d) for d, _a, c in call.sent["flat"] if c == "rtp"]
    assert {len(p.payload) for p in packets} == {240}
    assert call.door.stats()["concealed_ms"] == 0
    heard = b"".join(call.played["door"][-100:])
    assert abs(level(heard, 425) / tones.amplitude(-10) - 1) < 0.05


def test_capture_is_packetised_by_ptime():
    stream = MediaStream(params(FLAT, ptime_ms=40), FakeRandom(1), 0)
    assert stream.push_capture(SILENCE, 0) == []
    ((data, addr),) = stream.push_capture(SILENCE, 20)
    assert len(RtpPacket.parse(data).payload) == 320 and addr == FLAT
    assert stream.push_capture(SILENCE[:100], 40) == []  # any length is fine, it adds up
    raises(ValueError, stream.push_capture, b"\x00" * 3, 60)


def test_playout_before_anything_arrives_is_silence():
    stream = MediaStream(params(FLAT), FakeRandom(1), 0)
    assert [stream.pull_playout(t) for t in (0, 20, 40)] == [SILENCE] * 3


def test_misuse_raises():
    raises(ValueError, MediaStream, params(FLAT, codec="opus"), FakeRandom(1), 0)
    raises(ValueError, MediaStream, params(FLAT, direction="both"), FakeRandom(1), 0)
    raises(ValueError, MediaStream, params(FLAT, ptime_ms=25), FakeRandom(1), 0)
    raises(ValueError, MediaStream, params(FLAT, dtmf_pt=0), FakeRandom(1), 0)
    stream = MediaStream(params(FLAT), FakeRandom(1), 0, ssrc=0x42, cname="door@example")
    raises(ValueError, stream.send_dtmf, "12x", 0)
    assert stream.stats()["dtmf_sent"] == 0 and stream.stats()["local_ssrc"] == 0x42


def test_stats_keys():
    stats = MediaStream(params(FLAT), FakeRandom(1), 0).stats()
    for key in (
        "codec",
        "packets_sent",
        "packets_received",
        "packets_lost",
        "loss_percent",
        "jitter_ms",
        "rtt_ms",
        "remote_jitter_ms",
        "playout_delay_ms",
        "packets_dropped",
    ):
        assert key in stats, key
    assert stats["rtt_ms"] is None and stats["packets_received"] == 0
    assert media.FRAME_BYTES == 320 and struct.calcsize("<h") * 160 == media.FRAME_BYTES


def test_a_key_press_plays_as_silence_not_as_concealed_loss():
    call = Call()
    call.run(400, door_audio=tone())
    call.door.send_dtmf("5", call.now)
    call.run(800, door_audio=tone())
    stats = call.flat.stats()
    assert stats["dtmf_received"] == 1
    # The 100 ms event is 5 frames of silence; only the 2 frames its repeated end packets take
    # (no new timestamps) are concealed.
    assert stats["concealed_ms"] <= 40, stats["concealed_ms"]
    quiet = [pcm for pcm in call.played["flat"][20:] if level(pcm, 1000) < 100]
    assert len(quiet) >= 5


def test_has_output_tells_when_events_or_datagrams_wait():
    call = Call()
    assert not call.door.has_output()
    call.door.receive_rtp(b"junk", FLAT, 0)  # a PacketDropped event
    assert call.door.has_output()
    events(call.door)
    assert not call.door.has_output()
    call.door.close(0)  # an RTCP BYE to send
    assert call.door.has_output()
    call.door.datagrams_to_send()
    assert not call.door.has_output()


def _rough_network(rng, count):
    """(arrival ms, data, source) of a flat's PCMU stream over a bad network, by arrival: jitter
    up to 80 ms, loss, duplicates, markers, 32-bit timestamp and 16-bit sequence wrap, a jump
    of the numbering, a new SSRC, packets from elsewhere, padding, CSRCs, DTMF events, garbage."""
    out = []
    seq, ts, ssrc = 65500, 0xFFFFF000, 0x1234
    for i in range(count):
        roll = rng.getrandbits(7)
        if i == 300:
            seq = (seq + 5000) & 0xFFFF  # the sender restarted its numbering
        if i == 600:
            ssrc = 0x5678  # ... or its whole stream
        payload = bytes([0xFF - (i & 0x3F)]) * 160
        packet = RtpPacket(0, seq, ts, ssrc, payload, marker=roll == 1)
        if roll == 2:
            packet.padding_size = 4
        elif roll == 3:
            packet.csrc = [7]
        elif roll == 4:
            packet = RtpPacket(101, seq, ts, ssrc, bytes([5, 10, 0, 160]))
        source = NAT if roll == 5 else FLAT
        arrival = 20 * i + rng.getrandbits(4) * 5
        if roll != 6:  # lost
            out.append((arrival, packet.serialize(), source))
        if roll == 7:  # duplicated
            out.append((arrival + 3, packet.serialize(), source))
        if roll == 8:
            out.append((arrival + 1, bytes([0x80, 0]) + bytes(rng.getrandbits(4)), FLAT))
        seq = (seq + 1) & 0xFFFF
        ts = (ts + 160) & 0xFFFFFFFF
    out.sort(key=lambda item: item[0])
    return out


class _GeneralPathOnly(rtp.RtpReceiver):
    def receive_usual(self, data, addr, now_ms):
        return None


class _CountingShortcut(rtp.RtpReceiver):
    taken = 0

    def receive_usual(self, data, addr, now_ms):
        usual = super().receive_usual(data, addr, now_ms)
        self.taken += usual is not None
        return usual


def _with_receiver(stream, cls):
    # A subclass, not a patched method: the compiled core's objects have no instance dict.
    old = stream._receiver
    stream._receiver = cls(old.payload_types, 8000, old.jitter_payload_type)
    return stream._receiver


def test_the_usual_packet_shortcut_is_the_general_path():
    # receive_usual() takes nearly every packet in one step; with it switched off every packet
    # goes through parse() and receive(). Both must hear, play and report the same.
    fast = MediaStream(params(FLAT), FakeRandom(5), 0, detect_inband_dtmf=False)
    slow = MediaStream(params(FLAT), FakeRandom(5), 0, detect_inband_dtmf=False)
    counter = _with_receiver(fast, _CountingShortcut)
    _with_receiver(slow, _GeneralPathOnly)
    arrivals = _rough_network(FakeRandom(11), 1200)
    now = 0
    while now < 20 * 1200 + 500:
        while arrivals and arrivals[0][0] <= now:
            arrival, data, source = arrivals.pop(0)
            fast.receive_rtp(data, source, arrival)
            slow.receive_rtp(data, source, arrival)
        assert fast.pull_playout(now) == slow.pull_playout(now)
        assert fast.push_capture(SILENCE, now) == slow.push_capture(SILENCE, now)
        now += 20
    assert fast.stats() == slow.stats()
    assert events(fast) == events(slow)
    assert counter.taken > 600  # the shortcut was the way in for most packets (reordering is not)
    stats = fast.stats()
    assert stats["concealed_ms"] > 0 and stats["packets_duplicate"] > 0 and len(stats["drops"]) >= 3
