"""The user agent facade: screening of requests (RFC 3261 8.2), response routing, bounds,
garbage, and misuse."""

from firmware.core.sip.agent import AgentConfig, UserAgent
from firmware.core.sip.events import (
    Answer,
    Hangup,
    IncomingCall,
    MessageDropped,
    PlaceCall,
    RegistrationChanged,
)
from firmware.core.sip.message import parse_message
from tests.core.sipnet import DOOR, FLAT, HASHES, assert_no_internal_errors, make_agent, reply
from tests.core.support import FakeRandom, raises

PHONE = ("198.51.100.7", 40123)  # behind NAT: not what its Via says


def request(
    method="OPTIONS",
    uri="sip:door@192.0.2.10",
    headers=(),
    body=b"",
    branch="z9hG4bKp1",
    to_tag=None,
    via="SIP/2.0/UDP 192.0.2.20:5060;branch=%s;rport",
):
    lines = [
        "%s %s SIP/2.0" % (method, uri),
        "Via: " + via % branch,
        "Max-Forwards: 70",
        "From: <sip:flat@192.0.2.20>;tag=ft",
        "To: <sip:door@192.0.2.10>" + (";tag=" + to_tag if to_tag else ""),
        "Call-ID: agent-test-1",
        "CSeq: 1 %s" % method,
    ]
    lines.extend("%s: %s" % h for h in headers)
    lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def answers(agent, data, source=FLAT, transport="udp"):
    agent.receive(data, source, 1000, transport)
    out = agent.datagrams_to_send()
    events = []
    while True:
        event = agent.next_event()
        if event is None:
            break
        events.append(event)
    assert_no_internal_errors(events)
    return [(parse_message(d), addr, tr) for d, addr, tr in out], events


def test_screening_in_rfc_3261_order():
    sdp_body = b"v=0\r\no=- 1 1 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\n"
    cases = [
        (request("FOO"), 501, "allow"),
        (request("SUBSCRIBE"), 405, "allow"),
        (request("REGISTER"), 405, "allow"),
        (request("UPDATE", to_tag="x"), 405, "allow"),
        (request("OPTIONS", uri="http://example.com"), 416, None),
        (request("OPTIONS", headers=[("Require", "100rel, timer")]), 420, "unsupported"),
        (
            request("INVITE", headers=[("Content-Type", "text/html")], body=b"<p>"),
            415,
            "accept",
        ),
        (
            request(
                "INVITE",
                headers=[("Content-Type", "application/sdp"), ("Content-Encoding", "gzip")],
                body=sdp_body,
            ),
            415,
            "accept-encoding",
        ),
        (request("INVITE", headers=[("Accept", "text/plain")]), 406, "warning"),
        (request("BYE"), 481, None),
        (request("INFO"), 481, None),
        (request("BYE", to_tag="unknown"), 481, None),
        (request("CANCEL"), 481, None),
    ]
    for data, status, header in cases:
        out, _ = answers(make_agent(DOOR), data)
        response = out[0][0]
        assert len(out) == 1 and response.status == status, (data[:40], response)
        if header:
            assert response.has(header), (status, response.headers)
        assert response.to.tag is not None
    out, _ = answers(make_agent(DOOR), request("OPTIONS", headers=[("Require", "timer")]))
    assert out[0][0].get("unsupported") == "timer"


def test_responses_go_back_to_the_source_with_received_and_rport():
    door = make_agent(DOOR)
    out, _ = answers(door, request(), source=PHONE)
    response, addr, transport = out[0]
    assert addr == PHONE and transport == "udp"
    via = response.top_via
    assert via.received == "198.51.100.7" and via.rport == 40123
    assert via.host == "192.0.2.20" and via.branch == "z9hG4bKp1"
    # Without rport in the request: received only; same address: nothing added.
    out, _ = answers(
        door, request(branch="z9hG4bKp2", via="SIP/2.0/UDP 192.0.2.20:5060;branch=%s"), PHONE
    )
    assert out[0][0].top_via.rport is None and out[0][0].top_via.received == "198.51.100.7"
    out, _ = answers(door, request(branch="z9hG4bKp3"), source=("192.0.2.20", 5060))
    via = out[0][0].top_via
    assert via.received is None and via.rport == 5060
    # Over TCP the answer goes back the same way (the same connection: the same address).
    out, _ = answers(door, request(branch="z9hG4bKp4"), source=PHONE, transport="tcp")
    assert out[0][1:] == (PHONE, "tcp")


def test_a_flood_of_invites_is_bounded():
    door = make_agent(DOOR, max_server_transactions=8, max_calls=100)
    statuses = []
    for n in range(20):
        data = request("INVITE", branch="z9hG4bKflood%d" % n).replace(b"agent-test-1", b"f%d" % n)
        out, _ = answers(door, data)
        statuses.extend(m.status for m, _, _ in out)
    assert statuses.count(100) == 8 and statuses.count(503) == 12
    assert len(door._layer) == 8


def test_a_burst_of_options_does_not_lock_out_the_next_call():
    # A scanner's OPTIONS fill the table with transactions that only wait out Timer J: a new
    # INVITE (or a BYE) must still get through, not a 503 for 32 s.
    door = make_agent(DOOR, max_server_transactions=8)
    for n in range(20):
        out, _ = answers(door, request("OPTIONS", branch="z9hG4bKscan%d" % n))
        assert [m.status for m, _, _ in out] == [200]
    out, events = answers(door, request("INVITE", branch="z9hG4bKcall"))
    assert [m.status for m, _, _ in out] == [100]
    assert [type(e) for e in events] == [IncomingCall]
    assert len(door._layer) == 8


def test_malformed_requests_get_400_from_their_raw_headers_or_are_dropped():
    door = make_agent(DOOR)
    bad = request(headers=[("Max-Forwards", "70")])  # a second Max-Forwards
    door.receive(bad, PHONE, 0)
    data, addr, _ = door.datagrams_to_send()[0]
    assert addr == PHONE and data.startswith(b"SIP/2.0 400 Bad Request\r\n")
    response = parse_message(data)
    assert response.call_id == "agent-test-1" and response.to.tag is not None
    assert response.top_via.received == "198.51.100.7" and response.top_via.rport == 40123
    assert response.get("warning").startswith("399 ")
    assert door.next_event() is None
    # An ACK is never answered; garbage without the headers to answer it is dropped.
    for data in (
        request("ACK", headers=[("Max-Forwards", "70")]),
        b"INVITE sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1\r\n\r\n",
        b"\x00\xff\xfe garbage",
        b"",
        b"SIP/2.0 200 OK\r\n\r\n",
    ):
        door.receive(data, PHONE, 0)
        assert door.datagrams_to_send() == [], data
        assert isinstance(door.next_event(), MessageDropped), data
    # Another SIP version: 505.
    door.receive(request().replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1), PHONE, 0)
    assert door.datagrams_to_send()[0][0].startswith(b"SIP/2.0 505 ")


def test_garbage_never_raises():
    rng = FakeRandom(99)
    door = make_agent(DOOR)
    base = request("INVITE", headers=[("Content-Type", "application/sdp")], body=b"v=0\r\n")
    for n in range(300):
        data = bytearray(base)
        for _ in range(1 + n % 5):
            data[rng.getrandbits(16) % len(data)] = rng.getrandbits(8)
        cut = len(data) - rng.getrandbits(16) % 40 if n % 3 == 0 else len(data)
        door.receive(bytes(data[:cut]), PHONE, n)
        door.datagrams_to_send()
    events = []
    while True:
        event = door.next_event()
        if event is None:
            break
        events.append(event)
    assert_no_internal_errors(events)


def test_unmatched_and_foreign_responses_are_dropped():
    door = make_agent(DOOR)
    call_id = door.send(PlaceCall("sip:flat@192.0.2.20", ("192.0.2.10", 4000)), 0)
    invite = parse_message(door.datagrams_to_send()[0][0])
    stray = reply(invite, 200, "x").replace(invite.top_via.branch.encode(), b"z9hG4bKnotours")
    foreign = reply(invite, 180, "x").replace(b"192.0.2.10:5060", b"192.0.2.99:5060")
    for data, reason in ((stray, "no transaction"), (foreign, "not ours")):
        door.receive(data, FLAT, 10)
        event = door.next_event()
        assert isinstance(event, MessageDropped) and reason in event.reason, event
    assert door.datagrams_to_send() == [] and call_id


def test_misuse_raises_at_once():
    door = make_agent(DOOR)
    assert raises(ValueError, door.send, Hangup("nope"), 0)
    assert raises(ValueError, door.send, Answer("nope", ("192.0.2.10", 4000)), 0)
    assert raises(TypeError, door.send, "PlaceCall", 0)
    assert raises(ValueError, door.send, PlaceCall("http://x", ("192.0.2.10", 4000)), 0)
    assert raises(ValueError, door.send, PlaceCall("sip:bad host", ("192.0.2.10", 4000)), 0)
    assert raises(ValueError, door.send, PlaceCall("sips:flat@x.example", ("192.0.2.10", 4000)), 0)
    tls = PlaceCall("sip:flat@x.example;transport=tls", ("192.0.2.10", 4000))
    assert raises(ValueError, door.send, tls, 0)
    assert raises(ValueError, AgentConfig, DOOR, transport="sctp")
    assert raises(ValueError, door.send, PlaceCall("flat", ("door.local", 4000)), 0)
    assert door.datagrams_to_send() == [] and door.next_deadline() is None


def test_facade_shape_and_idle_agent():
    door = UserAgent(AgentConfig(DOOR), FakeRandom(1), HASHES, 0)
    assert door.next_deadline() is None and door.next_event() is None
    assert door.datagrams_to_send() == []
    assert door.registration == RegistrationChanged("DISABLED", None, "no registrar", None)
    call_id = door.send(PlaceCall("flat", ("192.0.2.10", 4000), "my-call"), 0)
    assert call_id == "my-call"
    data, addr, transport = door.datagrams_to_send()[0]
    assert isinstance(data, bytes) and addr == ("192.0.2.10", 5060) and transport == "udp"
    invite = parse_message(data)
    assert str(invite.uri) == "sip:flat@192.0.2.10" and invite.call_id == "my-call"
    assert door.next_deadline() == 500
    # A target with ;transport=tcp goes over TCP whatever the default.
    door.send(PlaceCall("sip:flat@example.com;transport=tcp", ("192.0.2.10", 4000)), 0)
    data, addr, transport = door.datagrams_to_send()[0]
    assert addr == ("example.com", 5060) and transport == "tcp"
    assert b"SIP/2.0/TCP 192.0.2.10:5060" in data and b"transport=tcp>" in data


def test_outbound_proxy_is_a_preloaded_route():
    door = make_agent(DOOR, outbound_proxy="sip:proxy.example.com:5070")
    door.send(PlaceCall("sip:flat@example.com", ("192.0.2.10", 4000)), 0)
    data, addr, _ = door.datagrams_to_send()[0]
    invite = parse_message(data)
    assert addr == ("proxy.example.com", 5070)
    assert invite.get("route") == "<sip:proxy.example.com:5070;lr>"
    assert str(invite.uri) == "sip:flat@example.com"


def test_incoming_call_reports_the_caller():
    door = make_agent(DOOR)
    sdp_body = (
        b"v=0\r\no=- 1 1 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\n"
        b"m=audio 5000 RTP/AVP 8\r\n"
    )
    data = request("INVITE", headers=[("Content-Type", "application/sdp")], body=sdp_body)
    data = data.replace(b"From: <sip", b'From: "Flat 3" <sip')
    out, events = answers(door, data, PHONE)
    assert [m.status for m, _, _ in out] == [100]
    incoming = events[0]
    assert isinstance(incoming, IncomingCall) and incoming.display_name == "Flat 3"
    assert incoming.caller == "sip:flat@192.0.2.20" and incoming.remote_addr == PHONE
    assert incoming.media.codec == "PCMA" and incoming.media.dtmf_payload_type is None
