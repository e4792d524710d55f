"""SDP parse/serialize (RFC 8866) and offer/answer (RFC 3264) against recorded PBX bodies."""

from firmware.core import sdp
from firmware.core.sdp import (
    INACTIVE,
    RECVONLY,
    SENDONLY,
    SENDRECV,
    MediaParams,
    SdpError,
    SdpNegotiationError,
    build_answer,
    build_offer,
    next_version,
    parse,
    read_answer,
    serialize,
    with_direction,
)
from tests.core.support import raises, read_data

SDP_FILES = (
    "asterisk1.6-chansip-invite-sdp-audio-video.sip",
    "freeswitch1.6.19-invite-sdp.sip",
    "microsip-invite-sdp-session-timer.sip",
    "fritzbox6490-200-invite-sdp.sip",
    "freeswitch1.10.2-200-reinvite-hold-inactive.sip",
    "freeswitch1.6.19-183-session-progress-sdp.sip",
    "freeswitch1.6.19-200-invite-sdp-session-timer.sip",
    "asterisk15-chansip-200-invite-sdp-session-timer.sip",
    "asterisk-old-chansip-200-invite-sdp.sip",
)


def body(filename):
    return read_data("real-world/" + filename).split(b"\r\n\r\n", 1)[1]


def sdp_text(*lines):
    return ("\r\n".join(lines) + "\r\n").encode()


def our_offer(**kwargs):
    return build_offer("192.0.2.10", 40000, 42, 1, **kwargs)


def offer_with(m_line, *attributes, connection="c=IN IP4 198.51.100.1", session=()):
    lines = ["v=0", "o=- 1 1 IN IP4 198.51.100.1", "s=-", connection, "t=0 0"]
    lines.extend(session)
    lines.append(m_line)
    lines.extend(attributes)
    return parse(sdp_text(*lines))


def answer_to(offer, m_line, *attributes, connection="c=IN IP4 203.0.113.7"):
    lines = ["v=0", "o=peer 7 7 IN IP4 203.0.113.7", "s=-", connection, "t=0 0"]
    lines.append(m_line)
    lines.extend(attributes)
    for extra in offer.media[1:]:
        lines.append("m=%s 0 %s %s" % (extra.kind, extra.proto, " ".join(extra.formats)))
    return parse(sdp_text(*lines))


# -- parsing recorded bodies --------------------------------------------------------------------


def test_recorded_bodies_parse_and_serialize_byte_for_byte():
    for filename in SDP_FILES:
        data = body(filename)
        assert serialize(parse(data)) == data, filename


def test_asterisk_audio_video_offer():
    offer = parse(body("asterisk1.6-chansip-invite-sdp-audio-video.sip"))
    assert offer.origin.username == "root"
    assert (offer.origin.session_id, offer.origin.session_version) == ("1626133600", 1626133600)
    assert offer.name == "Asterisk PBX 1.6.2.17.3"
    assert (offer.connection.address_type, offer.connection.address) == ("IP4", "10.5.4.2")
    assert offer.bandwidths == [("CT", 384)]
    assert offer.times == [(0, 0, [])]
    audio, video = offer.media
    assert (audio.kind, audio.port, audio.proto, audio.formats) == (
        "audio",
        12786,
        "RTP/AVP",
        ["8", "0", "101"],
    )
    assert audio.rtpmap("101") == ("telephone-event", 8000, None)
    assert audio.attribute_values("fmtp") == ["101 0-16"]
    assert audio.attribute_values("ptime") == ["20"]
    assert audio.has_attribute("sendrecv") and not audio.has_attribute("inactive")
    assert (video.kind, video.port, video.formats) == ("video", 14746, ["31", "34", "98"])
    assert video.rtpmap("98") == ("h263-1998", 90000, None)


def test_microsip_offer_with_media_level_connection_bandwidth_and_rtcp():
    offer = parse(body("microsip-invite-sdp-session-timer.sip"))
    assert offer.connection is None
    assert offer.bandwidths == [("AS", 84)]
    assert offer.attributes == [("X-nat", "0")]
    [audio] = offer.media
    assert audio.connections[0].address == "192.168.246.45"
    assert audio.bandwidths == [("TIAS", 64000)]
    assert audio.attribute_values("ssrc") == ["82254684 cname:0f5c16a2550a2715"]
    _, media = build_answer(offer, "192.0.2.10", 40000, 5, 5)
    assert media == MediaParams(
        ("192.168.246.45", 4000), ("192.168.246.45", 4001), 8, "PCMA", 101, 20, SENDRECV
    )


def test_freeswitch_offer_skips_g729_and_follows_ptime_and_dtmf():
    offer = parse(body("freeswitch1.6.19-invite-sdp.sip"))
    answer, media = build_answer(offer, "192.0.2.10", 40000, 5, 5)
    assert media == MediaParams(
        ("203.0.113.58", 60652), ("203.0.113.58", 60653), 0, "PCMU", 101, 20, SENDRECV
    )
    assert serialize(answer) == sdp_text(
        "v=0",
        "o=- 5 5 IN IP4 192.0.2.10",
        "s=-",
        "c=IN IP4 192.0.2.10",
        "t=0 0",
        "m=audio 40000 RTP/AVP 0 101",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-15",
        "a=ptime:20",
        "a=sendrecv",
    )
    _, media = build_answer(offer, "192.0.2.10", 40000, 5, 5, codecs=("PCMA",))
    assert (media.payload_type, media.codec) == (8, "PCMA")


def test_asterisk_offer_rejects_video_keeping_its_formats():
    offer = parse(body("asterisk1.6-chansip-invite-sdp-audio-video.sip"))
    answer, media = build_answer(offer, "192.0.2.10", 40000, 5, 5)
    assert (media.payload_type, media.codec, media.dtmf_payload_type) == (8, "PCMA", 101)
    assert serialize(answer).endswith(
        sdp_text(
            "m=audio 40000 RTP/AVP 8 101",
            "a=rtpmap:8 PCMA/8000",
            "a=rtpmap:101 telephone-event/8000",
            "a=fmtp:101 0-15",
            "a=ptime:20",
            "a=sendrecv",
            "m=video 0 RTP/AVP 31 34 98",
        )
    )
    assert read_answer(offer, answer) == MediaParams(
        ("192.0.2.10", 40000), ("192.0.2.10", 40001), 8, "PCMA", 101, 20, SENDRECV
    )


def test_reads_recorded_answers_to_our_offer():
    offer = our_offer()
    cases = (
        ("fritzbox6490-200-invite-sdp.sip",
         MediaParams(("192.168.42.1", 7078), ("192.168.42.1", 7079), 0, "PCMU", 100, 20,
                     SENDRECV)),
        ("freeswitch1.6.19-200-invite-sdp-session-timer.sip",
         MediaParams(("203.0.113.96", 60706), ("203.0.113.96", 60706), 8, "PCMA", 101, 20,
                     SENDRECV)),
        ("asterisk15-chansip-200-invite-sdp-session-timer.sip",
         MediaParams(("198.51.100.74", 15192), ("198.51.100.74", 15193), 0, "PCMU", None, 20,
                     SENDRECV)),
        ("asterisk-old-chansip-200-invite-sdp.sip",
         MediaParams(("198.51.100.133", 18656), ("198.51.100.133", 18657), 0, "PCMU", 101, 20,
                     SENDRECV)),
        ("freeswitch1.10.2-200-reinvite-hold-inactive.sip",
         MediaParams(("10.1.20.195", 23808), ("10.1.20.195", 23809), 8, "PCMA", 101, 20,
                     INACTIVE)),
    )  # fmt: skip
    for filename, expected in cases:
        assert read_answer(offer, parse(body(filename))) == expected, filename


def test_early_media_answer_with_only_g729_is_refused():
    early = parse(body("freeswitch1.6.19-183-session-progress-sdp.sip"))
    assert early.media[0].has_attribute("rtcp-mux")
    assert early.media[0].rtpmap("18") == ("g729", 8000, None)
    err = raises(SdpNegotiationError, read_answer, our_offer(), early)
    assert "codec" in str(err)
    raises(SdpNegotiationError, build_answer, early, "192.0.2.10", 40000, 5, 5)


def test_hold_answer_keeps_the_origin_and_bumps_the_version():
    hold = parse(body("freeswitch1.10.2-200-reinvite-hold-inactive.sip"))
    assert (hold.origin.session_id, hold.origin.session_version) == ("1581404399", 1581404402)
    assert hold.media[0].attributes[-2:] == [("inactive", None), ("ptime", "20")]


# -- parsing: accepted variants and malformed input ---------------------------------------------

MINIMAL = ["v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0"]


def test_accepts_lf_line_ends_and_missing_final_line_end():
    crlf = sdp_text(*MINIMAL, "m=audio 4000 RTP/AVP 0")
    for variant in (
        crlf.replace(b"\r\n", b"\n"),
        crlf[:-2],
        crlf.replace(b"\r\n", b"\n", 3),  # mixed
        crlf + b"\r\n\r\n",  # blank lines after the end
    ):
        assert serialize(parse(variant)) == crlf, variant


def test_accepts_address_forms_and_port_zero_streams():
    cases = (
        ("c=IN IP4 0.0.0.0", "0.0.0.0"),
        ("c=IN IP6 2001:db8::1", "2001:db8::1"),
        ("c=IN IP6 ::", "::"),
        ("c=IN IP6 ::ffff:192.0.2.1", "::ffff:192.0.2.1"),
        ("c=IN IP6 2001:db8:0:0:0:0:0:1", "2001:db8:0:0:0:0:0:1"),
        ("c=IN IP4 pbx.example.com", "pbx.example.com"),
        ("c=IN IP4 224.2.1.1/127/3", "224.2.1.1/127/3"),
    )
    for line, address in cases:
        session = parse(sdp_text(*MINIMAL[:3], line, "t=0 0", "m=audio 4000 RTP/AVP 0"))
        assert session.connection.address == address, line
    no_connection = parse(sdp_text(*MINIMAL[:3], "t=0 0", "m=audio 0 RTP/AVP 0"))
    assert no_connection.media[0].port == 0
    counted = parse(sdp_text(*MINIMAL, "m=audio 49170/2 RTP/AVP 0"))
    assert (counted.media[0].port, counted.media[0].port_count) == (49170, 2)
    assert b"m=audio 49170/2 RTP/AVP 0\r\n" in serialize(counted)


def test_unknown_and_optional_lines_round_trip_in_order():
    data = sdp_text(
        "v=0",
        "o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5",
        "s=SDP Seminar",
        "i=A Seminar on the session description protocol",
        "u=http://www.example.com/seminars/sdp.pdf",
        "e=j.doe@example.com (Jane Doe)",
        "p=+1 617 555-6011",
        "c=IN IP4 224.2.17.12/127",
        "b=AS:128",
        "t=2873397496 2873404696",
        "r=7d 1h 0 25h",
        "t=0 0",
        "z=2882844526 -1h 2898848070 0",
        "k=prompt",
        "a=recvonly",
        "a=x-unknown",
        "a=x-with-value:a b:c",
        "a=empty:",
        "m=audio 49170 RTP/AVP 0",
        "i=voice",
        "c=IN IP4 10.0.0.1",
        "c=IN IP4 10.0.0.2",
        "b=TIAS:64000",
        "k=clear:secret",
        "a=zzz",
        "a=rtpmap:0 PCMU/8000",
        "a=aaa:1",
        "m=application 9 TCP/MSRP *",
        "a=accept-types:text/plain",
    )
    session = parse(data)
    assert serialize(session) == data
    assert session.attributes == [
        ("recvonly", None),
        ("x-unknown", None),
        ("x-with-value", "a b:c"),
        ("empty", ""),
    ]
    assert session.times == [(2873397496, 2873404696, ["7d 1h 0 25h"]), (0, 0, [])]
    assert [n for n, _ in session.media[0].attributes] == ["zzz", "rtpmap", "aaa"]
    assert session.media[1].formats == ["*"]


def test_out_of_order_session_lines_are_written_in_rfc_order():
    data = sdp_text("v=0", "s=-", "o=- 1 1 IN IP4 192.0.2.1", "t=0 0", "c=IN IP4 192.0.2.1")
    assert serialize(parse(data)) == sdp_text(*MINIMAL)


MALFORMED = (
    ("empty", b""),
    ("only line ends", b"\r\n\r\n"),
    ("missing v=", sdp_text(*MINIMAL[1:])),
    ("v=1", sdp_text("v=1", *MINIMAL[1:])),
    ("v= not first", sdp_text(MINIMAL[1], MINIMAL[0], *MINIMAL[2:])),
    ("second v=", sdp_text(*MINIMAL, "v=0")),
    ("missing o=", sdp_text("v=0", "s=-", "c=IN IP4 192.0.2.1", "t=0 0")),
    ("two o=", sdp_text(*MINIMAL, "o=- 1 1 IN IP4 192.0.2.1")),
    ("missing s=", sdp_text("v=0", "o=- 1 1 IN IP4 192.0.2.1", "c=IN IP4 192.0.2.1", "t=0 0")),
    ("missing t=", sdp_text(*MINIMAL[:4])),
    ("t= in media", sdp_text(*MINIMAL, "m=audio 4000 RTP/AVP 0", "t=0 0")),
    ("o= in media", sdp_text(*MINIMAL, "m=audio 4000 RTP/AVP 0", "o=- 1 1 IN IP4 192.0.2.1")),
    ("r= before t=", sdp_text(*MINIMAL[:4], "r=7d 1h 0 25h", "t=0 0")),
    ("bad t=", sdp_text(*MINIMAL[:4], "t=0")),
    ("bad t= number", sdp_text(*MINIMAL[:4], "t=now 0")),
    ("unknown line type", sdp_text(*MINIMAL, "x=1")),
    ("upper-case type", sdp_text(*MINIMAL, "A=sendrecv")),
    ("no =", sdp_text(*MINIMAL, "a")),
    ("space before =", sdp_text(*MINIMAL, "a =sendrecv")),
    ("blank line inside", sdp_text(*MINIMAL[:3], "", *MINIMAL[3:])),
    ("stray CR", sdp_text(*MINIMAL, "a=tool:x\ry")),
    ("NUL", sdp_text(*MINIMAL, "a=tool:x\x00")),
    ("not UTF-8", sdp_text(*MINIMAL) + b"a=tool:\xff\xfe\r\n"),
    ("o= five fields", sdp_text("v=0", "o=- 1 IN IP4 192.0.2.1", *MINIMAL[2:])),
    ("o= version", sdp_text("v=0", "o=- 1 x IN IP4 192.0.2.1", *MINIMAL[2:])),
    ("o= nettype", sdp_text("v=0", "o=- 1 1 ATM NSAP x", *MINIMAL[2:])),
    ("c= missing address", sdp_text(*MINIMAL[:3], "c=IN IP4", "t=0 0")),
    ("c= address type", sdp_text(*MINIMAL[:3], "c=IN IP7 192.0.2.1", "t=0 0")),
    ("c= network type", sdp_text(*MINIMAL[:3], "c=ATM IP4 192.0.2.1", "t=0 0")),
    ("c= octet", sdp_text(*MINIMAL[:3], "c=IN IP4 300.1.1.1", "t=0 0")),
    ("c= three octets", sdp_text(*MINIMAL[:3], "c=IN IP4 192.0.2", "t=0 0")),
    ("c= IPv4 as IP6", sdp_text(*MINIMAL[:3], "c=IN IP6 192.0.2.1", "t=0 0")),
    ("c= bad IPv6", sdp_text(*MINIMAL[:3], "c=IN IP6 2001:db8:::1", "t=0 0")),
    ("c= long IPv6", sdp_text(*MINIMAL[:3], "c=IN IP6 1:2:3:4:5:6:7:8:9", "t=0 0")),
    ("c= bad ttl", sdp_text(*MINIMAL[:3], "c=IN IP4 224.2.1.1/x", "t=0 0")),
    ("two session c=", sdp_text(*MINIMAL, "c=IN IP4 192.0.2.1")),
    ("m= port not a number", sdp_text(*MINIMAL, "m=audio abc RTP/AVP 0")),
    ("m= port too big", sdp_text(*MINIMAL, "m=audio 70000 RTP/AVP 0")),
    ("m= negative port", sdp_text(*MINIMAL, "m=audio -1 RTP/AVP 0")),
    ("m= signed port", sdp_text(*MINIMAL, "m=audio +4000 RTP/AVP 0")),
    ("m= port count", sdp_text(*MINIMAL, "m=audio 4000/ RTP/AVP 0")),
    ("m= no formats", sdp_text(*MINIMAL, "m=audio 4000 RTP/AVP")),
    ("m= payload type", sdp_text(*MINIMAL, "m=audio 4000 RTP/AVP 128")),
    ("m= payload type text", sdp_text(*MINIMAL, "m=audio 4000 RTP/AVP PCMU")),
    ("m= protocol", sdp_text(*MINIMAL, "m=audio 4000 RTP/ 0")),
    ("no c= for a stream", sdp_text(*MINIMAL[:3], "t=0 0", "m=audio 4000 RTP/AVP 0")),
    ("b= without colon", sdp_text(*MINIMAL[:4], "b=AS", "t=0 0")),
    ("b= not a number", sdp_text(*MINIMAL[:4], "b=AS:lots", "t=0 0")),
    ("a= empty name", sdp_text(*MINIMAL, "a=")),
    ("a= name with space", sdp_text(*MINIMAL, "a=bad name:1")),
    ("a=rtpmap no clock", sdp_text(*MINIMAL, "m=audio 4000 RTP/AVP 0", "a=rtpmap:0 PCMU")),
    ("a=rtpmap bad pt", sdp_text(*MINIMAL, "m=audio 4000 RTP/AVP 0", "a=rtpmap:x PCMU/8000")),
    ("a=rtpmap pt 200", sdp_text(*MINIMAL, "m=audio 4000 RTP/AVP 0", "a=rtpmap:200 X/8000")),
    ("a=rtpmap no value", sdp_text(*MINIMAL, "m=audio 4000 RTP/AVP 0", "a=rtpmap")),
    ("a=ptime text", sdp_text(*MINIMAL, "m=audio 4000 RTP/AVP 0", "a=ptime:twenty")),
    ("a=ptime fraction", sdp_text(*MINIMAL, "m=audio 4000 RTP/AVP 0", "a=ptime:20.")),
    ("a=maxptime empty", sdp_text(*MINIMAL, "m=audio 4000 RTP/AVP 0", "a=maxptime:")),
    ("a=rtcp port", sdp_text(*MINIMAL, "m=audio 4000 RTP/AVP 0", "a=rtcp:99999")),
    ("a=rtcp address", sdp_text(*MINIMAL, "m=audio 4000 RTP/AVP 0", "a=rtcp:4001 IN IP4")),
    ("a=fmtp empty", sdp_text(*MINIMAL, "m=audio 4000 RTP/AVP 0", "a=fmtp:")),
    ("direction value", sdp_text(*MINIMAL, "m=audio 4000 RTP/AVP 0", "a=sendrecv:yes")),
    ("too many streams", sdp_text(*MINIMAL, *(["m=audio 0 RTP/AVP 0"] * 17))),
    ("too long", sdp_text(*MINIMAL, "a=tool:" + "x" * 17000)),
)


def test_rejects_malformed_sdp():
    for what, data in MALFORMED:
        err = raises(SdpError, parse, data)
        assert str(err), what


def test_parse_takes_bytes():
    raises(TypeError, parse, "v=0\r\n")
    session = parse(bytearray(sdp_text(*MINIMAL)))
    assert session.origin.address == "192.0.2.1"


# -- offers -------------------------------------------------------------------------------------


def test_builds_the_default_offer():
    assert serialize(our_offer()) == sdp_text(
        "v=0",
        "o=- 42 1 IN IP4 192.0.2.10",
        "s=-",
        "c=IN IP4 192.0.2.10",
        "t=0 0",
        "m=audio 40000 RTP/AVP 0 8 101",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-15",
        "a=ptime:20",
        "a=sendrecv",
    )


def test_offer_options():
    offer = build_offer(
        "2001:db8::10", 5004, 7, 3, codecs=("PCMA", "PCMU"), dtmf_payload_type=None,
        ptime_ms=30, direction=SENDONLY,
    )  # fmt: skip
    assert serialize(offer) == sdp_text(
        "v=0",
        "o=- 7 3 IN IP6 2001:db8::10",
        "s=-",
        "c=IN IP6 2001:db8::10",
        "t=0 0",
        "m=audio 5004 RTP/AVP 8 0",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:0 PCMU/8000",
        "a=ptime:30",
        "a=sendonly",
    )
    assert parse(serialize(offer)).media[0].formats == ["8", "0"]


def test_offer_misuse_raises_value_error():
    for kwargs in (
        {"codecs": ("G729",)},
        {"codecs": ()},
        {"direction": "hold"},
        {"dtmf_payload_type": 8},
        {"dtmf_payload_type": 128},
    ):
        raises(ValueError, our_offer, **kwargs)
    raises(ValueError, build_offer, "192.0.2.10", 0, 1, 1)
    raises(ValueError, build_offer, "192.0.2.10", 65535, 1, 1)
    raises(ValueError, build_offer, "door.example.com", 4000, 1, 1)


# -- answers ------------------------------------------------------------------------------------

AVP = "m=audio 5000 RTP/AVP "
PCMU = "a=rtpmap:0 PCMU/8000"
PCMA = "a=rtpmap:8 PCMA/8000"
TE101 = "a=rtpmap:101 telephone-event/8000"


def test_negotiation_table():
    # offered m= line and attributes, our codecs, our direction ->
    #   payload type, codec, dtmf, ptime, our media direction, direction attribute in the answer
    cases = (
        ((AVP + "0 8 101", PCMU, PCMA, TE101), None, SENDRECV, (0, "PCMU", 101, 20, SENDRECV)),
        ((AVP + "8 0 101",), None, SENDRECV, (8, "PCMA", None, 20, SENDRECV)),
        ((AVP + "8 0",), ("PCMU",), SENDRECV, (0, "PCMU", None, 20, SENDRECV)),
        ((AVP + "18 3 0", "a=rtpmap:18 G729/8000"), None, SENDRECV,
         (0, "PCMU", None, 20, SENDRECV)),
        ((AVP + "96 97", "a=rtpmap:96 pcma/8000", "a=rtpmap:97 telephone-event/8000"), None,
         SENDRECV, (96, "PCMA", 97, 20, SENDRECV)),
        ((AVP + "0 96 97", "a=rtpmap:96 telephone-event/16000", "a=rtpmap:97 Telephone-Event/8000"),
         None, SENDRECV, (0, "PCMU", 97, 20, SENDRECV)),
        ((AVP + "0 8", "a=rtpmap:0 PCMU/16000"), None, SENDRECV, (8, "PCMA", None, 20, SENDRECV)),
        ((AVP + "0", "a=ptime:30"), None, SENDRECV, (0, "PCMU", None, 30, SENDRECV)),
        ((AVP + "0", "a=ptime:10"), None, SENDRECV, (0, "PCMU", None, 10, SENDRECV)),
        ((AVP + "0", "a=ptime:5"), None, SENDRECV, (0, "PCMU", None, 20, SENDRECV)),
        ((AVP + "0", "a=ptime:150"), None, SENDRECV, (0, "PCMU", None, 20, SENDRECV)),
        ((AVP + "0", "a=ptime:29.5"), None, SENDRECV, (0, "PCMU", None, 30, SENDRECV)),
        ((AVP + "0", "a=maxptime:150"), None, SENDRECV, (0, "PCMU", None, 20, SENDRECV)),
        ((AVP + "0", "a=maxptime:10"), None, SENDRECV, (0, "PCMU", None, 10, SENDRECV)),
        ((AVP + "0", "a=ptime:40", "a=maxptime:30"), None, SENDRECV,
         (0, "PCMU", None, 30, SENDRECV)),
        ((AVP + "0", "a=maxptime:5"), None, SENDRECV, (0, "PCMU", None, 20, SENDRECV)),
        ((AVP + "0", "a=sendonly"), None, SENDRECV, (0, "PCMU", None, 20, RECVONLY)),
        ((AVP + "0", "a=recvonly"), None, SENDRECV, (0, "PCMU", None, 20, SENDONLY)),
        ((AVP + "0", "a=inactive"), None, SENDRECV, (0, "PCMU", None, 20, INACTIVE)),
        ((AVP + "0", "a=sendrecv"), None, SENDONLY, (0, "PCMU", None, 20, SENDONLY)),
        ((AVP + "0", "a=recvonly"), None, RECVONLY, (0, "PCMU", None, 20, INACTIVE)),
        ((AVP + "0",), None, INACTIVE, (0, "PCMU", None, 20, INACTIVE)),
    )  # fmt: skip
    for offered, codecs, direction, expected in cases:
        offer = offer_with(*offered)
        kwargs = {"direction": direction}
        if codecs is not None:
            kwargs["codecs"] = codecs
        answer, media = build_answer(offer, "192.0.2.10", 40000, 9, 1, **kwargs)
        got = (media.payload_type, media.codec, media.dtmf_payload_type, media.ptime_ms)
        assert (got[0], got[1], got[2], got[3], media.direction) == expected, offered
        assert media.remote_rtp == ("198.51.100.1", 5000)
        assert media.remote_rtcp == ("198.51.100.1", 5001)
        [m] = answer.media
        assert m.formats[0] == "%d" % media.payload_type
        assert m.has_attribute(media.direction), offered
        assert m.attribute_values("ptime") == ["%d" % media.ptime_ms]
        # The offerer reads our answer back to the same codec, mirrored direction.
        back = read_answer(offer, parse(serialize(answer)))
        assert (back.payload_type, back.codec, back.dtmf_payload_type) == got[:3], offered


def test_session_level_direction_and_ptime_apply_to_the_stream():
    offer = offer_with(AVP + "0", session=("a=sendonly", "a=ptime:40"))
    _, media = build_answer(offer, "192.0.2.10", 40000, 9, 1)
    assert (media.direction, media.ptime_ms) == (RECVONLY, 40)
    overridden = offer_with(AVP + "0", "a=sendrecv", session=("a=sendonly",))
    assert build_answer(overridden, "192.0.2.10", 40000, 9, 1)[1].direction == SENDRECV


def test_old_style_hold_address_means_do_not_send():
    offer = offer_with(AVP + "0", connection="c=IN IP4 0.0.0.0")
    answer, media = build_answer(offer, "192.0.2.10", 40000, 9, 1)
    assert answer.media[0].has_attribute(SENDRECV)
    assert media.direction == RECVONLY and not media.sending and media.receiving
    assert media.remote_rtp == ("0.0.0.0", 5000)


def test_rtcp_attribute_and_ipv6():
    offer = offer_with(AVP + "0", "a=rtcp:6000")
    assert build_answer(offer, "192.0.2.10", 40000, 9, 1)[1].remote_rtcp == ("198.51.100.1", 6000)
    offer = offer_with(AVP + "0", "a=rtcp:6001 IN IP4 198.51.100.9")
    assert build_answer(offer, "192.0.2.10", 40000, 9, 1)[1].remote_rtcp == ("198.51.100.9", 6001)
    offer = offer_with(AVP + "0", connection="c=IN IP6 2001:db8::7")
    answer, media = build_answer(offer, "2001:db8::10", 40000, 9, 1)
    assert media.remote_rtp == ("2001:db8::7", 5000)
    assert b"c=IN IP6 2001:db8::10\r\n" in serialize(answer)
    edge = offer_with("m=audio 65535 RTP/AVP 0")
    assert build_answer(edge, "192.0.2.10", 40000, 9, 1)[1].remote_rtcp is None


def test_answer_has_one_m_line_per_offered_stream_and_copies_t():
    offer = parse(
        sdp_text(
            "v=0",
            "o=- 1 1 IN IP4 198.51.100.1",
            "s=-",
            "c=IN IP4 198.51.100.1",
            "t=3034423619 3042462419",
            "m=video 6000 RTP/AVP 96",
            "a=rtpmap:96 H264/90000",
            "m=audio 5000 RTP/SAVP 0",
            "m=audio 0 RTP/AVP 0",
            "m=audio 5002 RTP/AVP 0",
            "m=audio 5004 RTP/AVP 8",
            "m=application 5006 udp t38",
        )
    )
    answer, media = build_answer(offer, "192.0.2.10", 40000, 9, 1)
    assert media.remote_rtp == ("198.51.100.1", 5002)
    assert [(m.kind, m.port, m.proto, m.formats) for m in answer.media] == [
        ("video", 0, "RTP/AVP", ["96"]),
        ("audio", 0, "RTP/SAVP", ["0"]),
        ("audio", 0, "RTP/AVP", ["0"]),
        ("audio", 40000, "RTP/AVP", ["0"]),
        ("audio", 0, "RTP/AVP", ["8"]),
        ("application", 0, "udp", ["t38"]),
    ]
    assert answer.times == [(3034423619, 3042462419, [])]
    assert read_answer(offer, answer).remote_rtp == ("192.0.2.10", 40000)


def test_answer_fails_without_a_usable_audio_stream():
    both = ("PCMU", "PCMA")
    cases = (
        (offer_with(AVP + "18", "a=rtpmap:18 G729/8000"), both),
        (offer_with(AVP + "0", PCMU), ("PCMA",)),
        (offer_with("m=audio 0 RTP/AVP 0"), both),
        (offer_with("m=audio 5000 RTP/SAVP 0"), both),
        (offer_with("m=video 5000 RTP/AVP 31"), both),
        (offer_with(AVP + "0", connection="c=IN IP4 224.2.1.1/127"), both),
        (parse(sdp_text(*MINIMAL)), both),
    )
    for index, (offer, codecs) in enumerate(cases):
        err = raises(SdpNegotiationError, build_answer, offer, "192.0.2.10", 4000, 1, 1, codecs)
        assert str(err), index


# -- reading answers ----------------------------------------------------------------------------


def test_read_answer_table():
    offer = our_offer()
    cases = (
        ((AVP + "8 101", PCMA, TE101), (8, "PCMA", 101, 20, SENDRECV)),
        ((AVP + "0",), (0, "PCMU", None, 20, SENDRECV)),
        ((AVP + "96", "a=rtpmap:96 PCMU/8000"), (96, "PCMU", None, 20, SENDRECV)),
        ((AVP + "18 8", "a=rtpmap:18 G729/8000"), (8, "PCMA", None, 20, SENDRECV)),
        ((AVP + "0 100", "a=rtpmap:100 telephone-event/8000"), (0, "PCMU", 100, 20, SENDRECV)),
        ((AVP + "0", "a=recvonly"), (0, "PCMU", None, 20, SENDONLY)),
        ((AVP + "0", "a=sendonly"), (0, "PCMU", None, 20, RECVONLY)),
        ((AVP + "0", "a=inactive"), (0, "PCMU", None, 20, INACTIVE)),
        ((AVP + "0", "a=ptime:30"), (0, "PCMU", None, 30, SENDRECV)),
    )
    for answered, expected in cases:
        media = read_answer(offer, answer_to(offer, *answered))
        got = (media.payload_type, media.codec, media.dtmf_payload_type, media.ptime_ms)
        assert (got[0], got[1], got[2], got[3], media.direction) == expected, answered
        assert media.remote_rtp == ("203.0.113.7", 5000)
    no_dtmf = build_offer("192.0.2.10", 40000, 42, 1, dtmf_payload_type=None)
    media = read_answer(no_dtmf, answer_to(no_dtmf, AVP + "0 101", TE101))
    assert media.dtmf_payload_type is None
    held = build_offer("192.0.2.10", 40000, 42, 2, direction=SENDONLY, ptime_ms=40)
    media = read_answer(held, answer_to(held, AVP + "0", "a=recvonly"))
    assert (media.direction, media.ptime_ms) == (SENDONLY, 40)


def test_read_answer_rejects_answers_that_do_not_fit_the_offer():
    offer = our_offer()
    two = parse(
        serialize(offer).replace(b"a=sendrecv\r\n", b"a=sendrecv\r\nm=video 0 RTP/AVP 31\r\n")
    )
    cases = (
        (offer, answer_to(offer, "m=audio 0 RTP/AVP 0")),
        (offer, answer_to(offer, AVP + "18", "a=rtpmap:18 G729/8000")),
        (offer, answer_to(offer, AVP + "96", "a=rtpmap:96 opus/48000/2")),
        (offer, answer_to(offer, "m=video 5000 RTP/AVP 0")),
        (offer, answer_to(offer, "m=audio 5000 RTP/SAVP 0")),
        (offer, answer_to(two, AVP + "0")),  # two m= lines for one
        (two, answer_to(offer, AVP + "0")),  # one m= line for two
        (offer, answer_to(offer, AVP + "0", connection="c=IN IP4 224.2.1.1/16")),
        (parse(sdp_text(*MINIMAL)), parse(sdp_text(*MINIMAL))),
    )
    for index, (ours, theirs) in enumerate(cases):
        err = raises(SdpNegotiationError, read_answer, ours, theirs)
        assert str(err), index
    pcma_only = build_offer("192.0.2.10", 40000, 42, 1, codecs=("PCMA",))
    raises(SdpNegotiationError, read_answer, pcma_only, answer_to(pcma_only, AVP + "0"))


# -- re-offers (RFC 3264 section 8) -------------------------------------------------------------


def test_media_params_compare_for_re_invites():
    offer = parse(body("freeswitch1.6.19-invite-sdp.sip"))
    first = build_answer(offer, "192.0.2.10", 40000, 9, 1)[1]
    again = build_answer(parse(body("freeswitch1.6.19-invite-sdp.sip")), "192.0.2.10", 40000, 9, 2)
    assert first == again[1]
    assert not first.__ne__(again[1])
    held = build_answer(with_direction(offer, SENDONLY), "192.0.2.10", 40000, 9, 2)[1]
    assert held != first and held.direction == RECVONLY
    assert first != "not media"


def test_hold_and_resume_re_offers_follow_the_session_version():
    offer = our_offer()
    same = next_version(offer, our_offer())
    assert serialize(same) == serialize(offer)  # unchanged: same version
    held = next_version(offer, with_direction(offer, sdp.hold_direction(SENDRECV)))
    assert held.origin.session_version == 2
    assert serialize(held) == serialize(offer).replace(b" 1 IN IP4", b" 2 IN IP4").replace(
        b"a=sendrecv", b"a=sendonly"
    )
    resumed = next_version(held, with_direction(held, sdp.resume_direction(SENDONLY)))
    assert resumed.origin.session_version == 3
    assert resumed.media[0].attribute_values(SENDRECV) == [None]
    # A new port is a change too; the o= line stays ours even if the new SDP was built afresh.
    moved = next_version(resumed, build_offer("192.0.2.10", 40002, 999, 1))
    assert (moved.origin.session_id, moved.origin.session_version) == ("42", 4)
    assert offer.origin.session_version == 1  # the inputs are not modified


def test_hold_and_resume_directions():
    cases = (
        (SENDRECV, SENDONLY, SENDRECV),
        (RECVONLY, INACTIVE, RECVONLY),
        (SENDONLY, SENDONLY, SENDRECV),
        (INACTIVE, INACTIVE, RECVONLY),
    )
    for direction, held, resumed in cases:
        assert sdp.hold_direction(direction) == held
        assert sdp.resume_direction(direction) == resumed
    raises(ValueError, sdp.hold_direction, "hold")
    raises(ValueError, with_direction, our_offer(), "hold")


def test_with_direction_replaces_stream_and_keeps_session_attributes():
    offer = offer_with(AVP + "0", "a=recvonly", "a=ptime:20", session=("a=tool:x",))
    changed = with_direction(offer, INACTIVE)
    assert changed.media[0].attributes == [("ptime", "20"), ("inactive", None)]
    assert changed.attributes == [("tool", "x")]
    assert offer.media[0].attributes[0] == ("recvonly", None)


def test_an_odd_rtpmap_in_an_unused_stream_does_not_sink_the_offer():
    # RFC 4475's INVITEs carry `a=rtpmap:31 LPC` (no clock rate) in a video stream.
    body = (
        b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
        b"m=audio 49217 RTP/AVP 0 12\r\nm=video 3227 RTP/AVP 31\r\na=rtpmap:31 LPC\r\n"
    )
    offer = sdp.parse(body)
    answer, media = sdp.build_answer(offer, "192.0.2.9", 4000, 1, 1)
    assert media.codec == "PCMU" and answer.media[1].port == 0
    # In the audio stream the same line is an error.
    bad = body.replace(b"m=video 3227 RTP/AVP 31\r\n", b"a=rtpmap:0 PCMU\r\n")
    bad = bad.replace(b"a=rtpmap:31 LPC", b"a=rtpmap:12 QCELP")
    assert isinstance(raises(sdp.SdpError, sdp.parse, bad), sdp.SdpError)
