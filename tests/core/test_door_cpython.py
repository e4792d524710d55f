"""The door controller against the real configuration schema, and random event streams."""

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.core.door import (
    CALLING,
    IDLE,
    IN_CALL,
    RINGING,
    ButtonPressed,
    CallRequested,
    DoorController,
    DoorOpenRequested,
    DoorSensorChanged,
    DoorUnlocked,
    HangupRequested,
    PulseRelay,
    SetLed,
)
from firmware.core.media import DtmfReceived, MediaTimedOut
from firmware.core.sip.events import (
    REGISTERED,
    RETRYING,
    UNREGISTERED,
    Answer,
    CallAnswered,
    CallEnded,
    CallRinging,
    Hangup,
    IncomingCall,
    PlaceCall,
    RegistrationChanged,
    Reject,
    Ring,
)
from firmware.runtime.config import defaults, validate
from tests.core.support import FakeRandom
from tests.core.test_door import ANSWER, CALL, DOOR, drain


def test_the_test_defaults_are_the_schema_defaults():
    schema = defaults()
    for name, ours in (("call", CALL), ("door", DOOR), ("answer", ANSWER)):
        theirs = dict(schema[name])
        if name == "call":
            theirs["targets"] = ours["targets"]  # the tests call two flats
        assert ours == theirs, name


def test_a_validated_config_is_accepted_as_it_is():
    config = validate(
        {
            "call": {"targets": ["sip:flat1@pbx.example.com"], "strategy": "sequential"},
            "door": {"code": "#"},
            "answer": {"allowed": ["flat101", "sip:flat102@pbx.example.com"], "delay_s": 1},
        }
    )
    door = DoorController(config, FakeRandom(), 0)
    assert door.next_command() == SetLed(IDLE)
    door.handle(ButtonPressed(), 10)
    placed = door.next_command()
    assert placed == PlaceCall("sip:flat1@pbx.example.com", None, placed.call_id)
    door.handle(IncomingCall("in1", "sip:flat102@pbx.example.com", ("192.0.2.1", 5060), None), 20)
    assert [door.next_command() for _ in range(3)][2] == Reject("in1", 486)


# -- random event streams -------------------------------------------------------------------------

CALLERS = ["sip:flat101@pbx.example.com", "sip:stranger@x.example", "garbage", None]
INCOMING_IDS = ["in1", "in2"]

step = st.tuples(
    st.integers(0, 40000),  # ms since the previous step
    st.sampled_from(
        [
            "timer",
            "button",
            "call",
            "hangup",
            "open",
            "sensor",
            "incoming",
            "answered",
            "ringing",
            "ended",
            "dtmf",
            "media_timeout",
            "registration",
        ]
    ),
    st.integers(0, 7),  # which call, caller, digit or state
)


def _event(kind, n, placed):
    calls = placed[-3:] + INCOMING_IDS + ["junk"]
    call_id = calls[n % len(calls)]
    if kind == "button":
        return ButtonPressed()
    if kind == "call":
        return CallRequested("http:t")
    if kind == "hangup":
        return HangupRequested("http:t")
    if kind == "open":
        return DoorOpenRequested("http:t")
    if kind == "sensor":
        return DoorSensorChanged(n % 2 == 0)
    if kind == "incoming":
        return IncomingCall(INCOMING_IDS[n % 2], CALLERS[n % 4], ("192.0.2.1", 5060), None)
    if kind == "answered":
        return CallAnswered(call_id, None)
    if kind == "ringing":
        return CallRinging(call_id, 180)
    if kind == "ended":
        return CallEnded(call_id, "rejected", 486)
    if kind == "dtmf":
        return DtmfReceived("1234#*x"[n % 7], "rfc4733")
    if kind == "media_timeout":
        return MediaTimedOut(30000)
    return RegistrationChanged([REGISTERED, RETRYING, UNREGISTERED][n % 3])


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["parallel", "sequential"]),
    st.sampled_from(["hangup", "ignore"]),
    st.sampled_from([0, 2]),
    st.sampled_from(["1#", "#", "12"]),
    st.lists(step, max_size=60),
)
def test_random_event_streams_keep_the_invariants(strategy, press, delay_s, code, steps):
    config = {
        "call": dict(CALL, strategy=strategy, button_during_call=press, cooldown_s=1),
        "door": dict(DOOR, code=code, max_attempts=2, lockout_s=30, hangup_after_open_s=5),
        "answer": dict(ANSWER, allowed=["flat101"], delay_s=delay_s),
    }
    door = DoorController(config, FakeRandom(3), 0)
    now = 0
    placed, offered, led = [], [], None
    for dt, kind, n in steps:
        if kind == "timer":  # the runtime's timer, on time
            if door.next_deadline() is None:
                continue
            now = door.next_deadline()
            door.handle_timer(now)
        else:  # an event, perhaps after deadlines the runtime has not served yet
            now += dt
            event = _event(kind, n, placed)
            if isinstance(event, IncomingCall):
                offered.append(event.call_id)
            door.handle(event, now)
        out = drain(door)
        for i, command in enumerate(out):
            if isinstance(command, PlaceCall):
                assert command.call_id not in placed and command.rtp_addr is None
                placed.append(command.call_id)
            elif isinstance(command, (Hangup, Answer, Ring, Reject)):
                assert command.call_id in placed or command.call_id in offered, command
            elif isinstance(command, PulseRelay):
                assert isinstance(out[i + 2], DoorUnlocked)
            elif isinstance(command, SetLed):
                assert command.state != led
                led = command.state
        deadline = door.next_deadline()
        assert deadline is None or deadline > now  # whatever was due has run
        status = door.status()
        assert door.state in (IDLE, CALLING, RINGING, IN_CALL)
        assert (door.state == CALLING) == bool(status["calling"])
        assert (door.state in (RINGING, IN_CALL)) == (status["call_id"] is not None)
        assert 0 <= status["attempts_left"] <= 2
