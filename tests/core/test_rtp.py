"""RTP packets, sender numbering, A.1/A.8 statistics and the receiver's source filter."""

from firmware.core import rtp
from firmware.core.rtp import RtpError, RtpPacket
from tests.core.support import FakeRandom, raises, read_data

BARESIP_FIRST = "media/baresip/rtp_pcmu_first.bin"
CRAFTED = "media/rtp/rtp_csrc_ext_padding.bin"


def _packet(pt=0, seq=1, ts=160, ssrc=0x11223344, payload=b"\xff" * 160, marker=False):
    return RtpPacket(pt, seq, ts, ssrc, payload, marker)


def test_parse_baresip_packet():
    data = read_data(BARESIP_FIRST)
    p = RtpPacket.parse(data)
    assert (p.payload_type, p.marker, p.sequence_number) == (0, True, 0x2888)
    assert (p.timestamp, p.ssrc) == (0xF1BF, 0x2A6E8544)
    assert p.csrc == [] and p.extension_profile is None and p.padding_size == 0
    assert p.payload == data[12:] and len(p.payload) == 160
    assert p.serialize() == data


def test_parse_csrc_extension_padding():
    # b2: V=2 P X CC=2 | e1: M PT=97 | seq abcd | ts 123456 | ssrc deadbeef | 2 CSRCs |
    # extension profile bede, 1 word | payload 01020304 | 4 bytes of padding
    data = read_data(CRAFTED)
    p = RtpPacket.parse(data)
    assert (p.payload_type, p.marker, p.sequence_number) == (97, True, 0xABCD)
    assert (p.timestamp, p.ssrc) == (123456, 0xDEADBEEF)
    assert p.csrc == [0x11111111, 0x22222222]
    assert p.extension_profile == 0xBEDE and p.extension == b"\x10\xaa\x00\x00"
    assert p.payload == b"\x01\x02\x03\x04" and p.padding_size == 4
    assert p.serialize() == data


def test_every_truncation_is_rejected_with_the_right_reason():
    data = read_data(CRAFTED)
    for n in range(len(data)):
        cut = data[:n]
        if n >= 28 and 1 <= cut[-1] <= n - 28:
            # RTP has no length field: with P set, a cut whose last byte is a plausible padding
            # count is a valid (shorter) packet, and must parse as exactly that.
            assert RtpPacket.parse(cut).payload == cut[28 : n - cut[-1]]
            continue
        exc = raises(RtpError, RtpPacket.parse, cut)
        if n < 12:
            want = rtp.REASON_TRUNCATED_HEADER
        elif n < 20:
            want = rtp.REASON_TRUNCATED_CSRC
        elif n < 28:
            want = rtp.REASON_TRUNCATED_EXTENSION
        else:
            want = rtp.REASON_BAD_PADDING
        assert exc.reason == want, (n, exc.reason)
        assert isinstance(exc, ValueError) and exc.reason in str(exc)


def test_invalid_packets():
    good = read_data(BARESIP_FIRST)
    crafted = read_data(CRAFTED)
    cases = [
        (b"\x00" + good[1:], rtp.REASON_BAD_VERSION),
        (b"\x40" + good[1:], rtp.REASON_BAD_VERSION),
        (b"\xc0" + good[1:], rtp.REASON_BAD_VERSION),
        (b"\xa0" + good[1:-1] + b"\x00", rtp.REASON_BAD_PADDING),  # padding count 0
        (b"\xa0" + good[1:-1] + b"\xff", rtp.REASON_BAD_PADDING),  # more than the payload
        (crafted[:22] + b"\x00\x09" + crafted[24:], rtp.REASON_TRUNCATED_EXTENSION),
        (b"\x8f" + good[1:40], rtp.REASON_TRUNCATED_CSRC),  # 15 CSRCs announced
        (b"", rtp.REASON_TRUNCATED_HEADER),
    ]
    for data, reason in cases:
        assert raises(RtpError, RtpPacket.parse, data).reason == reason, data[:2]


def test_padding_may_eat_the_whole_payload():
    data = bytes.fromhex("a00000010000000000000001") + b"\x00\x00\x00\x04"
    p = RtpPacket.parse(data)
    assert p.payload == b"" and p.padding_size == 4
    assert p.serialize() == data


def test_round_trips():
    packets = [
        RtpPacket(0, 0, 0, 0),
        RtpPacket(127, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, b"x" * 3, True, list(range(15))),
        RtpPacket(8, 7, 8, 9, b"\xd5" * 160, False, [], 0x1000, b"", 0),
        RtpPacket(101, 7, 8, 9, b"\x05\x0a\x00\xa0", True, [1], 0x1000, b"abcdefgh", 1),
        RtpPacket(96, 1, 2, 3, b"", False, [], None, b"", 255),
    ]
    for p in packets:
        data = p.serialize()
        assert RtpPacket.parse(data) == p, p
        assert RtpPacket.parse(data).serialize() == data


def test_serialize_rejects_out_of_range_fields():
    bad = [
        RtpPacket(128, 0, 0, 0),
        RtpPacket(0, 65536, 0, 0),
        RtpPacket(0, 0, 1 << 32, 0),
        RtpPacket(0, 0, 0, -1),
        RtpPacket(0, 0, 0, 0, b"", False, list(range(16))),
        RtpPacket(0, 0, 0, 0, b"", False, [], 1, b"abc"),
        RtpPacket(0, 0, 0, 0, b"", False, [], None, b"", 256),
    ]
    for p in bad:
        raises(ValueError, p.serialize)


def test_is_rtcp():
    assert rtp.is_rtcp(read_data("media/baresip/rtcp_sr_sdes.bin"))
    assert rtp.is_rtcp(bytes([0x80, 203]))
    assert not rtp.is_rtcp(read_data(BARESIP_FIRST))
    assert not rtp.is_rtcp(bytes([0x80, 0xE5]))  # PT 101 with marker
    assert not rtp.is_rtcp(b"\x80")


def test_sender_numbering_comes_from_the_injected_randomness():
    a = rtp.RtpSender(FakeRandom(5))
    b = rtp.RtpSender(FakeRandom(5))
    c = rtp.RtpSender(FakeRandom(6))
    assert (a.ssrc, a.sequence_number, a.timestamp) == (b.ssrc, b.sequence_number, b.timestamp)
    assert (a.ssrc, a.sequence_number, a.timestamp) != (c.ssrc, c.sequence_number, c.timestamp)
    assert rtp.RtpSender(FakeRandom(5), ssrc=42).ssrc == 42
    raises(ValueError, rtp.RtpSender, FakeRandom(5), 1 << 32)


def test_sender_sequence_timestamp_marker_and_wrap():
    s = rtp.RtpSender(FakeRandom(1), ssrc=7)
    s.sequence_number = 0xFFFE
    s.timestamp = 0xFFFFFFFF - 200
    sent = [RtpPacket.parse(s.send(0, b"\xff" * 160, 160)) for _ in range(3)]
    assert [p.sequence_number for p in sent] == [0xFFFE, 0xFFFF, 0]
    assert [p.timestamp for p in sent] == [0xFFFFFFFF - 200, 0xFFFFFFFF - 40, 119]
    assert [p.marker for p in sent] == [True, False, False]  # the first starts a talkspurt
    s.skip(160 * 50)  # one second on hold: the clock runs on, the next packet is marked
    p = RtpPacket.parse(s.send(0, b"\xff" * 160, 160))
    assert (p.sequence_number, p.timestamp, p.marker) == (1, 119 + 160 * 51, True)
    event_ts = s.timestamp
    e = RtpPacket.parse(s.packet(101, b"\x05\x0a\x00\xa0", event_ts, True))
    s.advance(160)  # a DTMF event covers the frame: no marker on the audio that follows
    p = RtpPacket.parse(s.send(0, b"\xff" * 160, 160))
    assert (e.sequence_number, e.timestamp, e.marker) == (2, event_ts, True)
    assert (p.sequence_number, p.timestamp, p.marker) == (3, event_ts + 160, False)
    assert (s.packets_sent, s.octets_sent) == (6, 5 * 160 + 4)


def test_source_stats_loss_reordering_and_wrap():
    # (sequence numbers in arrival order, expected, received, lost, reordered)
    table = [
        ([10, 11, 12, 13], 4, 4, 0, 0),
        ([10, 11, 13, 14], 5, 4, 1, 0),
        ([10, 12, 11, 13], 4, 4, 0, 1),
        ([10, 11, 11, 12], 3, 4, -1, 1),  # a duplicate makes "lost" negative, as in RFC 3550
        ([65534, 65535, 0, 1, 3], 6, 5, 1, 0),
        ([65535, 1, 0, 2], 4, 4, 0, 1),
    ]
    for seqs, expected, received, lost, reordered in table:
        st = rtp.SourceStats(1, seqs[0])
        for seq in seqs[1:]:
            assert st.update(seq)
        assert (st.expected, st.received, st.lost, st.reordered) == (
            expected,
            received,
            lost,
            reordered,
        ), seqs
    st = rtp.SourceStats(1, 65535)
    for seq in (0, 1):
        st.update(seq)
    assert (st.cycles, st.extended_max_seq) == (65536, 65537)


def test_source_stats_jump_and_restart():
    st = rtp.SourceStats(1, 100)
    assert st.update(101)
    assert not st.update(20000)  # a jump: ignored once
    assert st.update(102)  # the old stream goes on
    assert not st.update(30000)
    assert st.update(30001)  # two in a row after the jump: the sender restarted
    assert (st.base_seq, st.max_seq, st.received, st.expected) == (30001, 30001, 1, 1)


def test_source_stats_report_interval_fraction():
    st = rtp.SourceStats(1, 0)
    for seq in range(1, 100):
        if seq % 4:
            st.update(seq)  # one in four lost
    fraction, cumulative = st.report_interval()
    assert cumulative == 24 and fraction == (24 * 256) // 100
    for seq in range(100, 200):
        st.update(seq)
    assert st.report_interval() == (0, 24)  # nothing lost in this interval


def test_interarrival_jitter_estimator():
    # Transit alternating between 0 and 80 samples: |D| = 80 every packet, J -> 80 (A.8).
    st = rtp.SourceStats(1, 0)
    j = 0.0
    for i in range(200):
        arrival = i * 160 + (80 if i % 2 else 0)
        st.update_jitter(arrival, i * 160)
        if i:
            j += (80 - j) / 16
        assert abs(st.jitter_q4 / 16 - j) <= 1, i
    assert 78 <= st.jitter <= 80
    steady = rtp.SourceStats(1, 0)
    for i in range(100):
        steady.update_jitter(i * 160 + 500, (i * 160 + 0xFFFFF000) & 0xFFFFFFFF)  # wraps
    assert steady.jitter == 0


def test_receiver_latches_the_first_source_after_probation():
    rx = rtp.RtpReceiver([0, 101], jitter_payload_type=0)
    a = ("192.0.2.1", 4000)
    first = _packet(seq=10)
    assert rx.receive(first, a, 0) == []  # held on probation
    second = _packet(seq=11, ts=320)
    assert rx.receive(second, a, 20) == [first, second]
    assert (rx.address, rx.ssrc, rx.packets) == (a, 0x11223344, 2)
    assert rx.receive(_packet(seq=12, ts=480), a, 40) != []
    assert rx.stats.received == 3


def test_receiver_filters():
    a = ("192.0.2.1", 4000)
    b = ("198.51.100.7", 4000)
    rx = rtp.RtpReceiver([0, 101])
    rx.receive(_packet(seq=1), a, 0)
    rx.receive(_packet(seq=2), a, 20)
    # (packet, addr, now_ms, accepted?, drop reason)
    table = [
        (_packet(pt=8, seq=3), a, 40, False, rtp.DROP_PAYLOAD_TYPE),
        (_packet(seq=3, ssrc=99), a, 40, False, rtp.DROP_OTHER_SSRC),
        (_packet(seq=3), b, 40, False, rtp.DROP_OTHER_ADDRESS),
        (_packet(pt=101, seq=3, payload=b"\x05\x0a\x00\xa0"), a, 40, True, None),
        (_packet(seq=4), a, 60, True, None),
        (_packet(seq=9000), a, 80, False, rtp.DROP_SEQUENCE_JUMP),
    ]
    for packet, addr, now, accepted, reason in table:
        got = rx.receive(packet, addr, now)
        assert bool(got) == accepted, (packet, addr)
        if reason:
            assert rx.last_drop == reason
    assert rx.dropped[rtp.DROP_OTHER_SSRC] == 1 and rx.packets == 4


def test_receiver_switches_source_only_after_silence():
    a = ("192.0.2.1", 4000)
    nat = ("203.0.113.9", 61000)
    rx = rtp.RtpReceiver([0])
    rx.receive(_packet(seq=1), a, 0)
    rx.receive(_packet(seq=2), a, 20)
    # A new SSRC from the same address: dropped while the old one talks...
    assert rx.receive(_packet(seq=500, ssrc=2), a, 40) == []
    assert rx.receive(_packet(seq=3), a, 40) != []
    # ... taken over (after probation) once the old one has been quiet for SWITCH_SSRC_MS.
    assert rx.receive(_packet(seq=501, ssrc=2), a, 100) == []
    assert len(rx.receive(_packet(seq=502, ssrc=2), a, 120)) == 2
    assert rx.ssrc == 2 and rx.stats.ssrc == 2 and rx.stats.received == 2
    # Another address needs SWITCH_ADDRESS_MS of silence (a NAT rebinding, not an injection).
    assert rx.receive(_packet(seq=503, ssrc=2), nat, 500) == []
    assert rx.receive(_packet(seq=504, ssrc=2), nat, 520) == []
    assert rx.address == a
    assert rx.receive(_packet(seq=505, ssrc=2), nat, 1200) == []
    assert len(rx.receive(_packet(seq=506, ssrc=2), nat, 1220)) == 2
    assert rx.address == nat
    rx.forget_source()
    assert rx.ssrc is None and rx.receive(_packet(seq=1), a, 1240) == []


def test_sender_packets_are_what_serialize_gives():
    # RtpSender.packet builds the header itself: it must match RtpPacket.serialize exactly.
    s = rtp.RtpSender(FakeRandom(7), ssrc=0xFFFFFFFF)
    s.sequence_number = 0xFFFF
    cases = [(0, b"\xff" * 160, 0, False), (8, b"\x00" * 80, 0xFFFFFFFF, True), (127, b"", 5, True)]
    for pt, payload, ts, marker in cases:
        seq = s.sequence_number
        data = s.packet(pt, payload, ts, marker)
        assert data == RtpPacket(pt, seq, ts, 0xFFFFFFFF, payload, marker).serialize()
    for pt, ts in ((128, 0), (-1, 0), (0, 1 << 32), (0, -1)):
        assert raises(ValueError, s.packet, pt, b"", ts)


def test_plain_and_general_headers_parse_alike():
    # A first byte of 0x80 takes the short path; the same packet with an empty CSRC-free
    # extension header, or padding, takes the general one: the fields must agree.
    for marker in (False, True):
        plain = _packet(pt=8, seq=0xFFFF, ts=0xFFFFFFFF, marker=marker)
        data = plain.serialize()
        assert data[0] == 0x80
        parsed = RtpPacket.parse(data)
        assert parsed == plain and parsed.csrc == [] and parsed.extension_profile is None
        assert parsed.padding_size == 0 and isinstance(parsed.payload, bytes)
        padded = RtpPacket(8, 0xFFFF, 0xFFFFFFFF, 0x11223344, b"\xff" * 160, marker)
        padded.padding_size = 4
        general = RtpPacket.parse(padded.serialize())
        assert general.payload == parsed.payload and general.marker == parsed.marker
        assert (general.payload_type, general.sequence_number, general.timestamp) == (
            8,
            0xFFFF,
            0xFFFFFFFF,
        )
    assert RtpPacket.parse(bytearray(data)) == parsed
