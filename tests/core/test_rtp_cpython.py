"""Property tests (hypothesis) for the RTP and RTCP parsers and the media facade's input."""

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.core import rtcp
from firmware.core.media import MediaStream
from firmware.core.rtp import RtpError, RtpPacket
from firmware.core.sdp import MediaParams
from tests.core.support import FakeRandom

u32 = st.integers(0, 0xFFFFFFFF)

packets = st.builds(
    RtpPacket,
    st.integers(0, 127),
    st.integers(0, 0xFFFF),
    u32,
    u32,
    st.binary(max_size=300),
    st.booleans(),
    st.lists(u32, max_size=15),
    st.one_of(st.none(), st.integers(0, 0xFFFF)),
    st.binary(max_size=40).map(lambda b: b[: len(b) // 4 * 4]),
    st.integers(0, 255),
)


@given(packets)
def test_rtp_round_trip(packet):
    if packet.extension_profile is None:
        packet.extension = b""
    assert RtpPacket.parse(packet.serialize()) == packet


@given(st.binary(max_size=400))
def test_rtp_parse_raises_only_rtp_errors(data):
    try:
        packet = RtpPacket.parse(data)
    except RtpError as exc:
        assert exc.reason
    else:
        assert len(packet.payload) <= len(data) - 12


@given(st.binary(max_size=400))
def test_rtcp_parse_raises_only_rtcp_errors(data):
    try:
        rtcp.parse_compound(data)
    except rtcp.RtcpError as exc:
        assert exc.reason


blocks = st.builds(
    rtcp.ReportBlock, u32, st.integers(0, 255), st.integers(-0x800000, 0x7FFFFF), u32, u32, u32, u32
)
rtcp_packets = st.one_of(
    st.builds(
        rtcp.SenderReport,
        u32,
        st.integers(0, (1 << 64) - 1),
        u32,
        u32,
        u32,
        st.lists(blocks, max_size=3),
    ),
    st.builds(rtcp.ReceiverReport, u32, st.lists(blocks, max_size=3)),
    st.builds(
        rtcp.SourceDescription,
        st.lists(
            st.tuples(
                u32, st.lists(st.tuples(st.integers(1, 8), st.binary(max_size=20)), max_size=3)
            ),
            max_size=3,
        ),
    ),
    st.builds(rtcp.Bye, st.lists(u32, max_size=4), st.binary(max_size=30)),
)


@given(st.lists(rtcp_packets, min_size=1, max_size=4))
def test_rtcp_round_trip(compound):
    assert rtcp.parse_compound(rtcp.serialize_compound(compound)) == compound


@settings(max_examples=50)
@given(st.lists(st.tuples(st.booleans(), st.binary(max_size=200)), max_size=40))
def test_the_facade_takes_any_datagrams(datagrams):
    remote = ("192.0.2.1", 4000)
    stream = MediaStream(
        MediaParams(remote, ("192.0.2.1", 4001), 0, "PCMU", 101, 20, "sendrecv"), FakeRandom(1), 0
    )
    for i, (is_rtcp, data) in enumerate(datagrams):
        if is_rtcp:
            stream.receive_rtcp(data, remote, i * 10)
        else:
            stream.receive_rtp(data, remote, i * 10)
        assert len(stream.pull_playout(i * 10)) == 320
    stream.handle_timer(10**6)
    stream.stats()
