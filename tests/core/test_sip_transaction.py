"""RFC 3261 section 17 transactions (with RFC 6026): timers, retransmissions, matching."""

from firmware.core.sip.message import Request, parse_message
from firmware.core.sip.transaction import (
    ACCEPTED,
    CALLING,
    COMPLETED,
    CONFIRMED,
    PROCEEDING,
    RESPONSE,
    TERMINATED,
    TIMEOUT,
    TRANSPORT_ERROR,
    TRYING,
    Timers,
    TransactionLayer,
    make_response,
    server_key,
)
from tests.core.support import raises

PEER = ("192.0.2.20", 5060)
INVITE_SCHEDULE = [0, 500, 1500, 3500, 7500, 15500, 31500]  # Timer A, then B at 32000


def request(method="INVITE", branch="z9hG4bKabc123", cseq=1, via_host="192.0.2.10"):
    r = Request(method, "sip:flat@192.0.2.20")
    r.add("Via", "SIP/2.0/UDP %s:5060;branch=%s;rport" % (via_host, branch))
    r.add("Max-Forwards", "70")
    r.add("From", "<sip:door@192.0.2.10>;tag=f1")
    r.add("To", "<sip:flat@192.0.2.20>")
    r.add("Call-ID", "call-1")
    r.add("CSeq", "%d %s" % (cseq, method))
    return r


def response_to(req, status, tag="t1"):
    return parse_message(make_response(req, status, to_tag=tag).to_bytes())


def drive(layer, until_ms, step_ms=None):
    """Fire timers at each deadline up to until_ms; returns [(time, bytes)] sent."""
    sent = [(0, d[0]) for d in layer.datagrams]
    layer.datagrams = []
    while True:
        deadline = layer.next_deadline()
        if deadline is None or deadline > until_ms:
            return sent
        layer.handle_timer(deadline)
        sent.extend((deadline, d[0]) for d in layer.datagrams)
        layer.datagrams = []


def test_invite_client_retransmits_on_the_rfc_schedule_then_times_out():
    layer = TransactionLayer()
    txn = layer.send_request(request(), PEER, "udp", 0)
    assert txn.state == CALLING
    sent = drive(layer, 40000)
    assert [t for t, _ in sent] == INVITE_SCHEDULE
    assert all(data == sent[0][1] for _, data in sent)
    assert txn.state == TERMINATED
    assert layer.reports == [(txn, TIMEOUT, None)]
    assert len(layer) == 0 and layer.next_deadline() is None


def test_timer_values_are_configurable():
    layer = TransactionLayer(Timers(t1_ms=100, t2_ms=400, t4_ms=500))
    layer.send_request(request("OPTIONS"), PEER, "udp", 0)
    sent = drive(layer, 10000)
    # E: 100, 200, 400, 400, ... until F at 64*T1 = 6400
    times = [t for t, _ in sent]
    assert times[:6] == [0, 100, 300, 700, 1100, 1500]
    assert times[-1] == 6300 and layer.reports[0][1] == TIMEOUT


def test_non_invite_client_caps_at_t2_and_proceeding_uses_t2():
    layer = TransactionLayer()
    req = request("OPTIONS")
    txn = layer.send_request(req, PEER, "udp", 0)
    sent = drive(layer, 8000)
    assert [t for t, _ in sent] == [0, 500, 1500, 3500, 7500]
    # A provisional moves it to Proceeding: E fires at T2 intervals from now on.
    layer.receive_response(response_to(req, 100), 8000)
    assert txn.state == PROCEEDING
    sent = drive(layer, 20000)
    assert [t for t, _ in sent] == [11500, 15500, 19500]
    layer.receive_response(response_to(req, 200), 20000)
    assert txn.state == COMPLETED
    assert [r[1] for r in layer.reports] == [RESPONSE, RESPONSE]
    # Timer K (T4) absorbs retransmitted finals, then the transaction ends.
    layer.receive_response(response_to(req, 200), 21000)
    assert len(layer.reports) == 2
    assert drive(layer, 30000) == [] and txn.state == TERMINATED


def test_invite_client_acks_non_2xx_with_the_same_branch_and_absorbs_retransmissions():
    layer = TransactionLayer()
    req = request()
    req.add("Route", "<sip:proxy.example;lr>")
    txn = layer.send_request(req, PEER, "udp", 0)
    layer.datagrams = []
    layer.receive_response(response_to(req, 180), 100)
    assert txn.state == PROCEEDING and drive(layer, 600) == []  # no retransmission now
    layer.receive_response(response_to(req, 486, tag="busy"), 700)
    assert txn.state == COMPLETED
    ack = parse_message(layer.datagrams[0][0])
    assert ack.method == "ACK" and str(ack.uri) == "sip:flat@192.0.2.20"
    assert ack.top_via.branch == "z9hG4bKabc123" and len(ack.vias) == 1
    assert ack.to.tag == "busy" and ack.cseq.seq == 1 and ack.cseq.method == "ACK"
    assert ack.get("route") == "<sip:proxy.example;lr>" and ack.get("call-id") == "call-1"
    layer.datagrams = []
    layer.receive_response(response_to(req, 486, tag="busy"), 900)
    assert parse_message(layer.datagrams[0][0]).method == "ACK"  # ACKed again, not passed up
    assert [r[2].status for r in layer.reports] == [180, 486]
    # Timer D: 32 s over UDP.
    assert layer.next_deadline() == 700 + 32000


def test_invite_client_accepted_passes_every_2xx_then_timer_m():
    layer = TransactionLayer()
    req = request()
    txn = layer.send_request(req, PEER, "udp", 0)
    layer.receive_response(response_to(req, 200, tag="a"), 50)
    layer.receive_response(response_to(req, 200, tag="b"), 60)  # another fork
    layer.receive_response(response_to(req, 200, tag="a"), 550)  # a retransmission
    layer.receive_response(response_to(req, 503), 560)  # a late failure: absorbed
    assert txn.state == ACCEPTED
    assert [(r[2].status, r[2].to.tag) for r in layer.reports] == [
        (200, "a"),
        (200, "b"),
        (200, "a"),
    ]
    assert layer.next_deadline() == 50 + 32000  # Timer M
    layer.handle_timer(32050)
    assert txn.state == TERMINATED and len(layer.reports) == 3


def test_tcp_has_no_retransmissions_and_zero_wait_timers():
    layer = TransactionLayer()
    req = request()
    txn = layer.send_request(req, PEER, "tcp", 0)
    sent = drive(layer, 31999)
    assert [t for t, _ in sent] == [0]
    layer.receive_response(response_to(req, 404), 1000)
    assert txn.state == TERMINATED  # Timer D is zero
    opt = request("OPTIONS", branch="z9hG4bKopt")
    txn = layer.send_request(opt, PEER, "tcp", 0)
    layer.receive_response(response_to(opt, 200), 10)
    assert txn.state == TERMINATED  # Timer K is zero
    # Timer B still fires over TCP.
    layer = TransactionLayer()
    layer.send_request(request(), PEER, "tcp", 0)
    drive(layer, 40000)
    assert layer.reports[0][1] == TIMEOUT


def test_invite_server_absorbs_retransmissions_and_repeats_the_last_response():
    layer = TransactionLayer()
    inv = request(via_host="192.0.2.20")
    txn = layer.create_server(inv, PEER, "udp", 0)
    txn.trying(0)
    assert txn.state == PROCEEDING
    assert parse_message(layer.datagrams.pop()[0]).status == 100
    again = parse_message(inv.to_bytes())
    assert layer.match_request(again) is txn
    assert txn.receive_request(again, 400) is False
    assert parse_message(layer.datagrams.pop()[0]).status == 100
    txn.respond(make_response(inv, 180, to_tag="x"), 500)
    txn.receive_request(again, 600)
    assert parse_message(layer.datagrams.pop()[0]).status == 180


def test_invite_server_timer_g_h_and_ack():
    layer = TransactionLayer()
    inv = request(via_host="192.0.2.20")
    txn = layer.create_server(inv, PEER, "udp", 0)
    txn.respond(make_response(inv, 486, to_tag="x"), 0)
    assert txn.state == COMPLETED
    sent = drive(layer, 5000)
    assert [t for t, _ in sent] == [0, 500, 1500, 3500]
    ack = request("ACK", via_host="192.0.2.20")
    assert layer.match_request(ack) is txn  # ACK matches the INVITE's transaction
    assert txn.receive_request(ack, 5000) is False
    assert txn.state == CONFIRMED and drive(layer, 9999) == []
    assert layer.next_deadline() == 10000  # Timer I = T4
    layer.handle_timer(10000)
    assert txn.state == TERMINATED and layer.reports == []
    # Without an ACK, Timer H ends it after 64*T1 (G capped at T2 meanwhile).
    layer = TransactionLayer()
    txn = layer.create_server(inv, PEER, "udp", 0)
    txn.respond(make_response(inv, 486, to_tag="x"), 0)
    sent = drive(layer, 40000)
    assert [t for t, _ in sent] == [
        0,
        500,
        1500,
        3500,
        7500,
        11500,
        15500,
        19500,
        23500,
        27500,
        31500,
    ]
    assert layer.reports == [(txn, TIMEOUT, None)]


def test_invite_server_accepted_absorbs_invites_and_passes_acks():
    layer = TransactionLayer()
    inv = request(via_host="192.0.2.20")
    txn = layer.create_server(inv, PEER, "udp", 0)
    txn.respond(make_response(inv, 200, to_tag="x"), 0)
    layer.datagrams = []
    assert txn.state == ACCEPTED
    assert txn.receive_request(inv, 100) is False and layer.datagrams == []
    txn.respond(make_response(inv, 200, to_tag="x"), 500)  # the TU's retransmission
    assert len(layer.datagrams) == 1
    assert layer.next_deadline() == 32000  # Timer L
    layer.handle_timer(32000)
    assert txn.state == TERMINATED
    assert raises(ValueError, txn.respond, make_response(inv, 180), 33000)


def test_non_invite_server_timer_j_and_tcp():
    layer = TransactionLayer()
    opt = request("OPTIONS", via_host="192.0.2.20")
    txn = layer.create_server(opt, PEER, "udp", 0)
    assert txn.state == TRYING
    assert txn.receive_request(opt, 10) is False and layer.datagrams == []  # nothing to repeat
    txn.respond(make_response(opt, 200, to_tag="x"), 20)
    txn.receive_request(opt, 30)
    assert len(layer.datagrams) == 2
    assert layer.next_deadline() == 20 + 32000
    layer = TransactionLayer()
    txn = layer.create_server(opt, PEER, "tcp", 0)
    txn.respond(make_response(opt, 200, to_tag="x"), 20)
    assert txn.state == TERMINATED and len(layer) == 0


def test_matching_uses_branch_sent_by_and_method():
    layer = TransactionLayer()
    inv = request(via_host="192.0.2.20")
    txn = layer.create_server(inv, PEER, "udp", 0)
    assert layer.match_request(request("ACK", via_host="192.0.2.20")) is txn
    assert layer.match_request(request("BYE", via_host="192.0.2.20")) is None
    assert layer.match_request(request(via_host="192.0.2.99")) is None  # other sent-by
    assert layer.match_request(request(branch="z9hG4bKother", via_host="192.0.2.20")) is None
    cancel = request("CANCEL", via_host="192.0.2.20")
    assert layer.match_request(cancel) is None and layer.find_invite_for(cancel) is txn


def test_rfc2543_fallback_for_requests_without_the_magic_cookie():
    layer = TransactionLayer()
    for branch in ("z9hG4bK", "1234abcd"):  # the bare cookie (RFC 4475 badbranch) and 2543 style
        inv = request(branch=branch, via_host="192.0.2.20")
        key = server_key(inv)
        assert key[0] == "2543"
        txn = layer.create_server(inv, PEER, "udp", 0)
        ack = request("ACK", branch=branch, via_host="192.0.2.20")
        ack.set("To", "<sip:flat@192.0.2.20>;tag=ours")
        assert layer.match_request(ack) is txn
        assert layer.find_invite_for(request("CANCEL", branch=branch, via_host="192.0.2.20")) is txn
        other = request(branch=branch, via_host="192.0.2.20", cseq=2)
        assert layer.match_request(other) is None
    no_branch = request(via_host="192.0.2.20")
    no_branch.set("Via", "SIP/2.0/UDP 192.0.2.20:5060")
    assert server_key(no_branch)[0] == "2543"


def test_client_matching_needs_branch_and_cseq_method():
    layer = TransactionLayer()
    inv = request()
    txn = layer.send_request(inv, PEER, "udp", 0)
    cancel_reply = response_to(request("CANCEL"), 200)
    assert layer.receive_response(cancel_reply, 10) is False
    assert layer.receive_response(response_to(request(branch="z9hG4bKzzz"), 200), 10) is False
    assert layer.receive_response(response_to(inv, 180), 10) is True
    assert txn.state == PROCEEDING
    assert raises(ValueError, layer.send_request, request(), PEER, "udp", 0)  # branch in use
    assert raises(ValueError, layer.send_request, request("ACK"), PEER, "udp", 0)


def test_transport_error_fails_the_transactions_to_that_address():
    layer = TransactionLayer()
    a = layer.send_request(request(), PEER, "udp", 0)
    b = layer.send_request(request("OPTIONS", branch="z9hG4bKb"), ("192.0.2.99", 5060), "udp", 0)
    layer.transport_failed(PEER, "udp")
    assert a.state == TERMINATED and b.state == TRYING
    assert layer.reports == [(a, TRANSPORT_ERROR, None)]


def test_server_table_is_bounded():
    layer = TransactionLayer(max_server_transactions=2)
    layer.create_server(request(branch="z9hG4bK1"), PEER, "udp", 0)
    assert not layer.is_full()
    layer.create_server(request(branch="z9hG4bK2"), PEER, "udp", 0)
    assert layer.is_full()
    assert raises(ValueError, layer.create_server, request(branch="z9hG4bK3"), PEER, "udp", 0)


def test_a_full_server_table_ends_finished_transactions_to_make_room():
    layer = TransactionLayer(max_server_transactions=3)
    options = layer.create_server(request("OPTIONS", branch="z9hG4bK1"), PEER, "udp", 0)
    options.respond(make_response(options.request, 200, to_tag="a"), 0)  # COMPLETED: Timer J
    refused = layer.create_server(request(branch="z9hG4bK2"), PEER, "udp", 0)
    refused.respond(make_response(refused.request, 403, to_tag="b"), 0)  # COMPLETED: G, H
    ringing = layer.create_server(request(branch="z9hG4bK3"), PEER, "udp", 0)  # PROCEEDING
    # Full: the OPTIONS, which only absorbs retransmissions, goes first...
    assert not layer.is_full()
    assert options.state == TERMINATED and refused.state == COMPLETED
    layer.create_server(request("OPTIONS", branch="z9hG4bK4"), PEER, "udp", 0)
    # ...then the INVITE still re-sending its 403 (it would have waited 32 s for an ACK)...
    assert not layer.is_full()
    assert refused.state == TERMINATED and ringing.state == PROCEEDING
    layer.datagrams = []
    assert drive(layer, 1000) == []  # no more 403 retransmissions
    layer.create_server(request("OPTIONS", branch="z9hG4bK5"), PEER, "udp", 0)
    # ...never one that still has work to do.
    assert layer.is_full() and len(layer) == 3


def test_an_answered_invite_makes_room_only_once_its_2xx_is_acked():
    layer = TransactionLayer(max_server_transactions=2)
    first = layer.create_server(request(branch="z9hG4bK1"), PEER, "udp", 0)
    first.respond(make_response(first.request, 200, to_tag="a"), 0)
    second = layer.create_server(request(branch="z9hG4bK2"), PEER, "udp", 0)
    second.respond(make_response(second.request, 200, to_tag="b"), 0)
    assert first.state == ACCEPTED and second.state == ACCEPTED
    # Not yet ACKed: a copy of the INVITE could still come, and must not start a second call.
    assert layer.is_full()
    second.acknowledged()
    assert not layer.is_full()
    assert second.state == TERMINATED and first.state == ACCEPTED
    # A request of an existing call is let in past the bound (the TU decides which).
    layer.create_server(request(branch="z9hG4bK3"), PEER, "udp", 0)
    assert layer.is_full()
    layer.create_server(request("BYE", branch="z9hG4bK4"), PEER, "udp", 0, bounded=False)
    assert len(layer) == 3


def test_make_response_copies_the_right_headers():
    inv = request(via_host="192.0.2.20")
    inv.add("Record-Route", "<sip:p1.example;lr>")
    inv.add("Subject", "hello")
    ok = make_response(inv, 200, to_tag="x")
    assert ok.to.tag == "x" and ok.get("record-route") == "<sip:p1.example;lr>"
    assert ok.get("subject") is None and ok.get("max-forwards") is None
    assert ok.cseq.seq == 1 and ok.call_id == "call-1"
    busy = make_response(inv, 486, to_tag="x")
    assert busy.get("record-route") is None
    assert make_response(inv, 100).to.tag is None
