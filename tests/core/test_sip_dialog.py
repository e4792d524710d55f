"""Dialogs (RFC 3261 section 12): identity, route sets, loose and strict routing, refresh."""

from firmware.core.sip.dialog import CONFIRMED, EARLY, dialog_as_uac, dialog_as_uas, uri_destination
from firmware.core.sip.message import Request, parse_message
from firmware.core.sip.transaction import make_response
from firmware.core.sip.uri import parse_uri


def invite():
    r = Request("INVITE", "sip:flat@example.com")
    r.add("Via", "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKx")
    r.add("From", '"Door" <sip:door@example.com>;tag=ours')
    r.add("To", "<sip:flat@example.com>")
    r.add("Call-ID", "c1")
    r.add("CSeq", "7 INVITE")
    r.add("Contact", "<sip:door@192.0.2.10:5060>")
    r.add("Record-Route", "<sip:p2.example.com;lr>, <sip:p1.example.com;lr>")
    return parse_message(r.to_bytes())


def answer(status=200, contact="<sip:flat@192.0.2.20:5062;transport=tcp>"):
    response = make_response(invite(), status, to_tag="theirs")
    response.add("Contact", contact)
    return parse_message(response.to_bytes())


def test_uac_dialog_from_the_2xx():
    d = dialog_as_uac(invite(), answer())
    assert d.id == ("c1", "ours", "theirs") and d.state == CONFIRMED
    assert d.local_seq == 7 and d.remote_seq is None
    assert str(d.remote_target) == "sip:flat@192.0.2.20:5062;transport=tcp"
    # Record-Route reversed for the UAC: p1 is the first hop back.
    assert [str(r.uri) for r in d.route_set] == ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]
    assert dialog_as_uac(invite(), answer(180)).state == EARLY


def test_in_dialog_request_with_loose_routing():
    d = dialog_as_uac(invite(), answer())
    bye = d.create_request("BYE")
    assert str(bye.uri) == "sip:flat@192.0.2.20:5062;transport=tcp"
    assert bye.get_lines("route") == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    assert bye.cseq.seq == 8 and d.local_seq == 8
    assert bye.from_.tag == "ours" and bye.to.tag == "theirs" and bye.from_.display_name == "Door"
    assert str(d.next_hop()) == "sip:p1.example.com;lr"
    ack = d.create_request("ACK", 7)
    assert ack.cseq.seq == 7 and d.local_seq == 8


def test_strict_routing_puts_the_first_route_in_the_request_uri():
    d = dialog_as_uac(invite(), answer())
    d.route_set = [d.route_set[0].__class__(parse_uri("sip:strict.example.com"))] + d.route_set[1:]
    bye = d.create_request("BYE")
    assert str(bye.uri) == "sip:strict.example.com"
    routes = bye.get_lines("route")
    assert routes == ["<sip:p2.example.com;lr>", "<sip:flat@192.0.2.20:5062;transport=tcp>"]


def test_uas_dialog_and_remote_cseq():
    d = dialog_as_uas(invite(), "mine")
    assert d.id == ("c1", "mine", "ours") and d.remote_seq == 7 and d.local_seq == 0
    assert str(d.remote_target) == "sip:door@192.0.2.10:5060"
    assert [str(r.uri) for r in d.route_set] == ["sip:p2.example.com;lr", "sip:p1.example.com;lr"]
    bye = d.create_request("BYE")
    assert bye.cseq.seq == 1 and bye.to.tag == "ours" and bye.from_.tag == "mine"
    older = invite()
    older.set("CSeq", "6 INFO")
    assert d.accept_remote_cseq(older) is False
    newer = invite()
    newer.set("CSeq", "9 INFO")
    assert d.accept_remote_cseq(newer) is True and d.remote_seq == 9


def test_target_refresh_and_no_contact():
    d = dialog_as_uac(invite(), answer())
    refresh = invite()
    refresh.set("Contact", "<sip:flat@192.0.2.21>")
    d.refresh_target(refresh)
    assert str(d.remote_target) == "sip:flat@192.0.2.21"
    refresh.remove("Contact")
    d.refresh_target(refresh)
    assert str(d.remote_target) == "sip:flat@192.0.2.21"  # no Contact: unchanged
    old_style = invite()
    old_style.remove("Contact")
    assert str(dialog_as_uas(old_style, "x").remote_target) == "sip:door@example.com"


def test_uri_destination():
    cases = [
        ("sip:flat@192.0.2.20", "udp", (("192.0.2.20", 5060), "udp")),
        ("sip:flat@192.0.2.20:5080;transport=TCP", "udp", (("192.0.2.20", 5080), "tcp")),
        ("sips:flat@example.com", "tcp", (("example.com", 5061), "tcp")),
        ("sip:x@example.com;maddr=192.0.2.7", "udp", (("192.0.2.7", 5060), "udp")),
        ("sip:fritz.box", "tcp", (("fritz.box", 5060), "tcp")),
        ("sip:x@192.0.2.7;transport=tls", "udp", (("192.0.2.7", 5060), "udp")),
    ]
    for text, default, expected in cases:
        assert uri_destination(parse_uri(text), default) == expected, text
