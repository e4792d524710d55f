"""Registration (RFC 3261 section 10) against an in-memory registrar double."""

from firmware.core.sip.events import (
    DISABLED,
    REGISTERED,
    REGISTERING,
    RETRYING,
    UNREGISTERED,
    UNREGISTERING,
    Register,
    RegistrationChanged,
    Shutdown,
    Unregister,
)
from firmware.core.sip.registration import Registration
from tests.core.sipnet import DOOR, PBX, Network, Registrar, make_agent
from tests.core.support import FakeRandom, raises


def setup(**registrar_options):
    net = Network()
    registrar = net.add(PBX, Registrar(PBX, **registrar_options))
    door = net.agent(
        DOOR, seed=7, registrar="sip:192.0.2.1", user="door", password="secret", expires_s=600
    )
    return net, registrar, door


def states(events):
    return [e.state for e in events if isinstance(e, RegistrationChanged)]


def test_register_answers_the_401_challenge_and_registers():
    net, registrar, door = setup()
    assert door.registration.state == UNREGISTERED
    net.send(DOOR, Register())
    net.run_for(1000)
    assert states(net.take_events(DOOR)) == [REGISTERING, REGISTERED]
    summary = door.registration
    assert summary == RegistrationChanged(REGISTERED, 200, "OK", 600)
    first, second = [r for _, r in registrar.received]
    assert first.get("authorization") is None and second.get("authorization") is not None
    assert first.call_id == second.call_id and second.cseq.seq == first.cseq.seq + 1
    assert first.expires == 600 and first.max_forwards == 70
    assert first.get("contact") == "<sip:door@192.0.2.10:5060;transport=udp>"
    assert first.top_via.rport is True and first.top_via.branch.startswith("z9hG4bK")
    assert str(first.uri) == "sip:192.0.2.1" and str(first.to.uri) == "sip:door@192.0.2.1"
    assert first.from_.tag is not None and first.to.tag is None
    assert "sip:door@192.0.2.1" in registrar.bindings


def test_refresh_at_half_time_with_the_granted_expires_and_same_call_id():
    net, registrar, door = setup(grant_s=120)  # the registrar grants less than we asked
    net.send(DOOR, Register())
    net.run_for(1000)
    assert door.registration.expires_s == 120
    registered_at = registrar.received[-1][0]
    net.run(registered_at + 200000)
    times = [t for t, _ in registrar.received]
    # 120 s granted: refresh after min(60 s, 120 s - 32 s) = 60 s, with preemptive credentials
    # (no new challenge), so each refresh is one REGISTER.
    # Each cycle: the 200 arrives 10 ms after the REGISTER, the refresh leaves 60 s later and
    # arrives 10 ms after that.
    assert times[2] - times[1] == 60020
    assert times[3] - times[2] == 60020
    seqs = [r.cseq.seq for _, r in registrar.received]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert len({r.call_id for _, r in registrar.received}) == 1
    assert all(r.get("authorization") for _, r in registrar.received[1:])
    assert states(net.take_events(DOOR)) == [REGISTERING, REGISTERED]


def test_refresh_is_never_later_than_expiry_minus_the_margin():
    reg = Registration(600, FakeRandom(), "c", "t")
    assert reg.refresh_ms(3600) == 1800000
    assert reg.refresh_ms(60) == 28000  # min(30 s, 60 s - 32 s)
    assert reg.refresh_ms(40) == 10000  # a quarter at least
    assert raises(ValueError, Registration, 0, FakeRandom(), "c", "t")


def test_423_interval_too_brief_retries_with_min_expires():
    net, registrar, door = setup(min_expires_s=1800)
    net.send(DOOR, Register())
    net.run_for(1000)
    expires = [r.expires for _, r in registrar.received]
    assert expires == [600, 600, 1800]
    assert door.registration.state == REGISTERED and door.registration.expires_s == 1800
    assert states(net.take_events(DOOR)) == [REGISTERING, REGISTERED]


def test_backoff_after_503_doubles_with_jitter_and_honours_retry_after():
    net, registrar, door = setup(script=[503, 503, 503, 503])
    net.send(DOOR, Register())
    net.run_for(60000)
    times = [t for t, _ in registrar.received]
    nominal = [2000, 4000, 8000, 16000]
    for i in range(len(nominal)):
        delay = times[i + 1] - times[i] - 20  # 10 ms each way
        assert nominal[i] * 3 // 4 <= delay <= nominal[i], (times, nominal)
    assert door.registration.state == REGISTERED  # the fifth attempt got through
    seen = net.take_events(DOOR)
    assert states(seen)[:3] == [REGISTERING, RETRYING, REGISTERING]
    assert seen[1].status == 503
    # Retry-After wins when longer than the backoff.
    reg = Registration(600, FakeRandom(), "c", "t")
    reg.start(0)

    class Resp:
        status = 503
        reason = "Busy"

        def get(self, name):
            return "120" if name == "retry-after" else None

    reg.response(reg.next_cseq(), Resp(), 1000, None)
    assert reg.next_deadline() == 1000 + 120000 and reg.state == RETRYING


def test_backoff_is_capped_at_five_minutes_and_never_stops():
    reg = Registration(600, FakeRandom(3), "c", "t")
    delays = [reg.backoff_ms(n) for n in range(1, 40)]
    for n, delay in enumerate(delays, 1):
        nominal = min(2000 * 2 ** (n - 1), 300000)
        assert nominal * 3 // 4 <= delay <= nominal
    assert max(delays) <= 300000 and delays[-1] >= 225000


def test_no_answer_retries_after_timer_f():
    net, registrar, door = setup(script=[None])
    net.send(DOOR, Register())
    net.run_for(31000)
    assert door.registration.state == REGISTERING
    net.run_for(1100)  # Timer F at 32 s
    assert door.registration == RegistrationChanged(RETRYING, None, "no response", None)
    net.run_for(10000)
    assert door.registration.state == REGISTERED
    first = registrar.received[0][1].top_via.branch
    retransmissions = [t for t, r in registrar.received if r.top_via.branch == first]
    assert retransmissions == [10, 510, 1510, 3510, 7510, 11510, 15510, 19510, 23510, 27510, 31510]
    retry = next(t for t, r in registrar.received if r.top_via.branch != first)
    assert 32000 + 1500 <= retry <= 32000 + 2000 + 10


def test_transport_error_and_bad_password_retry_with_backoff():
    net, registrar, door = setup(users={"door": "other"})
    net.send(DOOR, Register())
    net.run_for(1000)
    assert door.registration.state == RETRYING and door.registration.status == 401
    assert len(registrar.received) == 2  # challenged, answered once, refused: no loop
    net.run_for(5000)
    # It tries again after the backoff (2 s, then 4 s), each attempt challenged and refused.
    times = [t for t, _ in registrar.received]
    assert len(times) == 6 and 1500 <= times[2] - times[1] <= 2000 + 20
    assert door.registration.state == RETRYING
    net2 = Network()
    door2 = net2.agent(DOOR, registrar="sip:192.0.2.1", password="x")
    net2.send(DOOR, Register())
    door2.transport_failed(PBX, "udp", 5)
    assert door2.registration == RegistrationChanged(RETRYING, None, "transport error", None)


def test_unregister_and_shutdown_send_expires_zero():
    net, registrar, door = setup()
    net.send(DOOR, Register())
    net.run_for(1000)
    net.send(DOOR, Unregister())
    net.run_for(1000)
    last = registrar.received[-1][1]
    assert last.expires == 0 and last.get("contact") == "<sip:door@192.0.2.10:5060;transport=udp>"
    assert door.registration.state == UNREGISTERED and registrar.bindings == {}
    assert states(net.take_events(DOOR)) == [REGISTERING, REGISTERED, UNREGISTERING, UNREGISTERED]
    count = len(registrar.received)
    net.run_for(4000000)
    assert len(registrar.received) == count  # no more refreshes
    assert door.next_deadline() is None
    net.send(DOOR, Register())
    net.run_for(1000)
    assert door.registration.state == REGISTERED
    net.send(DOOR, Shutdown())
    net.run_for(1000)
    assert registrar.received[-1][1].expires == 0 and door.registration.state == UNREGISTERED
    net.send(DOOR, Unregister())  # nothing left to remove: no REGISTER
    assert registrar.received[-1][1].expires == 0


def test_unregister_while_a_register_is_in_flight():
    net, registrar, door = setup(script=[None])
    net.send(DOOR, Register())
    net.run_for(100)
    net.send(DOOR, Unregister())
    net.run_for(40000)
    assert door.registration.state == UNREGISTERED and registrar.bindings == {}
    unregisters = [t for t, r in registrar.received if r.expires == 0]
    assert unregisters[0] == 110
    assert states(net.take_events(DOOR)) == [REGISTERING, UNREGISTERING, UNREGISTERED]


def test_no_registrar_means_disabled_and_register_is_a_mistake():
    door = make_agent(DOOR)
    assert door.registration.state == DISABLED
    assert raises(ValueError, door.send, Register(), 0)
    assert raises(ValueError, door.send, Unregister(), 0)


def test_granted_lifetime_from_contact_expires_then_expires_header():
    from firmware.core.sip.message import Request, parse_message
    from firmware.core.sip.transaction import make_response
    from firmware.core.sip.uri import parse_uri

    ours = parse_uri("sip:door@192.0.2.10:5060;transport=udp")
    register = Request("REGISTER", "sip:192.0.2.1")
    for name, value in (
        ("Via", "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKr"),
        ("From", "<sip:door@192.0.2.1>;tag=a"),
        ("To", "<sip:door@192.0.2.1>"),
        ("Call-ID", "r"),
        ("CSeq", "1 REGISTER"),
    ):
        register.add(name, value)
    cases = [
        ([("Contact", "<sip:other@192.0.2.50>;expires=30, <sip:door@192.0.2.10>;expires=90")], 90),
        ([("Contact", "<sip:door@192.0.2.10:5060>"), ("Expires", "300")], 300),
        ([("Contact", "<sip:other@192.0.2.50>;expires=30")], 600),
        ([], 600),
    ]
    for headers, granted in cases:
        reg = Registration(600, FakeRandom(), "r", "a")
        reg.start(0)
        response = parse_message(make_response(register, 200, None, "t", headers).to_bytes())
        reg.response(reg.next_cseq(), response, 0, ours)
        assert reg.granted_s == granted, headers
        assert reg.state == REGISTERED


def test_a_broken_tcp_connection_to_the_registrar_registers_again_soon():
    net = Network()
    registrar = net.add(PBX, Registrar(PBX))
    door = net.agent(
        DOOR, seed=7, registrar="sip:192.0.2.1;transport=tcp", password="secret", expires_s=600
    )
    net.send(DOOR, Register())
    net.run_for(1000)
    assert door.registration.state == REGISTERED
    count = len(registrar.received)
    refresh_at = door.next_deadline()
    door.connection_lost(("192.0.2.99", 5060), "tcp", net.now_ms)  # another peer
    door.connection_lost(PBX, "udp", net.now_ms)  # not a connection
    assert door.next_deadline() == refresh_at
    door.connection_lost(PBX, "tcp", net.now_ms)
    assert door.next_deadline() <= net.now_ms + 1500
    net.run_for(2000)
    assert len(registrar.received) == count + 1  # the cached nonce is reused: no new 401
    assert door.registration.state == REGISTERED
