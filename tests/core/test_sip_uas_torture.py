"""RFC 4475 torture messages fed to a user agent server: what it answers (or that it stays
silent), as tests/data/rfc4475/README.md says for a UA."""

from firmware.core.sip.events import Answer, CallAnswered, IncomingCall, MessageDropped
from firmware.core.sip.message import parse_message
from tests.core.sipnet import DOOR, assert_no_internal_errors, make_agent
from tests.core.support import list_data, read_data

SOURCE = ("192.0.2.99", 5060)

# File -> status the UA answers with, or None when it must send nothing. The INVITEs answered
# with 100 (and an IncomingCall) carry `a=rtpmap:31 LPC` (no clock rate) in a video stream we
# reject anyway: that must not make the offer unreadable.
VERDICTS = {
    "wsinv.dat": 481,  # an INVITE with a To tag for a dialog we do not have (12.2.2)
    "intmeth.dat": 501,  # unknown method: 501 with Allow
    "esc01.dat": 100,
    "escnull.dat": 405,  # REGISTER: a UA is not a registrar
    "esc02.dat": 501,  # RE%47IST%45R is not REGISTER
    "lwsdisp.dat": 200,
    "longreq.dat": 100,
    "dblreq.dat": 405,  # the REGISTER; the trailing INVITE bytes are ignored
    "semiuri.dat": 200,
    "transports.dat": 200,
    "mpart01.dat": 405,
    "unreason.dat": None,  # a response that is not ours
    "noreason.dat": None,
    "badinv01.dat": 400,
    "clerr.dat": 400,
    "ncl.dat": 400,
    "scalar02.dat": 400,
    "scalarlg.dat": None,  # a malformed response: silently discarded
    "quotbal.dat": 400,
    "ltgtruri.dat": 400,
    "lwsruri.dat": 400,
    "lwsstart.dat": 400,
    "trws.dat": 400,
    "escruri.dat": 100,  # lenient: headers in the Request-URI are ignored
    "baddate.dat": 100,  # Date does not matter to us
    "regbadct.dat": 400,
    "badaspec.dat": 400,
    "baddn.dat": 400,
    "badvers.dat": 505,
    "mismatch01.dat": 400,
    "mismatch02.dat": 400,  # 501 preferred, 400 allowed: the CSeq mismatch is seen first
    "bigcode.dat": None,
    "badbranch.dat": 200,  # the bare cookie: matched by the RFC 2543 rules, answered
    "insuf.dat": None,  # no Call-ID, From or To: cannot be answered, dropped
    "unkscm.dat": 416,
    "novelsc.dat": 416,
    "unksm2.dat": 405,
    "bext01.dat": 420,
    "invut.dat": 415,
    "regaut01.dat": 405,
    "multi01.dat": 400,
    "mcl01.dat": 400,
    "bcast.dat": None,  # two Vias in a response: discarded (18.1.2)
    "zeromf.dat": 200,  # Max-Forwards: 0 means nothing to a UA
    "cparam01.dat": 405,
    "cparam02.dat": 405,
    "regescrt.dat": 405,
    # An INVITE whose Accept lacks application/sdp: we could only answer with SDP, so 406 with
    # Warning 399 (RFC 3261 8.2.3 and RFC 4475 3.3.15 allow this or 400).
    "sdp01.dat": 406,
    "inv2543.dat": 100,  # processed as RFC 2543: 100 Trying and IncomingCall
    "test.dat": None,  # no Via, no CSeq: dropped
}


def feed(name):
    door = make_agent(DOOR)
    door.receive(read_data("rfc4475/" + name), SOURCE, 0)
    out = door.datagrams_to_send()
    events = []
    while True:
        event = door.next_event()
        if event is None:
            break
        events.append(event)
    return door, out, events


def status_line(data):
    return data.split(b"\r\n", 1)[0].decode("utf-8")


def header_lines(data, name):
    prefix = name.lower() + ":"
    lines = data.split(b"\r\n\r\n", 1)[0].decode("utf-8").split("\r\n")
    return [line.split(":", 1)[1].strip() for line in lines if line.lower().startswith(prefix)]


def test_every_file_has_a_verdict():
    assert list_data("rfc4475", ".dat") == sorted(VERDICTS)


def test_the_ua_answers_each_message_as_rfc_4475_says():
    for name in sorted(VERDICTS):
        _door, out, events = feed(name)
        assert_no_internal_errors(events)
        expected = VERDICTS[name]
        if expected is None:
            assert out == [], "%s: sent %r" % (name, [status_line(d) for d, _, _ in out])
            assert len(events) == 1 and isinstance(events[0], MessageDropped), (name, events)
            continue
        assert out, "%s: no answer, events %r" % (name, events)
        data, addr, transport = out[0]
        line = status_line(data)
        assert line.startswith("SIP/2.0 %d " % expected), "%s: %s" % (name, line)
        assert addr == SOURCE and transport == "udp", name  # symmetric response routing
        assert len(out) == 1, name
        if expected >= 200:
            to = (header_lines(data, "to") + header_lines(data, "t"))[0]
            assert "tag" in to.replace(" ", ""), name


def test_answers_carry_the_headers_the_rfc_asks_for():
    allow = {"INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "INFO"}
    for name in ("intmeth.dat", "esc02.dat", "regaut01.dat", "escnull.dat"):
        data = feed(name)[1][0][0]
        methods = {m.strip() for m in header_lines(data, "allow")[0].split(",")}
        assert methods == allow, name
    data = feed("bext01.dat")[1][0][0]
    assert header_lines(data, "unsupported") == ["nothingSupportsThis, nothingSupportsThisEither"]
    data = feed("invut.dat")[1][0][0]
    assert header_lines(data, "accept") == ["application/sdp"]
    data = feed("sdp01.dat")[1][0][0]
    assert header_lines(data, "warning")[0].startswith("399 192.0.2.10:5060 ")
    # A 400 copies the transaction's headers and says why in a Warning.
    data = feed("scalar02.dat")[1][0][0]
    assert header_lines(data, "call-id") == ["scalar02.23o0pd9vanlq3wnrlnewofjas9ui32"]
    assert "CSeq number out of range" in header_lines(data, "warning")[0]
    assert header_lines(data, "via")[0].endswith(";received=192.0.2.99")
    data = feed("badvers.dat")[1][0][0]
    assert header_lines(data, "cseq") == ["1 OPTIONS"]


def test_old_style_invite_is_processed():
    door, out, events = feed("inv2543.dat")
    incoming = events[0]
    assert isinstance(incoming, IncomingCall) and incoming.caller.startswith("sip:+13035551111@")
    trying = parse_message(out[0][0])
    assert trying.status == 100 and trying.top_via.branch is None
    assert trying.top_via.received == "192.0.2.99"
    # A retransmission (no branch: matched by the RFC 2543 rules) is absorbed.
    door.receive(read_data("rfc4475/inv2543.dat"), SOURCE, 500)
    assert [status_line(d) for d, _, _ in door.datagrams_to_send()] == ["SIP/2.0 100 Trying"]
    assert door.next_event() is None


def test_zero_max_forwards_options_is_answered_normally():
    _door, out, _events = feed("zeromf.dat")
    ok = parse_message(out[0][0])
    assert ok.status == 200 and ok.to.tag is not None and ok.get("call-id").startswith("zeromf")


def test_old_style_invite_answered_and_acked_without_a_branch():
    door, _out, events = feed("inv2543.dat")
    call_id = events[0].call_id
    door.send(Answer(call_id, ("192.0.2.10", 4000)), 100)
    ok = parse_message(door.datagrams_to_send()[0][0])
    assert ok.status == 200 and ok.get("record-route") is not None
    assert isinstance(door.next_event(), CallAnswered)
    ack = (
        "ACK sip:UserB@example.com SIP/2.0\r\n"
        "Via: SIP/2.0/UDP iftgw.example.com\r\n"
        "From: <sip:+13035551111@ift.client.example.net;user=phone>\r\n"
        "To: %s\r\n"
        "Call-ID: inv2543.1717@ift.client.example.com\r\n"
        "CSeq: 56 ACK\r\n\r\n" % ok.get("to")
    ).encode()
    door.receive(ack, SOURCE, 200)
    assert door.datagrams_to_send() == []
    assert door.next_deadline() is not None
    door.handle_timer(2000)
    assert door.datagrams_to_send() == []  # the ACK stopped the 2xx retransmissions
