"""Calls between two agents in memory (door and flat), and against scripted peers."""

from firmware.core import sdp
from firmware.core.sip.events import (
    AUTH_FAILED,
    CANCELLED,
    HANGUP,
    NO_ACK,
    REJECTED,
    REMOTE_HANGUP,
    TIMEOUT,
    Answer,
    CallAnswered,
    CallEnded,
    CallMediaChanged,
    CallRinging,
    Hangup,
    IncomingCall,
    PlaceCall,
    Reinvite,
    Reject,
    Ring,
    Shutdown,
)
from firmware.core.sip.message import parse_message
from tests.core.sipnet import (
    DOOR,
    FLAT,
    PBX,
    Network,
    assert_no_internal_errors,
    make_agent,
    only,
    reply,
    requests,
    responses,
)
from tests.core.support import raises

DOOR_RTP = ("192.0.2.10", 4000)
FLAT_RTP = ("192.0.2.20", 5000)
TARGET = "sip:flat@192.0.2.20"
INVITE_SCHEDULE = [0, 500, 1500, 3500, 7500, 15500, 31500]


def pair(transport="udp", latency_ms=10, door_seed=1, flat_seed=2):
    net = Network(latency_ms)
    net.agent(DOOR, seed=door_seed, user="door", transport=transport, display_name="Door")
    net.agent(FLAT, seed=flat_seed, user="flat", transport=transport)
    return net


def kinds(events):
    return [type(e).__name__ for e in events]


def established(net, transport="udp"):
    """Door calls flat, flat rings and answers; returns the call_id."""
    call_id = net.send(
        DOOR, PlaceCall(TARGET if transport == "udp" else TARGET + ";transport=tcp", DOOR_RTP)
    )
    net.run_for(50)
    net.send(FLAT, Ring(call_id))
    net.run_for(50)
    net.send(FLAT, Answer(call_id, FLAT_RTP))
    net.run_for(50)
    return call_id


def sent_times(net, src, start):
    return [t for t, _ in net.sent(src=src, start=start)]


def test_call_ring_answer_ack_bye():
    net = pair()
    call_id = net.send(DOOR, PlaceCall(TARGET, DOOR_RTP))
    net.run_for(50)
    incoming = only(net.take_events(FLAT))
    assert isinstance(incoming, IncomingCall) and incoming.call_id == call_id
    assert incoming.caller == "sip:door@192.0.2.10" and incoming.display_name == "Door"
    assert incoming.remote_addr == DOOR and incoming.media.codec == "PCMU"
    assert incoming.media.remote_rtp == DOOR_RTP and incoming.media.dtmf_payload_type == 101
    trying = only([m for _, m in net.sent(src=FLAT)])
    assert trying.status == 100 and trying.to.tag is None
    net.send(FLAT, Ring(call_id))
    net.run_for(50)
    assert net.take_events(DOOR) == [CallRinging(call_id, 180, None)]
    net.send(FLAT, Answer(call_id, FLAT_RTP))
    net.run_for(50)
    door_answered = only(net.take_events(DOOR))
    flat_answered = only(net.take_events(FLAT))
    assert door_answered.media.remote_rtp == FLAT_RTP and door_answered.media.codec == "PCMU"
    assert flat_answered == CallAnswered(call_id, incoming.media)
    invite = only(net.sent(src=DOOR, start="INVITE"))[1]
    assert invite.max_forwards == 70 and invite.top_via.rport is True
    assert invite.get("contact") == "<sip:door@192.0.2.10:5060;transport=udp>"
    assert invite.get("user-agent").startswith("sip-intercom/")
    offer = sdp.parse(invite.body)
    assert offer.media[0].formats == ["0", "8", "101"]
    ok = next(m for _, m in net.sent(src=FLAT, start="SIP/2.0") if m.status == 200)
    assert ok.get("contact") == "<sip:flat@192.0.2.20:5060;transport=udp>"
    assert "INVITE" in ok.get_all("allow") and ok.to.tag is not None
    ack = only(net.sent(src=DOOR, start="ACK"))[1]
    assert ack.cseq.seq == invite.cseq.seq and ack.top_via.branch != invite.top_via.branch
    assert str(ack.uri) == "sip:flat@192.0.2.20:5060;transport=udp"  # the remote target
    assert ack.to.tag == ok.to.tag
    net.send(DOOR, Hangup(call_id))
    net.run_for(50)
    bye = only(net.sent(src=DOOR, start="BYE"))[1]
    assert bye.cseq.seq == invite.cseq.seq + 1 and bye.from_.tag == invite.from_.tag
    assert net.take_events(DOOR) == [CallEnded(call_id, HANGUP, None)]
    assert net.take_events(FLAT) == [CallEnded(call_id, REMOTE_HANGUP, None)]
    assert net.sent(src=FLAT)[-1][1].status == 200
    net.run_for(40000)
    assert net.node(DOOR).next_deadline() is None and net.node(FLAT).next_deadline() is None
    assert raises(ValueError, net.send, DOOR, Hangup(call_id))  # the call is gone


def test_flat_hangs_up_and_the_door_answers_bye():
    net = pair()
    call_id = established(net)
    net.take_events(DOOR)
    net.send(FLAT, Hangup(call_id))
    net.run_for(50)
    bye = only(net.sent(src=FLAT, start="BYE"))[1]
    assert str(bye.uri) == "sip:door@192.0.2.10:5060;transport=udp"
    assert net.take_events(DOOR) == [CallEnded(call_id, REMOTE_HANGUP, None)]


def test_cancel_of_a_ringing_call():
    net = pair()
    call_id = net.send(DOOR, PlaceCall(TARGET, DOOR_RTP))
    net.run_for(50)
    net.send(FLAT, Ring(call_id))
    net.run_for(50)
    net.take_events(DOOR)
    net.send(DOOR, Hangup(call_id))
    assert net.take_events(DOOR) == []  # the 487 ends it
    net.run_for(50)
    invite = only(net.sent(src=DOOR, start="INVITE"))[1]
    cancel = only(net.sent(src=DOOR, start="CANCEL"))[1]
    assert cancel.top_via.branch == invite.top_via.branch and len(cancel.vias) == 1
    assert cancel.cseq.seq == invite.cseq.seq and cancel.cseq.method == "CANCEL"
    assert cancel.to.tag is None and str(cancel.uri) == str(invite.uri)
    statuses = [m.status for _, m in net.sent(src=FLAT)]
    assert statuses == [100, 180, 200, 487]
    assert net.take_events(DOOR) == [CallEnded(call_id, CANCELLED, 487)]
    assert net.take_events(FLAT)[-1] == CallEnded(call_id, CANCELLED, 487)
    assert len(net.sent(src=DOOR, start="ACK")) == 1  # the 487 is ACKed by the transaction
    assert raises(ValueError, net.send, FLAT, Answer(call_id, FLAT_RTP))


def test_hangup_before_any_provisional_waits_for_one_before_cancelling():
    net = pair()
    net.fault = lambda data, src, dst, now: [] if src == FLAT else None  # the flat is mute
    call_id = net.send(DOOR, PlaceCall(TARGET, DOOR_RTP))
    net.send(DOOR, Hangup(call_id))
    net.send(DOOR, Hangup(call_id))  # twice is harmless
    net.run_for(31000)
    assert net.sent(src=DOOR, start="CANCEL") == []  # RFC 3261 9.1: not before a 1xx
    net.run_for(2000)
    assert net.take_events(DOOR) == [CallEnded(call_id, CANCELLED, 408)]
    # With a provisional response the CANCEL goes out at once.
    net = pair()
    net.fault = lambda data, src, dst, now: [300] if src == FLAT else None
    call_id = net.send(DOOR, PlaceCall(TARGET, DOOR_RTP))
    net.send(DOOR, Hangup(call_id))
    net.run_for(400)
    assert sent_times(net, DOOR, "CANCEL") == [320]  # when the delayed 100 arrives
    net.run_for(2000)
    assert net.take_events(DOOR) == [CallEnded(call_id, CANCELLED, 487)]


def test_cancel_crossing_the_200_gets_ack_and_bye():
    net = pair()
    call_id = net.send(DOOR, PlaceCall(TARGET, DOOR_RTP))
    net.run_for(50)
    net.send(FLAT, Ring(call_id))
    net.run_for(50)
    net.take_events(DOOR)
    net.send(FLAT, Answer(call_id, FLAT_RTP))
    net.send(DOOR, Hangup(call_id))  # the CANCEL and the 200 cross on the wire
    net.run_for(100)
    assert len(net.sent(src=DOOR, start="CANCEL")) == 1
    assert len(net.sent(src=DOOR, start="ACK")) == 1
    assert len(net.sent(src=DOOR, start="BYE")) == 1
    assert net.take_events(DOOR) == [CallEnded(call_id, CANCELLED, 200)]
    flat = net.take_events(FLAT)
    assert kinds(flat) == ["IncomingCall", "CallAnswered", "CallEnded"]
    assert flat[-1] == CallEnded(call_id, REMOTE_HANGUP, None)
    cancel_answer = [m for _, m in net.sent(src=FLAT) if m.cseq.method == "CANCEL"]
    assert [m.status for m in cancel_answer] == [200]  # 200 to the CANCEL, no 487
    assert_no_internal_errors(net.events[DOOR] + net.events[FLAT])


def test_lost_invites_are_retransmitted_on_the_rfc_schedule():
    net = pair()
    lost = [0]

    def fault(data, src, dst, now):
        if data.startswith(b"INVITE") and lost[0] < 3:
            lost[0] += 1
            return []
        return None

    net.fault = fault
    call_id = net.send(DOOR, PlaceCall(TARGET, DOOR_RTP))
    net.run_for(4000)
    assert sent_times(net, DOOR, "INVITE") == [0, 500, 1500, 3500]
    assert isinstance(only(net.take_events(FLAT)), IncomingCall)
    net.run_for(10000)
    assert sent_times(net, DOOR, "INVITE") == [0, 500, 1500, 3500]  # stopped by the 100
    assert call_id


def test_lost_200_is_retransmitted_until_the_ack():
    net = pair()
    call_id = net.send(DOOR, PlaceCall(TARGET, DOOR_RTP))
    net.run_for(50)
    dropped = [0]

    def fault(data, src, dst, now):
        if src == FLAT and data.startswith(b"SIP/2.0 200") and dropped[0] < 2:
            dropped[0] += 1
            return []
        return None

    net.fault = fault
    start = net.now_ms
    net.send(FLAT, Answer(call_id, FLAT_RTP))
    net.run_for(5000)
    oks = [t - start for t, m in net.sent(src=FLAT, start="SIP/2.0") if m.status == 200]
    assert oks == [0, 500, 1500]  # T1, doubling, until the ACK
    assert len(net.sent(src=DOOR, start="ACK")) == 1
    assert isinstance(only(net.take_events(DOOR)), CallAnswered)


def test_retransmitted_200_is_acked_again():
    net = pair()
    call_id = net.send(DOOR, PlaceCall(TARGET, DOOR_RTP))
    net.run_for(50)
    net.fault = lambda data, src, dst, now: [] if data.startswith(b"ACK") else None
    start = net.now_ms
    net.send(FLAT, Answer(call_id, FLAT_RTP))
    net.run_for(2000)
    oks = [t - start for t, m in net.sent(src=FLAT, start="SIP/2.0") if m.status == 200]
    acks = [t - start for t, _ in net.sent(src=DOOR, start="ACK")]
    assert oks == [0, 500, 1500]
    assert acks == [10, 510, 1510]
    assert len({m.top_via.branch for _, m in net.sent(src=DOOR, start="ACK")}) == 1


def test_200_never_acked_ends_with_bye_after_64_t1():
    net = pair()
    call_id = net.send(DOOR, PlaceCall(TARGET, DOOR_RTP))
    net.run_for(50)
    net.fault = lambda data, src, dst, now: [] if data.startswith(b"ACK") else None
    start = net.now_ms
    net.send(FLAT, Answer(call_id, FLAT_RTP))
    net.run_for(40000)
    oks = [
        t - start
        for t, m in net.sent(src=FLAT, start="SIP/2.0")
        if m.status == 200 and m.cseq.method == "INVITE"
    ]
    assert oks == [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    assert sent_times(net, FLAT, "BYE")[0] - start == 32000
    flat = net.take_events(FLAT)
    assert flat[-1] == CallEnded(call_id, NO_ACK, None)
    assert net.take_events(DOOR)[-1] == CallEnded(call_id, REMOTE_HANGUP, None)


def test_timer_b_expiry_ends_the_call_at_32_s():
    net = Network()
    door = net.agent(DOOR, user="door")
    call_id = net.send(DOOR, PlaceCall(TARGET, DOOR_RTP))  # nobody at the flat's address
    net.run(31999)
    assert net.take_events(DOOR) == []
    assert door.next_deadline() == 32000
    net.run(32000)
    assert sent_times(net, DOOR, "INVITE") == INVITE_SCHEDULE
    assert net.take_events(DOOR) == [CallEnded(call_id, TIMEOUT, 408)]


def test_tcp_has_no_retransmissions():
    net = Network()
    net.agent(DOOR, user="door", transport="tcp")
    call_id = net.send(DOOR, PlaceCall(TARGET, DOOR_RTP))
    net.run(40000)
    assert sent_times(net, DOOR, "INVITE") == [0]
    assert net.log[0][3] == "tcp"
    assert net.take_events(DOOR) == [CallEnded(call_id, TIMEOUT, 408)]
    net = pair("tcp")
    net.fault = lambda data, src, dst, now: [] if data.startswith(b"ACK") else None
    call_id = established(net, "tcp")
    invite = net.sent(src=DOOR, start="INVITE")[0][1]
    assert invite.top_via.transport == "TCP"
    assert invite.get("contact") == "<sip:door@192.0.2.10:5060;transport=tcp>"
    net.run_for(40000)
    oks = [m for _, m in net.sent(src=FLAT, start="SIP/2.0") if m.status == 200]
    assert len(oks) == 1  # no 2xx retransmission over TCP...
    assert net.take_events(FLAT)[-1] == CallEnded(call_id, NO_ACK, None)  # ...but a deadline
    assert all(entry[3] == "tcp" for entry in net.log)


def test_incoming_call_rejected_busy_and_hangup_before_answer():
    for command, status, reason in (
        (Reject("X", 486), 486, REJECTED),
        (Reject("X", 603), 603, REJECTED),
        (Hangup("X"), 480, HANGUP),
    ):
        net = pair()
        call_id = net.send(DOOR, PlaceCall(TARGET, DOOR_RTP))
        net.run_for(50)
        command.call_id = call_id
        net.send(FLAT, command)
        net.run_for(50)
        assert net.take_events(FLAT)[-1] == CallEnded(call_id, reason, status)
        assert net.take_events(DOOR) == [CallEnded(call_id, REJECTED, status)]
        assert len(net.sent(src=DOOR, start="ACK")) == 1
        net.run_for(40000)
        assert net.node(FLAT).next_deadline() is None
    net = pair()
    call_id = net.send(DOOR, PlaceCall(TARGET, DOOR_RTP))
    net.run_for(50)
    assert raises(ValueError, net.send, FLAT, Reject(call_id, 200))
    assert raises(ValueError, net.send, FLAT, Ring("no-such-call"))
    assert raises(ValueError, net.send, DOOR, Answer(call_id, DOOR_RTP))  # not an incoming call
    assert raises(ValueError, net.send, DOOR, Reinvite(call_id))  # not established yet
    assert raises(ValueError, net.send, DOOR, PlaceCall("flat", DOOR_RTP, call_id))  # in use


def test_hangup_by_the_callee_before_the_ack_waits_for_it():
    net = pair()
    call_id = net.send(DOOR, PlaceCall(TARGET, DOOR_RTP))
    net.run_for(50)
    net.fault = lambda data, src, dst, now: [400] if data.startswith(b"ACK") else None
    net.send(FLAT, Answer(call_id, FLAT_RTP))
    net.run_for(100)
    net.send(FLAT, Hangup(call_id))
    assert net.take_events(FLAT)[-1] == CallEnded(call_id, HANGUP, None)
    net.run_for(200)
    assert net.sent(src=FLAT, start="BYE") == []  # RFC 3261 15: not before the ACK
    net.run_for(500)
    assert len(net.sent(src=FLAT, start="BYE")) == 1
    assert net.take_events(DOOR)[-1] == CallEnded(call_id, REMOTE_HANGUP, None)


def test_reinvite_with_the_same_media_keeps_the_sdp_version():
    net = pair()
    call_id = established(net)
    net.take_events(DOOR)
    net.take_events(FLAT)
    net.send(DOOR, Reinvite(call_id))
    net.run_for(100)
    invites = net.sent(src=DOOR, start="INVITE")
    assert invites[1][1].cseq.seq == invites[0][1].cseq.seq + 1
    assert invites[1][1].body == invites[0][1].body  # nothing changed: same o= version
    oks = [
        m
        for _, m in net.sent(src=FLAT, start="SIP/2.0")
        if m.status == 200 and m.cseq.method == "INVITE"
    ]
    assert oks[1].body == oks[0].body
    assert len(net.sent(src=DOOR, start="ACK")) == 2
    assert net.take_events(DOOR) == [] and net.take_events(FLAT) == []


def test_hold_reinvite_answers_recvonly_and_reports_the_change():
    net = pair()
    call_id = established(net)
    net.take_events(DOOR)
    net.take_events(FLAT)
    net.send(DOOR, Reinvite(call_id, "sendonly"))
    net.run_for(100)
    flat = only(net.take_events(FLAT))
    door = only(net.take_events(DOOR))
    assert isinstance(flat, CallMediaChanged) and flat.media.direction == "recvonly"
    assert isinstance(door, CallMediaChanged) and door.media.direction == "sendonly"
    oks = [
        m
        for _, m in net.sent(src=FLAT, start="SIP/2.0")
        if m.status == 200 and m.cseq.method == "INVITE"
    ]
    first, second = sdp.parse(oks[0].body), sdp.parse(oks[1].body)
    assert second.origin.session_version == first.origin.session_version + 1
    assert second.origin.session_id == first.origin.session_id
    # The door resumes; then the flat (the callee) holds with inactive.
    net.send(DOOR, Reinvite(call_id, "sendrecv"))
    net.run_for(100)
    assert only(net.take_events(DOOR)).media.direction == "sendrecv"
    assert only(net.take_events(FLAT)).media.direction == "sendrecv"
    net.send(FLAT, Reinvite(call_id, "inactive"))
    net.run_for(100)
    assert only(net.take_events(DOOR)).media.direction == "inactive"
    assert only(net.take_events(FLAT), "event").media.direction == "inactive"


def test_old_style_hold_with_0_0_0_0():
    door = make_agent(DOOR)
    _call_id, invite, tags = _incoming_call(door)
    reinvite = _in_dialog(invite, tags, "INVITE", 2, _offer(host="0.0.0.0", version=2))
    door.receive(reinvite, FLAT, 2000)
    ok = next(r for r in responses(door.datagrams_to_send()) if r.status == 200)
    assert ok.cseq.seq == 2
    changed = [e for e in _events(door) if isinstance(e, CallMediaChanged)]
    assert only(changed).media.direction == "recvonly"  # we no longer send to 0.0.0.0


def test_glare_both_reinvite_get_491_and_retry():
    net = pair()
    call_id = established(net)
    net.take_events(DOOR)
    net.take_events(FLAT)
    start = net.now_ms
    net.send(DOOR, Reinvite(call_id, "sendonly"))
    net.send(FLAT, Reinvite(call_id, "sendonly"))
    net.run_for(10000)
    glare = [m for _, m in net.sent() if getattr(m, "status", None) == 491]
    assert len(glare) == 2
    door_invites = sent_times(net, DOOR, "INVITE")[1:]
    flat_invites = sent_times(net, FLAT, "INVITE")
    # The flat does not own the Call-ID: it retries within 0-2 s; the door after 2.1-4 s.
    assert 0 <= flat_invites[1] - (start + 20) <= 2000
    assert 2100 <= door_invites[1] - (start + 20) <= 4000 + 100
    assert len(door_invites) == 2 and len(flat_invites) == 2
    door = [e for e in net.take_events(DOOR) if isinstance(e, CallMediaChanged)]
    flat = [e for e in net.take_events(FLAT) if isinstance(e, CallMediaChanged)]
    assert door[-1].media.direction == "inactive" and flat[-1].media.direction == "inactive"


def test_forking_keeps_the_first_200_and_hangs_up_the_other():
    door = make_agent(DOOR, user="door")
    call_id = door.send(PlaceCall("sip:flat@192.0.2.1", DOOR_RTP), 0)
    invite = only(requests(door.datagrams_to_send(), "INVITE"))
    answer = _answer_body(invite)
    for tag, host in (("a", "192.0.2.31"), ("b", "192.0.2.32")):
        door.receive(reply(invite, 180, tag, [("Contact", "<sip:%s@%s>" % (tag, host))]), PBX, 10)
    door.receive(reply(invite, 200, "a", [("Contact", "<sip:a@192.0.2.31>")], answer), PBX, 20)
    door.receive(reply(invite, 200, "b", [("Contact", "<sip:b@192.0.2.32>")], answer), PBX, 30)
    out = door.datagrams_to_send()
    acks = requests(out, "ACK")
    byes = requests(out, "BYE")
    assert [a.to.tag for a in acks] == ["a", "b"]
    assert [str(a.uri) for a in acks] == ["sip:a@192.0.2.31", "sip:b@192.0.2.32"]
    assert [b.to.tag for b in byes] == ["b"]
    events = _events(door)
    assert kinds(events) == ["CallRinging", "CallRinging", "CallAnswered"]
    assert events[0] == CallRinging(call_id, 180, None)
    # A retransmission of either 200 is ACKed again, and nothing else happens.
    door.receive(reply(invite, 200, "b", [("Contact", "<sip:b@192.0.2.32>")], answer), PBX, 600)
    out = door.datagrams_to_send()
    assert [r.method for r in requests(out)] == ["ACK"]
    assert _events(door) == []
    # The hung-up fork's BYE is answered; the call goes on with fork a.
    door.receive(reply(byes[0], 200), PBX, 700)
    door.send(Hangup(call_id), 800)
    bye = only(requests(door.datagrams_to_send(), "BYE"))
    assert bye.to.tag == "a" and str(bye.uri) == "sip:a@192.0.2.31"


def test_fritzbox_style_401_on_invite_is_answered_once():
    door = make_agent(DOOR, user="620", password="secret", registrar="sip:192.0.2.1")
    call_id = door.send(PlaceCall("**611", DOOR_RTP), 0)
    invite = only(requests(door.datagrams_to_send(), "INVITE"))
    assert str(invite.uri) == "sip:**611@192.0.2.1"
    challenge = [("WWW-Authenticate", 'Digest realm="fritz.box", nonce="DFAB0607BDB84DE5"')]
    door.receive(reply(invite, 401, "762D", challenge), PBX, 20)
    out = requests(door.datagrams_to_send())
    ack, again = out
    assert ack.method == "ACK" and ack.top_via.branch == invite.top_via.branch
    assert ack.to.tag == "762D"
    assert again.method == "INVITE" and again.cseq.seq == invite.cseq.seq + 1
    assert again.top_via.branch != invite.top_via.branch
    assert again.call_id == invite.call_id and again.from_.tag == invite.from_.tag
    credentials = again.get("authorization")
    assert 'realm="fritz.box"' in credentials and 'username="620"' in credentials
    assert again.body == invite.body
    answer = _answer_body(again)
    door.receive(reply(again, 200, "F582", [("Contact", "<sip:x@192.0.2.1>")], answer), PBX, 40)
    ack = only(requests(door.datagrams_to_send(), "ACK"))
    assert ack.get("authorization") == credentials and ack.cseq.seq == again.cseq.seq
    assert isinstance(only(_events(door)), CallAnswered)
    # A second 401 to the credentials we sent means the password is wrong: give up.
    door = make_agent(DOOR, user="620", password="wrong", registrar="sip:192.0.2.1")
    call_id = door.send(PlaceCall("**611", DOOR_RTP), 0)
    invite = only(requests(door.datagrams_to_send(), "INVITE"))
    door.receive(reply(invite, 401, "t1", challenge), PBX, 20)
    again = requests(door.datagrams_to_send(), "INVITE")[0]
    door.receive(reply(again, 401, "t2", challenge), PBX, 40)
    assert len(requests(door.datagrams_to_send(), "INVITE")) == 0
    assert _events(door) == [CallEnded(call_id, AUTH_FAILED, 401)]
    # Without a password a challenge cannot be answered.
    door = make_agent(DOOR)
    call_id = door.send(PlaceCall(TARGET, DOOR_RTP), 0)
    invite = only(requests(door.datagrams_to_send(), "INVITE"))
    door.receive(reply(invite, 407, "t", [("Proxy-Authenticate", challenge[0][1])]), PBX, 20)
    assert _events(door) == [CallEnded(call_id, AUTH_FAILED, 407)]


def test_early_media_183_with_sdp():
    door = make_agent(DOOR)
    call_id = door.send(PlaceCall(TARGET, DOOR_RTP), 0)
    invite = only(requests(door.datagrams_to_send(), "INVITE"))
    door.receive(reply(invite, 100), FLAT, 5)
    door.receive(
        reply(invite, 183, "e", [("Contact", "<sip:f@192.0.2.20>")], _answer_body(invite)), FLAT, 10
    )
    ringing = only(_events(door))
    assert ringing.status == 183 and ringing.media.remote_rtp == ("192.0.2.20", 7078)
    door.receive(reply(invite, 486, "e"), FLAT, 20)
    assert _events(door) == [CallEnded(call_id, REJECTED, 486)]


def test_answer_without_usable_sdp_is_acked_and_hung_up():
    door = make_agent(DOOR)
    call_id = door.send(PlaceCall(TARGET, DOOR_RTP), 0)
    invite = only(requests(door.datagrams_to_send(), "INVITE"))
    door.receive(reply(invite, 200, "x", [("Contact", "<sip:f@192.0.2.20>")]), FLAT, 10)
    assert [r.method for r in requests(door.datagrams_to_send())] == ["ACK", "BYE"]
    assert _events(door) == [CallEnded(call_id, "media_failed", 200)]


def test_488_when_the_offer_has_no_shared_codec_and_400_for_bad_sdp():
    door = make_agent(DOOR)
    g729 = (
        b"v=0\r\no=- 1 1 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\n"
        b"m=audio 5000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n"
    )
    door.receive(_invite(body=g729), FLAT, 0)
    answer = only(responses(door.datagrams_to_send()))
    assert answer.status == 488 and answer.get("warning").startswith("305 ")
    assert _events(door) == []
    door.receive(_invite(body=b"v=0\r\nbogus\r\n", call_id="c2", branch="z9hG4bKc2"), FLAT, 0)
    answer = only(responses(door.datagrams_to_send()))
    assert answer.status == 400 and answer.reason == "Bad SDP"


def test_incoming_call_without_offer_gets_offer_in_200_and_answer_in_ack():
    door = make_agent(DOOR)
    door.receive(_invite(body=b""), FLAT, 0)
    incoming = only(_events(door))
    assert incoming.media is None
    door.datagrams_to_send()
    door.send(Answer(incoming.call_id, DOOR_RTP), 10)
    ok = next(r for r in responses(door.datagrams_to_send()) if r.status == 200)
    assert sdp.parse(ok.body).media[0].formats == ["0", "8", "101"]  # a full offer
    assert _events(door) == []
    tags = (ok.to.tag, "ft")
    ack = _in_dialog(_invite(body=b""), tags, "ACK", 1, _answer_body(parse_message(_invite())))
    door.receive(ack, FLAT, 20)
    answered = only(_events(door))
    assert isinstance(answered, CallAnswered) and answered.media.remote_rtp == ("192.0.2.20", 7078)


def test_info_dtmf_options_in_dialog_and_481_outside():
    door = make_agent(DOOR)
    call_id, invite, tags = _incoming_call(door)
    body = b"Signal=5\r\nDuration=160\r\n"
    door.receive(_in_dialog(invite, tags, "INFO", 2, body, "application/dtmf-relay"), FLAT, 100)
    assert only(responses(door.datagrams_to_send())).status == 200
    event = only(_events(door))
    assert event.call_id == call_id and event.content_type == "application/dtmf-relay"
    assert event.body == body
    door.receive(_in_dialog(invite, tags, "INFO", 3, b"hello", "text/plain"), FLAT, 110)
    unsupported = only(responses(door.datagrams_to_send()))
    assert unsupported.status == 415
    assert "application/dtmf-relay" in unsupported.get_all("accept")
    door.receive(_in_dialog(invite, tags, "OPTIONS", 4), FLAT, 120)
    options = only(responses(door.datagrams_to_send()))
    assert options.status == 200 and "INFO" in options.get_all("allow")
    assert "application/sdp" in options.get_all("accept") and options.has("supported")
    # An older CSeq than the last one is out of order.
    door.receive(
        _in_dialog(invite, tags, "INFO", 3, body, "application/dtmf-relay", "z9hG4bKold"), FLAT, 130
    )
    assert only(responses(door.datagrams_to_send())).status == 500
    # A BYE for a dialog we do not have.
    door.receive(_in_dialog(invite, ("nosuchtag", "ft"), "BYE", 5), FLAT, 140)
    assert only(responses(door.datagrams_to_send())).status == 481
    door.receive(_in_dialog(invite, tags, "BYE", 6), FLAT, 150)
    assert only(responses(door.datagrams_to_send())).status == 200
    assert _events(door) == [CallEnded(call_id, REMOTE_HANGUP, None)]
    door.receive(_in_dialog(invite, tags, "BYE", 7), FLAT, 160)
    assert only(responses(door.datagrams_to_send())).status == 481  # the dialog is gone


def test_incoming_cancel_and_481_for_an_unknown_cancel():
    door = make_agent(DOOR)
    door.receive(_invite(), FLAT, 0)
    call_id = only(_events(door)).call_id
    door.send(Ring(call_id), 5)
    door.datagrams_to_send()
    door.receive(_invite(method="CANCEL"), FLAT, 10)
    out = responses(door.datagrams_to_send())
    assert [(r.status, r.cseq.method) for r in out] == [(200, "CANCEL"), (487, "INVITE")]
    assert out[0].to.tag == out[1].to.tag
    assert _events(door) == [CallEnded(call_id, CANCELLED, 487)]
    door.receive(_invite(method="CANCEL", branch="z9hG4bKnone"), FLAT, 20)
    assert only(responses(door.datagrams_to_send())).status == 481


def test_invite_retransmission_is_absorbed_and_a_merged_copy_gets_482():
    door = make_agent(DOOR)
    door.receive(_invite(), FLAT, 0)
    door.receive(_invite(), FLAT, 500)
    assert [r.status for r in responses(door.datagrams_to_send())] == [100, 100]
    assert len(_events(door)) == 1
    door.receive(_invite(branch="z9hG4bKforked"), FLAT, 600)
    assert only(responses(door.datagrams_to_send())).status == 482


def test_calls_are_bounded():
    door = make_agent(DOOR, max_calls=2)
    for n in range(3):
        door.receive(_invite(call_id="c%d" % n, branch="z9hG4bK%d" % n), FLAT, 0)
    statuses = [r.status for r in responses(door.datagrams_to_send())]
    assert statuses == [100, 100, 486]
    assert len(_events(door)) == 2


def test_same_seed_gives_byte_identical_wire_output():
    def run(seed):
        net = pair(door_seed=seed, flat_seed=seed + 1)
        losses = [0]

        def fault(data, src, dst, now):
            losses[0] += 1
            return [] if losses[0] % 4 == 0 else [losses[0] % 3 * 30]

        net.fault = fault
        call_id = net.send(DOOR, PlaceCall(TARGET, DOOR_RTP))
        net.run_for(3000)
        net.send(FLAT, Ring(call_id))
        net.run_for(3000)
        net.send(FLAT, Answer(call_id, FLAT_RTP))
        net.run_for(5000)
        net.send(DOOR, Reinvite(call_id, "sendonly"))
        net.run_for(5000)
        net.send(DOOR, Hangup(call_id))
        net.run_for(40000)
        return [(t, s, d, data) for t, s, d, _tr, data in net.log]

    first = run(5)
    assert len(first) > 10
    assert run(5) == first
    assert run(6) != first


def test_shutdown_hangs_up_every_call():
    net = pair()
    call_id = established(net)
    net.take_events(DOOR)
    other = net.send(DOOR, PlaceCall(TARGET, DOOR_RTP, "second-call"))
    net.run_for(50)
    net.send(DOOR, Shutdown())
    net.run_for(50)
    assert len(net.sent(src=DOOR, start="BYE")) == 1
    assert len(net.sent(src=DOOR, start="CANCEL")) == 1
    ended = net.take_events(DOOR)
    assert CallEnded(call_id, HANGUP, None) in ended
    assert CallEnded(other, CANCELLED, 487) in ended
    assert raises(ValueError, net.send, DOOR, PlaceCall(TARGET, DOOR_RTP))


# -- helpers for tests that play the peer by hand --------------------------------------------------


def _events(agent):
    out = []
    while True:
        event = agent.next_event()
        if event is None:
            return out
        out.append(event)


def _offer(host="192.0.2.20", port=7078, version=1):
    return (
        "v=0\r\no=phone 42 %d IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
        "m=audio %d RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
        "a=fmtp:101 0-16\r\na=sendrecv\r\n" % (version, host, port)
    ).encode()


def _answer_body(invite):
    answer, _ = sdp.build_answer(sdp.parse(invite.body), "192.0.2.20", 7078, 77, 1)
    return sdp.serialize(answer)


def _invite(body=None, call_id="phone-call-1", branch="z9hG4bKphone1", method="INVITE", cseq=1):
    body = _offer() if body is None else body
    lines = [
        "%s sip:door@192.0.2.10 SIP/2.0" % method,
        "Via: SIP/2.0/UDP 192.0.2.20:5060;branch=%s;rport" % branch,
        "Max-Forwards: 70",
        "From: <sip:flat@192.0.2.20>;tag=ft",
        "To: <sip:door@192.0.2.10>",
        "Call-ID: " + call_id,
        "CSeq: %d %s" % (cseq, method),
        "Contact: <sip:flat@192.0.2.20:5060>",
    ]
    if body and method == "INVITE":
        lines.append("Content-Type: application/sdp")
    else:
        body = b""
    lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _in_dialog(invite, tags, method, cseq, body=b"", content_type="application/sdp", branch=None):
    """An in-dialog request from the phone: tags = (our tag, the phone's tag)."""
    if isinstance(invite, bytes):
        invite = parse_message(invite)
    lines = [
        "%s sip:door@192.0.2.10:5060 SIP/2.0" % method,
        "Via: SIP/2.0/UDP 192.0.2.20:5060;branch=%s" % (branch or "z9hG4bKin%s%d" % (method, cseq)),
        "Max-Forwards: 70",
        "From: <sip:flat@192.0.2.20>;tag=" + tags[1],
        "To: <sip:door@192.0.2.10>;tag=" + tags[0],
        "Call-ID: " + invite.call_id,
        "CSeq: %d %s" % (cseq, method),
        "Contact: <sip:flat@192.0.2.20:5060>",
    ]
    if body:
        lines.append("Content-Type: " + content_type)
    lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _incoming_call(door):
    """The phone calls the door, which answers; the phone ACKs. -> (call_id, invite, tags)"""
    invite = _invite()
    door.receive(invite, FLAT, 0)
    call_id = only(_events(door)).call_id
    door.send(Answer(call_id, DOOR_RTP), 10)
    ok = next(r for r in responses(door.datagrams_to_send()) if r.status == 200)
    tags = (ok.to.tag, "ft")
    door.receive(_in_dialog(invite, tags, "ACK", 1), FLAT, 20)
    assert isinstance(only(_events(door)), CallAnswered)
    return call_id, invite, tags


def test_cancel_without_a_final_response_ends_64_t1_later():
    net = pair()
    call_id = net.send(DOOR, PlaceCall(TARGET, DOOR_RTP))
    net.run_for(50)
    net.send(FLAT, Ring(call_id))
    net.run_for(50)
    net.take_events(DOOR)
    net.fault = lambda data, src, dst, now: [] if src == FLAT else None  # the flat goes mute
    start = net.now_ms
    net.send(DOOR, Hangup(call_id))
    net.run(start + 31999)
    assert net.take_events(DOOR) == []
    net.run(start + 32000)
    assert net.take_events(DOOR) == [CallEnded(call_id, CANCELLED, None)]


def test_reinvite_we_cannot_accept_keeps_the_call():
    door = make_agent(DOOR)
    call_id, invite, tags = _incoming_call(door)
    video_only = (
        b"v=0\r\no=phone 42 2 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\n"
        b"m=video 5002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
    )
    door.receive(_in_dialog(invite, tags, "INVITE", 2, video_only), FLAT, 100)
    assert [r.status for r in responses(door.datagrams_to_send())] == [100, 488]
    door.receive(_in_dialog(invite, tags, "ACK", 2), FLAT, 110)
    assert _events(door) == []
    door.send(Hangup(call_id), 200)
    assert only(requests(door.datagrams_to_send(), "BYE")).cseq.seq == 1


def test_reinvite_before_our_200_is_acked_gets_500_with_retry_after():
    door = make_agent(DOOR)
    door.receive(_invite(), FLAT, 0)
    call_id = only(_events(door)).call_id
    door.send(Answer(call_id, DOOR_RTP), 10)
    ok = next(r for r in responses(door.datagrams_to_send()) if r.status == 200)
    tags = (ok.to.tag, "ft")
    door.receive(_in_dialog(_invite(), tags, "INVITE", 2, _offer(version=2)), FLAT, 20)
    busy = next(r for r in responses(door.datagrams_to_send()) if r.status >= 200)
    assert busy.status == 500 and busy.get("retry-after").isdigit()


def test_481_to_our_reinvite_ends_the_call():
    door = make_agent(DOOR)
    call_id, _invite, _tags = _incoming_call(door)
    door.send(Reinvite(call_id, "sendonly"), 100)
    reinvite = only(requests(door.datagrams_to_send(), "INVITE"))
    assert sdp.parse(reinvite.body).origin.session_version == 2
    assert str(reinvite.uri) == "sip:flat@192.0.2.20:5060" and reinvite.to.tag == "ft"
    door.receive(reply(reinvite, 481), FLAT, 110)
    assert _events(door) == [CallEnded(call_id, "dialog_gone", 481)]


def test_the_offer_lists_both_g711_codecs_in_the_configured_order():
    for codecs, first in ((("PCMU", "PCMA"), "0"), (("PCMA", "PCMU"), "8")):
        ua = make_agent(("192.0.2.10", 5060), codecs=codecs)
        ua.send(PlaceCall("sip:flat@192.0.2.20", ("192.0.2.10", 4000)), 0)
        invite = parse_message(ua.datagrams_to_send()[0][0])
        m_line = invite.body.split(b"m=audio", 1)[1].split(b"\r\n", 1)[0]
        assert m_line.split()[2:4] == [first.encode(), b"8" if first == "0" else b"0"], m_line


def test_answered_calls_do_not_fill_the_transaction_table():
    # An answered INVITE's server transaction waits 64*T1 in ACCEPTED (RFC 6026). Once its 2xx
    # is ACKed it only absorbs stray copies, so it may make room: short calls one after another
    # must all be answered, and their BYEs too, not a 503 after max_server_transactions calls.
    net = Network()
    net.agent(DOOR, seed=1, user="door")
    net.agent(FLAT, seed=2, user="flat", max_server_transactions=3)
    for n in range(8):
        call_id = established(net)
        answered = [e for e in net.take_events(DOOR) if isinstance(e, CallAnswered)]
        assert [e.call_id for e in answered] == [call_id], n
        net.send(DOOR, Hangup(call_id))
        net.run_for(50)
        assert net.take_events(DOOR)[-1] == CallEnded(call_id, HANGUP, None), n
        assert [m.status for _, m in net.sent(src=FLAT, start="SIP/2.0")][-1] == 200
        net.take_events(FLAT)
    assert 503 not in [m.status for _, m in net.sent(src=FLAT, start="SIP/2.0")]


def test_a_call_can_end_while_the_transaction_table_is_full():
    # The table full of transactions that still have work (unanswered INVITEs): a new INVITE
    # gets 503, but the BYE of the call we have passes, and so does a CANCEL.
    net = Network()
    net.agent(DOOR, seed=1, user="door")
    net.agent(FLAT, seed=2, user="flat", max_server_transactions=2, max_calls=10)
    call_id = established(net)
    ringing = [net.send(DOOR, PlaceCall(TARGET, DOOR_RTP)) for _ in range(2)]
    net.run_for(50)
    refused = net.send(DOOR, PlaceCall(TARGET, DOOR_RTP))
    net.run_for(50)
    assert 503 in [m.status for _, m in net.sent(src=FLAT, start="SIP/2.0")]
    net.take_events(DOOR)
    net.send(DOOR, Hangup(ringing[0]))  # a CANCEL
    net.send(DOOR, Hangup(call_id))  # a BYE
    net.run_for(50)
    ended = {e.call_id: e.reason for e in net.take_events(DOOR) if isinstance(e, CallEnded)}
    assert ended[call_id] == HANGUP and ended[ringing[0]] == CANCELLED
    assert refused not in ended or ended[refused] != HANGUP
