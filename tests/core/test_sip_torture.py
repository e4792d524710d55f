"""RFC 4475 torture messages: every valid one parses to the right fields, every invalid one is
rejected with the status the RFC expects (the user agent then answers or drops it)."""

from firmware.core.sip.message import parse_message
from firmware.core.sip.syntax import SipParseError
from firmware.core.sip.uri import parse_name_addr
from tests.core.support import list_data, read_data

# File -> None (parses) or the status of the SipParseError (400, 505) the parser must raise.
# Semantic verdicts (416, 420, 415, 501, 405...) belong to the agent: see test_sip_agent.
VERDICTS = {
    "wsinv.dat": None,
    "intmeth.dat": None,
    "esc01.dat": None,
    "escnull.dat": None,
    "esc02.dat": None,
    "lwsdisp.dat": None,
    "longreq.dat": None,
    "dblreq.dat": None,
    "semiuri.dat": None,
    "transports.dat": None,
    "mpart01.dat": None,
    "unreason.dat": None,
    "noreason.dat": None,
    "badinv01.dat": 400,
    "clerr.dat": 400,
    "ncl.dat": 400,
    "scalar02.dat": 400,
    "scalarlg.dat": 400,
    "quotbal.dat": 400,
    "ltgtruri.dat": 400,
    "lwsruri.dat": 400,
    "lwsstart.dat": 400,
    "trws.dat": 400,
    "escruri.dat": None,  # lenient: a UA ignores headers in the Request-URI
    "baddate.dat": None,  # Date does not matter to us
    "regbadct.dat": 400,
    "badaspec.dat": 400,
    "baddn.dat": 400,
    "badvers.dat": 505,
    "mismatch01.dat": 400,
    "mismatch02.dat": 400,  # 501 preferred, 400 allowed: the CSeq mismatch is seen first
    "bigcode.dat": 400,  # a response: dropped
    "badbranch.dat": None,
    "insuf.dat": 400,
    "unkscm.dat": None,
    "novelsc.dat": None,
    "unksm2.dat": None,
    "bext01.dat": None,
    "invut.dat": None,
    "regaut01.dat": None,
    "multi01.dat": 400,
    "mcl01.dat": 400,
    "bcast.dat": None,
    "zeromf.dat": None,
    "cparam01.dat": None,
    "cparam02.dat": None,
    "regescrt.dat": None,
    "sdp01.dat": None,
    "inv2543.dat": None,
    "test.dat": 400,  # not an RFC message: plainly malformed
}


def parse(name):
    return parse_message(read_data("rfc4475/" + name))


def test_every_file_has_a_verdict():
    assert list_data("rfc4475", ".dat") == sorted(VERDICTS)


def test_verdicts():
    for name in sorted(VERDICTS):
        expected = VERDICTS[name]
        try:
            message = parse(name)
        except SipParseError as exc:
            assert expected is not None, "%s: unexpected error %s" % (name, exc.reason)
            assert exc.status == expected, "%s: status %d, want %d" % (name, exc.status, expected)
            continue
        assert expected is None, "%s parsed, want %d" % (name, expected)
        # Whatever parses survives a round trip unchanged.
        again = parse_message(message.to_bytes())
        assert again.body == message.body, name
        assert [h for h in again.headers if h[0].lower() not in ("content-length", "l")] == [
            h for h in message.headers if h[0].lower() not in ("content-length", "l")
        ], name


def test_wsinv_whitespace_folding_and_case():
    m = parse("wsinv.dat")
    assert m.method == "INVITE"
    assert str(m.uri) == "sip:vivekg@chair-dnrc.example.com;unknownparam"
    assert m.to.uri.user == "vivekg" and m.to.tag == "1918181833n"
    assert m.from_.display_name == 'J Rosenberg \\"' and m.from_.tag == "98asjd8"
    assert m.max_forwards == 68
    assert m.cseq.seq == 9 and m.cseq.method == "INVITE"
    assert m.call_id == "wsinv.ndaksdj@192.0.2.1"
    assert len(m.body) == 150 and m.content_type == "application/sdp"
    vias = m.vias
    assert [(v.transport, v.host, v.branch) for v in vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert m.get("Subject") == ""
    assert m.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert m.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    assert m.routes[0].uri.param("unknownwith") == "value"
    assert m.routes[0].uri.has_param("unknown-no-value")
    contact = m.contacts[0]
    assert contact.display_name == 'Quoted string ""'
    assert contact.param("newparam") == "newvalue" and contact.param("q") == "0.33"
    assert contact.param("secondparam", "absent") is None


def test_intmeth_unknown_method_and_odd_characters():
    m = parse("intmeth.dat")
    assert m.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert m.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert m.uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert m.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert m.from_.display_name == "token1~` token2'+_ token3*%!.-"
    assert m.from_.tag == "_token~1'+`*%!-."
    assert m.cseq.method == m.method
    assert m.get("extensionHeader-!.%*+_`'~") == "\ufeff\u5927\u505c\u96fb"


def test_escapes_are_decoded_only_where_allowed():
    m = parse("esc01.dat")
    assert m.uri.user_unescaped == "sips:user@example.com"
    assert m.to.uri.user_unescaped == "user"
    assert m.from_.uri.user_unescaped == "I have spaces"
    contact = m.contacts[0].uri
    assert contact.user_unescaped == "caller"
    assert contact.params[0] == ("%6C%72", None)
    assert contact.param("n%61me") == "v%61lue%25%34%31"
    m = parse("escnull.dat")
    assert [c.uri.user_unescaped for c in m.contacts] == ["\x00", "\x00\x00"]
    assert m.to.uri.user_unescaped == "null-\x00-null"
    m = parse("esc02.dat")
    assert m.method == "RE%47IST%45R"
    assert m.to.display_name == "%Z%45"
    assert len(m.contacts) == 2
    assert m.get("C%6Fntact") == "<sip:alias2@host2.example.com>"


def test_semicolon_in_user_and_transports_and_display_without_space():
    m = parse("semiuri.dat")
    assert m.uri.user_unescaped == "user;par=u@example.net"
    assert m.uri.host == "example.com" and m.uri.params == []
    assert len(m.get_all("Accept")) == 6
    m = parse("transports.dat")
    assert [v.transport for v in m.vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]
    m = parse("lwsdisp.dat")
    assert m.from_.display_name == "caller" and m.from_.tag == "323"


def test_long_values_binary_bodies_and_reason_phrases():
    m = parse("longreq.dat")
    assert len(m.call_id) > 100 and m.to.display_name.startswith("I have a user name of extreme")
    m = parse("mpart01.dat")
    assert len(m.body) == 553 and b"\x00" in m.body and m.body.startswith(b"--7a9cbec02ceef655")
    m = parse("unreason.dat")
    assert m.status == 200 and m.reason.endswith("\u043f\u0440\u043e\u0441\u0442\u043e\u0435")
    m = parse("noreason.dat")
    assert m.status == 100 and m.reason == ""


def test_datagram_framing():
    m = parse("dblreq.dat")
    assert m.method == "REGISTER" and m.body == b""
    m = parse("inv2543.dat")
    assert len(m.body) == 105 and m.body.endswith(b"RTP/AVP 0\r\n")
    assert m.top_via.branch is None and m.from_.tag is None and m.max_forwards is None


def test_contact_parameter_placement():
    c = parse("cparam01.dat").contacts[0]
    assert c.uri.params == [] and c.param("unknownparam", "absent") is None
    c = parse("cparam02.dat").contacts[0]
    assert c.uri.has_param("unknownparam") and c.params == []
    c = parse("regescrt.dat").contacts[0]
    assert c.uri.headers == "Route=%3Csip:sip.example.com%3E"


def test_unusual_schemes_parse():
    assert parse("unkscm.dat").uri.scheme == "nobodyKnowsThisScheme"
    assert parse("novelsc.dat").uri.scheme == "soap.beep"
    m = parse("unksm2.dat")
    assert m.to.uri.scheme == "isbn" and m.from_.uri.scheme == "http"
    assert m.contacts[0].uri.scheme == "name"


def test_badbranch_and_zero_max_forwards_and_broadcast_parse():
    assert parse("badbranch.dat").top_via.branch == "z9hG4bK"
    assert parse("zeromf.dat").max_forwards == 0
    m = parse("bcast.dat")
    assert m.vias[1].host == "255.255.255.255"


def test_errors_keep_the_headers_for_a_400():
    exc = None
    try:
        parse("baddn.dat")
    except SipParseError as e:
        exc = e
    assert exc is not None and exc.start_line.startswith("OPTIONS ")
    assert ("Call-ID", "baddn.31415@c.example.com") in exc.raw_headers
    assert "display name" in exc.reason


def test_display_name_quoting_round_trip():
    for text in ('"Bell, Alexander" <sip:a@b>;tag=1', "Door <sip:door@10.0.0.2>", "<sip:x@y>"):
        value = parse_name_addr(text)
        assert str(parse_name_addr(str(value))) == str(value)
    assert str(parse_name_addr('"Bell, Alexander" <sip:a@b>')) == '"Bell, Alexander" <sip:a@b>'
