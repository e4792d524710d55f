"""RTCP packets (baresip captures and crafted), compound parsing errors, the report session."""

from firmware.core import rtcp
from firmware.core.rtcp import (
    Bye,
    ReceiverReport,
    ReportBlock,
    RtcpError,
    RtcpOther,
    SenderReport,
    SourceDescription,
)
from tests.core.support import FakeRandom, raises, read_data

FLAT = 0x8C911C1F
DOOR = 0x2A6E8544


def test_baresip_sender_report_with_sdes():
    packets = rtcp.parse_compound(read_data("media/baresip/rtcp_sr_sdes.bin"))
    assert len(packets) == 2
    sr, sdes = packets
    assert isinstance(sr, SenderReport) and isinstance(sdes, SourceDescription)
    assert sr.ssrc == FLAT and sr.ntp_timestamp == 0xEEACDDE324970F7B
    assert (sr.rtp_timestamp, sr.packet_count, sr.octet_count) == (0xF1CB, 250, 40000)
    assert sr.reports == [ReportBlock(DOOR, 0, 0, 0x2999, 10, 0, 0)]
    assert sdes.cname(FLAT) == b"sip:flat101@127.0.0.1:5062"
    assert sdes.cname(DOOR) is None


def test_baresip_report_block_echoes_the_last_sr():
    sr = rtcp.parse_compound(read_data("media/baresip/rtcp_sr_rb_sdes.bin"))[0]
    block = sr.reports[0]
    assert (sr.ssrc, block.ssrc, block.highest_sequence, block.jitter) == (DOOR, FLAT, 0x7EA6, 8)
    # LSR is the middle of the flat's SR timestamp (0xEEACDDE3_24970F7B), DLSR 65/65536 s.
    assert block.lsr == rtcp.ntp_middle(0xEEACDDE324970F7B) == 0xDDE32497
    assert block.dlsr == 0x41


def test_baresip_bye_and_app():
    bye, sdes = rtcp.parse_compound(read_data("media/baresip/rtcp_bye_sdes.bin"))
    assert bye == Bye([FLAT], b"Adjo")
    assert sdes.cname(FLAT) == b"sip:flat101@127.0.0.1:5062"
    (app,) = rtcp.parse_compound(read_data("media/baresip/rtcp_app_ping.bin"))
    assert isinstance(app, RtcpOther) and (app.packet_type, app.count) == (rtcp.PT_APP, 0)
    assert app.body == bytes.fromhex("8c911c1f") + b"PINGPONG"


def test_captures_round_trip_byte_for_byte():
    names = ["rtcp_sr_sdes", "rtcp_sr_rb_sdes", "rtcp_bye_sdes", "rtcp_app_ping"]
    for name in names:
        data = read_data("media/baresip/%s.bin" % name)
        assert rtcp.serialize_compound(rtcp.parse_compound(data)) == data, name


def test_padded_receiver_report_with_negative_loss():
    # a1: V=2 P RC=1 | c9: RR | 8 words | ssrc 01020304 | block: ssrc cafebabe, fraction 0x40,
    # cumulative lost 0xfffffd (-3), seq 0x10005, jitter 32, LSR 12345678, DLSR 1.5 s | padding
    (rr,) = rtcp.parse_compound(read_data("media/rtp/rtcp_rr_padded.bin"))
    assert rr == ReceiverReport(
        0x01020304, [ReportBlock(0xCAFEBABE, 0x40, -3, 0x10005, 32, 0x12345678, 0x18000)]
    )
    again = rtcp.parse_compound(rr.serialize())[0]
    assert again == rr


def test_truncations_of_a_compound():
    data = read_data("media/baresip/rtcp_sr_sdes.bin")  # SR (52 bytes) + SDES (40 bytes)
    for n in range(len(data)):
        if n == 52:
            assert len(rtcp.parse_compound(data[:n])) == 1  # the SR alone is a valid datagram
            continue
        exc = raises(RtcpError, rtcp.parse_compound, data[:n])
        assert exc.reason == rtcp.REASON_TRUNCATED, (n, exc)


def test_invalid_datagrams():
    sr = read_data("media/baresip/rtcp_sr_sdes.bin")
    rr = read_data("media/rtp/rtcp_rr_padded.bin")
    bye = read_data("media/baresip/rtcp_bye_sdes.bin")
    table = [
        (b"\x40" + sr[1:], rtcp.REASON_BAD_VERSION),
        (sr[:1] + b"\x10" + sr[2:], rtcp.REASON_NOT_RTCP),  # an RTP packet type
        (rr + sr, rtcp.REASON_BAD_PADDING),  # padding only on the last packet
        (rr[:-1] + b"\x00", rtcp.REASON_BAD_PADDING),
        (rr[:-1] + b"\x40", rtcp.REASON_BAD_PADDING),
        (b"\x85" + sr[1:], rtcp.REASON_BAD_LENGTH),  # 5 report blocks announced, 1 there
        (b"\x80\xc9\x00\x00", rtcp.REASON_BAD_LENGTH),  # RR without SSRC
        (b"\x82" + bye[1:16], rtcp.REASON_BAD_BYE),  # 2 sources: "Adjo" read as a reason
        (b"\x81\xca\x00\x02" + bytes.fromhex("8c911c1f01ff6162"), rtcp.REASON_BAD_SDES),
        (b"\x81\xca\x00\x02" + bytes.fromhex("8c911c1f01026162"), rtcp.REASON_BAD_SDES),
        (b"\x82\xca\x00\x02" + bytes.fromhex("8c911c1f00000000"), rtcp.REASON_BAD_SDES),
        (b"", rtcp.REASON_TRUNCATED),
    ]
    for data, reason in table:
        exc = raises(RtcpError, rtcp.parse_compound, data)
        assert exc.reason == reason, (data[:8], exc)
        assert isinstance(exc, ValueError)


def test_built_packets_round_trip():
    blocks = [
        ReportBlock(1, 255, 0x7FFFFF, 0xFFFFFFFF, 123, 0xABCDEF01, 0x10000),
        ReportBlock(2, 0, -0x800000, 0, 0, 0, 0),
    ]
    compound = [
        SenderReport(7, 0x0123456789ABCDEF, 0xFFFFFFFF, 10, 1600, blocks),
        SourceDescription([(7, [(1, b"door@example"), (6, b"intercom")]), (8, [])]),
        Bye([7, 8], b"call ended"),
        RtcpOther(205, 1, b"\x00\x00\x00\x07\x00\x00\x00\x08"),
    ]
    data = rtcp.serialize_compound(compound)
    assert len(data) % 4 == 0
    assert rtcp.parse_compound(data) == compound
    assert rtcp.parse_compound(ReceiverReport(9).serialize()) == [ReceiverReport(9, [])]
    assert rtcp.parse_compound(Bye([]).serialize()) == [Bye([])]


def test_cumulative_loss_is_clamped_to_24_bits():
    block = ReportBlock(1, 0, 10**9, 0, 0, 0, 0)
    assert ReportBlock.parse(block.serialize(), 0).packets_lost == 0x7FFFFF
    block = ReportBlock(1, 0, -(10**9), 0, 0, 0, 0)
    assert ReportBlock.parse(block.serialize(), 0).packets_lost == -0x800000


def test_serialize_rejects_what_does_not_fit():
    raises(ValueError, ReceiverReport(1, [ReportBlock(1, 0, 0, 0, 0, 0, 0)] * 32).serialize)
    raises(ValueError, SourceDescription([(1, [(1, b"x" * 256)])]).serialize)
    raises(ValueError, SourceDescription([(1, [(0, b"x")])]).serialize)
    raises(ValueError, Bye([1], b"x" * 256).serialize)


def test_ntp_timestamps():
    assert rtcp.ntp_timestamp(0) == 2208988800 << 32  # 1970-01-01 in NTP seconds
    assert rtcp.ntp_timestamp(1500) == ((2208988801 << 32) | (1 << 31))
    assert rtcp.ntp_middle(0x0123456789ABCDEF) == 0x456789AB


def test_report_schedule_is_randomised_around_five_seconds():
    firsts = []
    gaps = []
    for seed in range(1, 40):
        session = rtcp.RtcpSession(FakeRandom(seed), 1000)
        firsts.append(session.next_report_ms - 1000)
        session.schedule_next(50000)
        gaps.append(session.next_report_ms - 50000)
    assert all(1250 <= f < 3750 for f in firsts)  # half the interval, randomised
    assert all(2500 <= g < 7500 for g in gaps)
    assert len(set(gaps)) > 30 and 4000 < sum(gaps) / len(gaps) < 6000


def test_round_trip_time_from_lsr_and_dlsr():
    # Our SR leaves at 10 000 ms; the peer holds it 150 ms and reports back; its RR arrives at
    # 10 400 ms: 100 ms each way.
    ours = rtcp.RtcpSession(FakeRandom(1), 0, wallclock_offset_ms=1700000000000)
    sr = SenderReport(0xAAAA, ours.ntp(10000), 0, 1, 160)
    dlsr = (150 << 16) // 1000
    block = ReportBlock(0xAAAA, 0, 0, 0, 0, rtcp.ntp_middle(sr.ntp_timestamp), dlsr)
    ours.receive([ReceiverReport(0xBBBB, [block])], 0xAAAA, 0xBBBB, 10400)
    assert 249 <= ours.rtt_ms <= 250
    assert ours.remote_report == block
    # A block about another SSRC, or without LSR, does not change the estimate.
    ours.receive([ReceiverReport(0xBBBB, [ReportBlock(0xCCCC, 0, 0, 0, 0, 1, 1)])], 0xAAAA, None, 1)
    ours.receive([ReceiverReport(0xBBBB, [ReportBlock(0xAAAA, 0, 0, 0, 0, 0, 0)])], 0xAAAA, None, 1)
    assert 249 <= ours.rtt_ms <= 250


def test_our_report_block_carries_lsr_and_dlsr():
    from firmware.core.rtp import SourceStats

    session = rtcp.RtcpSession(FakeRandom(1), 0)
    stats = SourceStats(0xBBBB, 100)
    for seq in range(101, 150):
        stats.update(seq)
    assert session.report_block(stats, 5000).lsr == 0  # no SR heard yet
    peer_sr = SenderReport(0xBBBB, 0x0000123456789ABC, 0, 10, 1600)
    session.receive([peer_sr], 0xAAAA, 0xBBBB, 6000)
    block = session.report_block(stats, 6500)
    assert (block.ssrc, block.highest_sequence, block.packets_lost) == (0xBBBB, 149, 0)
    assert block.lsr == 0x12345678 and block.dlsr == 500 * 65536 // 1000
