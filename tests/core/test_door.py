"""The door controller as event -> command tables on a fake clock (CPython and MicroPython)."""

from firmware.core.door import (
    BUSY,
    BUTTON,
    CALLING,
    CONFIRM,
    COOLDOWN,
    DOOR_OPEN,
    DTMF,
    ERROR,
    HTTP,
    IDLE,
    IN_CALL,
    IN_PROGRESS,
    LOCKED_OUT,
    NO_CALL,
    NO_TARGETS,
    RATE_LIMITED,
    RINGBACK,
    RINGING,
    WRONG_CODE,
    ButtonPressed,
    CallRequested,
    CodeRejected,
    DoorController,
    DoorOpenRequested,
    DoorSensorChanged,
    DoorUnlocked,
    HangupRequested,
    InputIgnored,
    PlayTone,
    PulseRelay,
    SetLed,
    StopTone,
)
from firmware.core.media import DtmfReceived, MediaTimedOut
from firmware.core.sip.events import (
    CANCELLED,
    DISABLED,
    REGISTERED,
    REGISTERING,
    REJECTED,
    REMOTE_HANGUP,
    RETRYING,
    UNREGISTERED,
    Answer,
    CallAnswered,
    CallEnded,
    CallMediaChanged,
    CallRinging,
    Hangup,
    IncomingCall,
    InfoReceived,
    MessageDropped,
    PlaceCall,
    RegistrationChanged,
    Reject,
    Ring,
)
from tests.core.support import FakeRandom, raises

F1 = "sip:flat1@pbx.example.com"
F2 = "sip:flat2@pbx.example.com"
F3 = "sip:flat3@pbx.example.com"
FLAT101 = "sip:flat101@pbx.example.com"
STRANGER = "sip:stranger@elsewhere.example.net"
ADDR = ("192.0.2.7", 5060)
TIMER = "timer"

# The schema's defaults (test_door_cpython.py checks they still are), with two targets.
CALL = {
    "targets": [F1, F2],
    "strategy": "parallel",
    "ring_timeout_s": 30,
    "target_timeout_s": 15,
    "max_call_s": 180,
    "button_during_call": "hangup",
    "cooldown_s": 3,
    "max_calls_per_hour": 30,
    "ringback": "eu",
    "inactivity_timeout_s": 30,
}
DOOR = {
    "code": "1234#",
    "pulse_ms": 3000,
    "max_attempts": 3,
    "lockout_s": 300,
    "hangup_after_open_s": 0,
}
ANSWER = {"auto_answer": True, "allowed": [], "delay_s": 0, "reject_status": 403}


def config(call=None, door=None, answer=None):
    """The defaults above with some keys changed, as the runtime passes them (dicts of sections)."""
    sections = {"call": dict(CALL), "door": dict(DOOR), "answer": dict(ANSWER)}
    for name, changes in (("call", call), ("door", door), ("answer", answer)):
        for key in sorted(changes or {}):
            assert key in sections[name], key
            sections[name][key] = changes[key]
    return sections


def drain(door):
    """Every command the door has queued."""
    out = []
    command = door.next_command()
    while command is not None:
        out.append(command)
        command = door.next_command()
    return out


def _rename(obj, names):
    """obj with every string field found in `names` replaced by its value (in place)."""
    for name in getattr(type(obj), "_fields", ()):
        value = getattr(obj, name)
        if isinstance(value, str) and value in names:
            setattr(obj, name, names[value])
    return obj


class Scenario:
    """A DoorController on a fake clock, driven by rows of (time_ms, event, expected commands).

    event is TIMER (the row's time must be exactly the door's next deadline) or an event; an event
    row may not come after a deadline that no TIMER row fired, so every timer shows in the table.
    The door's random Call-IDs appear as c1, c2, ... in the order of its PlaceCall commands, and
    events name calls the same way."""

    def __init__(self, cfg=None, seed=5):
        self.door = DoorController(cfg or config(), FakeRandom(seed), 0)
        self.now = 0
        self.ids = {}  # c1 -> Call-ID
        self.aliases = {}  # Call-ID -> c1
        assert self.drain() == [SetLed(IDLE)]

    def run(self, rows):
        """Check rows in order; an item that is a list (from keys()) holds rows of its own."""
        flat = []
        for item in rows:
            if isinstance(item, list):
                flat.extend(item)
            else:
                flat.append(item)
        for i, (t, event, expected) in enumerate(flat):
            where = "row %d (%d ms, %r)" % (i, t, event)
            assert t >= self.now, where + ": time goes backwards"
            deadline = self.door.next_deadline()
            if event == TIMER:
                assert deadline == t, "%s: the next deadline is %r" % (where, deadline)
                self.door.handle_timer(t)
            else:
                assert deadline is None or deadline > t, "%s: skips the timer at %d" % (
                    where,
                    deadline,
                )
                self.door.handle(_rename(event, self.ids), t)
            self.now = t
            got = self.drain()
            assert got == expected, "%s:\n  got      %r\n  expected %r" % (where, got, expected)
        return self

    def drain(self):
        out = drain(self.door)
        for command in out:
            if isinstance(command, PlaceCall) and command.call_id not in self.aliases:
                alias = "c%d" % (len(self.aliases) + 1)
                self.aliases[command.call_id] = alias
                self.ids[alias] = command.call_id
        return [_rename(command, self.aliases) for command in out]

    def status(self):
        """The door's status() with the call named as in the table."""
        status = self.door.status()
        status["call_id"] = self.aliases.get(status["call_id"], status["call_id"])
        return status


def keys(start_ms, digits, expected, step_ms=200):
    """Rows sending digits step_ms apart; the last digit's row expects `expected`."""
    rows = [(start_ms + i * step_ms, DtmfReceived(d, "rfc4733"), []) for i, d in enumerate(digits)]
    rows[-1] = (rows[-1][0], rows[-1][1], expected)
    return rows


def opened(by, method, call_id, *more):
    """What an opening sends (with the default pulse_ms), then `more`."""
    out = [PulseRelay(3000), PlayTone(CONFIRM), DoorUnlocked(by, method, call_id)]
    out.extend(more)
    return out


def rings(*calls):
    """What starting an attempt sends: a PlaceCall per (target, call), ringback, the LED."""
    out = [PlaceCall(target, None, call_id) for target, call_id in calls]
    out.extend([PlayTone(RINGBACK), SetLed(CALLING)])
    return out


def answered(cfg=None):
    """A one-target door whose button call c1 to F1 was answered at 1000 ms."""
    s = Scenario(cfg or config(call={"targets": [F1]}))
    return s.run(
        [
            (0, ButtonPressed(), rings((F1, "c1"))),
            (1000, CallAnswered("c1", None), [StopTone(), SetLed(IN_CALL)]),
        ]
    )


# -- calling out ----------------------------------------------------------------------------------


def test_parallel_rings_every_target_and_the_first_answer_wins():
    s = Scenario()
    s.run(
        [
            (1000, ButtonPressed(), rings((F1, "c1"), (F2, "c2"))),
            (1200, CallRinging("c1", 180), []),
            (1300, CallRinging("c2", 183), []),
            (5000, CallAnswered("c2", None), [Hangup("c1"), StopTone(), SetLed(IN_CALL)]),
            (5100, CallEnded("c1", CANCELLED, 487), []),  # the cancelled leg is forgotten
            (5200, CallAnswered("c1", None), []),  # and so is a 200 that crossed our CANCEL
        ]
    )
    assert s.door.state == IN_CALL
    assert s.status()["call_id"] == "c2" and s.status()["peer"] == F2
    s.run([(60000, CallEnded("c2", REMOTE_HANGUP), [SetLed(IDLE)])])
    assert s.door.state == IDLE and s.door.next_deadline() is None


def test_parallel_fails_when_every_target_refuses():
    Scenario().run(
        [
            (0, ButtonPressed(), rings((F1, "c1"), (F2, "c2"))),
            (500, CallEnded("c1", REJECTED, 486), []),  # one busy: the other still rings
            (700, CallEnded("c2", REJECTED, 603), [PlayTone(BUSY), SetLed(IDLE)]),
            (3700, TIMER, [StopTone()]),
        ]
    )


def test_sequential_moves_on_after_the_target_timeout_and_after_busy():
    s = Scenario(config(call={"strategy": "sequential", "targets": [F1, F2, F3]}))
    s.run(
        [
            (0, ButtonPressed(), rings((F1, "c1"))),
            (15000, TIMER, [Hangup("c1"), PlaceCall(F2, None, "c2")]),
            (15100, CallEnded("c1", CANCELLED, 487), []),
            (17000, CallEnded("c2", REJECTED, 486), [PlaceCall(F3, None, "c3")]),
            (20000, CallAnswered("c3", None), [StopTone(), SetLed(IN_CALL)]),
        ]
    )
    assert s.status()["peer"] == F3
    assert s.door.next_deadline() == 20000 + 180000  # only max_call_s is left


def test_sequential_moves_on_after_decline_and_fails_after_the_last_target():
    Scenario(config(call={"strategy": "sequential"})).run(
        [
            (0, ButtonPressed(), rings((F1, "c1"))),
            (2000, CallEnded("c1", REJECTED, 603), [PlaceCall(F2, None, "c2")]),
            (4000, CallEnded("c2", REJECTED, 486), [PlayTone(BUSY), SetLed(IDLE)]),
            (7000, TIMER, [StopTone()]),
        ]
    )


def test_the_whole_attempt_ends_after_ring_timeout_s():
    Scenario().run(
        [
            (0, ButtonPressed(), rings((F1, "c1"), (F2, "c2"))),
            (30000, TIMER, [Hangup("c1"), Hangup("c2"), PlayTone(BUSY), SetLed(IDLE)]),
            (30100, CallEnded("c1", CANCELLED, 487), []),
            (33000, TIMER, [StopTone()]),
        ]
    )
    # Sequential: the last target is cut short by the attempt's end, the third never rung.
    cfg = config(call={"strategy": "sequential", "targets": [F1, F2, F3], "ring_timeout_s": 20})
    Scenario(cfg).run(
        [
            (0, ButtonPressed(), rings((F1, "c1"))),
            (15000, TIMER, [Hangup("c1"), PlaceCall(F2, None, "c2")]),
            (20000, TIMER, [Hangup("c2"), PlayTone(BUSY), SetLed(IDLE)]),
            (23000, TIMER, [StopTone()]),
        ]
    )


def test_a_press_in_a_call_hangs_up_and_the_cooldown_follows():
    s = Scenario()
    s.run(
        [
            (0, ButtonPressed(), rings((F1, "c1"), (F2, "c2"))),
            (500, ButtonPressed(), [InputIgnored(BUTTON, IN_PROGRESS)]),  # impatient, not hangup
            (1000, CallAnswered("c1", None), [Hangup("c2"), StopTone(), SetLed(IN_CALL)]),
            (5000, ButtonPressed(), [Hangup("c1"), SetLed(IDLE)]),
            (5100, CallEnded("c1", "hangup"), []),
            (6000, ButtonPressed(), [InputIgnored(BUTTON, COOLDOWN)]),
            (7999, ButtonPressed(), [InputIgnored(BUTTON, COOLDOWN)]),
            (8000, ButtonPressed(), rings((F1, "c3"), (F2, "c4"))),
        ]
    )


def test_a_press_in_a_call_is_ignored_when_configured():
    s = answered(config(call={"targets": [F1], "button_during_call": "ignore"}))
    s.run([(5000, ButtonPressed(), [InputIgnored(BUTTON, IN_PROGRESS)])])
    assert s.door.state == IN_CALL


def test_the_cooldown_follows_every_call_end():
    s = answered(config(call={"targets": [F1], "cooldown_s": 10}))
    s.run(
        [
            (2000, CallEnded("c1", REMOTE_HANGUP), [SetLed(IDLE)]),
            (11999, ButtonPressed(), [InputIgnored(BUTTON, COOLDOWN)]),
            (12000, ButtonPressed(), rings((F1, "c2"))),
            (13000, CallEnded("c2", REJECTED, 486), [PlayTone(BUSY), SetLed(IDLE)]),  # failed too
            (16000, TIMER, [StopTone()]),
            (22999, ButtonPressed(), [InputIgnored(BUTTON, COOLDOWN)]),
        ]
    )
    assert s.status()["cooldown_until_ms"] == 23000


def test_the_rate_limit_is_a_sliding_hour():
    hour = 3600 * 1000
    s = Scenario(config(call={"targets": [F1], "max_calls_per_hour": 2, "cooldown_s": 0}))
    s.run(
        [
            (0, ButtonPressed(), rings((F1, "c1"))),
            (1000, CallEnded("c1", REJECTED, 486), [PlayTone(BUSY), SetLed(IDLE)]),
            (4000, TIMER, [StopTone()]),
            (60000, ButtonPressed(), rings((F1, "c2"))),
            (61000, CallEnded("c2", REJECTED, 486), [PlayTone(BUSY), SetLed(IDLE)]),
            (64000, TIMER, [StopTone()]),
            (65000, ButtonPressed(), [InputIgnored(BUTTON, RATE_LIMITED)]),
            (hour - 1, ButtonPressed(), [InputIgnored(BUTTON, RATE_LIMITED)]),
        ]
    )
    assert s.status()["calls_this_hour"] == 2
    s.run(
        [
            (hour, ButtonPressed(), rings((F1, "c3"))),
            (hour + 1000, CallEnded("c3", REJECTED, 486), [PlayTone(BUSY), SetLed(IDLE)]),
            (hour + 4000, TIMER, [StopTone()]),
            (hour + 5000, ButtonPressed(), [InputIgnored(BUTTON, RATE_LIMITED)]),  # 60 s and 1 h
            (hour + 60000, ButtonPressed(), rings((F1, "c4"))),
        ]
    )


def test_an_empty_target_list_calls_nobody():
    s = Scenario(config(call={"targets": []}))
    s.run(
        [
            (0, ButtonPressed(), [InputIgnored(BUTTON, NO_TARGETS)]),
            (10, CallRequested("http:panel"), [InputIgnored("http:panel", NO_TARGETS)]),
        ]
    )
    assert s.door.state == IDLE and s.status()["calls_this_hour"] == 0


# -- the door code --------------------------------------------------------------------------------


def test_the_right_code_pulses_the_relay_and_plays_the_confirmation():
    s = answered()
    s.run(
        [
            keys(2000, "1234#", opened(F1, DTMF, "c1", SetLed(DOOR_OPEN))),
            (5800, TIMER, [SetLed(IN_CALL)]),
        ]
    )
    last = s.status()["last_opening"]
    assert last == {"at_ms": 2800, "by": F1, "method": DTMF, "call_id": s.ids["c1"]}
    assert s.door.state == IN_CALL  # hangup_after_open_s is 0: the call goes on


def test_wrong_codes_lock_the_code_until_lockout_s_has_passed():
    s = answered(config(call={"targets": [F1]}, door={"lockout_s": 60}))
    s.run(
        [
            keys(2000, "1111#", [CodeRejected(F1, "c1", WRONG_CODE, 2)]),
            keys(4000, "2222#", [CodeRejected(F1, "c1", WRONG_CODE, 1)]),
            keys(6000, "3333#", [CodeRejected(F1, "c1", WRONG_CODE, 0)]),
        ]
    )
    status = s.status()
    assert status["attempts_left"] == 0 and status["locked_until_ms"] == 6800 + 60000
    s.run(
        [
            keys(8000, "1234#", [CodeRejected(F1, "c1", LOCKED_OUT, 0)]),
            keys(10000, "9999#", [CodeRejected(F1, "c1", LOCKED_OUT, 0)]),  # counts nothing
            keys(65000, "1234", []),
            (66799, DtmfReceived("#", "rfc4733"), [CodeRejected(F1, "c1", LOCKED_OUT, 0)]),
            keys(66799, "1234", [], step_ms=0),
            (66800, DtmfReceived("#", "rfc4733"), opened(F1, DTMF, "c1", SetLed(DOOR_OPEN))),
            (69800, TIMER, [SetLed(IN_CALL)]),
        ]
    )
    status = s.status()
    assert status["attempts_left"] == 3 and status["locked_until_ms"] is None


def test_the_lockout_outlives_the_call():
    s = answered(config(call={"targets": [F1], "cooldown_s": 0}, door={"max_attempts": 1}))
    s.run(
        [
            keys(2000, "0#", [CodeRejected(F1, "c1", WRONG_CODE, 0)]),
            (3000, CallEnded("c1", REMOTE_HANGUP), [SetLed(IDLE)]),
            (4000, ButtonPressed(), rings((F1, "c2"))),
            (5000, CallAnswered("c2", None), [StopTone(), SetLed(IN_CALL)]),
            keys(6000, "1234#", [CodeRejected(F1, "c2", LOCKED_OUT, 0)]),
        ]
    )


def test_wrong_attempts_are_forgotten_after_an_opening_and_after_lockout_s():
    s = answered(config(call={"targets": [F1]}, door={"lockout_s": 60}))
    s.run(
        [
            keys(2000, "1111#", [CodeRejected(F1, "c1", WRONG_CODE, 2)]),
            keys(4000, "2222#", [CodeRejected(F1, "c1", WRONG_CODE, 1)]),
            keys(6000, "1234#", opened(F1, DTMF, "c1", SetLed(DOOR_OPEN))),
            (9800, TIMER, [SetLed(IN_CALL)]),
            keys(10000, "1111#", [CodeRejected(F1, "c1", WRONG_CODE, 2)]),  # '#' at 10800
            keys(20000, "2222#", [CodeRejected(F1, "c1", WRONG_CODE, 1)]),  # '#' at 20800
        ]
    )
    assert s.status()["attempts_left"] == 1
    # The '#' at 80800 comes lockout_s after the last wrong attempt: the count starts over.
    s.run(keys(80000, "3333#", [CodeRejected(F1, "c1", WRONG_CODE, 2)]))


def test_a_gap_of_more_than_5_s_starts_a_new_entry():
    s = answered()
    s.run(
        [
            keys(2000, "12", []),
            # 5001 ms later: "34#" is an entry of its own, and a wrong one
            keys(7201, "34#", [CodeRejected(F1, "c1", WRONG_CODE, 2)]),
            keys(10000, "12", []),
            # exactly 5000 ms later: still the same entry
            keys(15200, "34#", opened(F1, DTMF, "c1", SetLed(DOOR_OPEN))),
        ]
    )


# (code, keys sent 100 ms apart in one call, outcomes: O opened, W wrong attempt)
CODE_ENTRY = [
    ("1234#", "1234#", "O"),
    ("1234#", "91234#", "O"),  # stray digits before the code are harmless
    ("1234#", "#1234#", "O"),  # a lone '#' is not an attempt
    ("1234#", "#", ""),
    ("1234#", "##", ""),
    ("1234#", "1235#", "W"),
    ("1234#", "1235#1234#", "WO"),
    ("1234#", "12345678", ""),  # 8 digits: no verdict yet
    ("1234#", "123456789", "W"),  # 4 more digits than the code
    ("1234#", "12x34#", "O"),  # not a DTMF digit: dropped
    ("1234", "1234", "O"),
    ("1234", "1234#", "O"),  # the habitual '#' after the code does not count
    ("1234", "00001234", "O"),
    ("1234", "000001234", "W"),
    ("1234", "5678#", "W"),
    ("1234", "56785678", "W"),  # no '#' needed to count: the code cannot be scanned for
    ("#", "#", "O"),
    ("#", "7#", "O"),
    ("#", "1234", ""),
    ("#", "12345", "W"),
    ("12#34", "12#34", "O"),  # a '#' that can be part of the code does not end the entry
    ("12#34", "512#34", "O"),
    ("12#34", "1#", "W"),
    ("12#34", "12#5#", "W"),
    ("A1#", "a1#", "O"),  # letters in either case
    ("*0#", "*0#", "O"),
]


def test_code_entry_rules():
    for code, sent, outcomes in CODE_ENTRY:
        cfg = config(call={"targets": [F1]}, door={"code": code, "max_attempts": 100})
        s = answered(cfg)
        got = ""
        for i, digit in enumerate(sent):
            s.door.handle(DtmfReceived(digit, "rfc4733"), 2000 + 100 * i)
            for command in s.drain():
                if isinstance(command, DoorUnlocked):
                    got += "O"
                elif isinstance(command, CodeRejected):
                    assert command.reason == WRONG_CODE
                    got += "W"
        assert got == outcomes, (code, sent, got, outcomes)


def test_the_door_hangs_up_hangup_after_open_s_after_the_opening():
    s = answered(config(call={"targets": [F1]}, door={"hangup_after_open_s": 10}))
    s.run(
        [
            keys(2000, "1234#", opened(F1, DTMF, "c1", SetLed(DOOR_OPEN))),
            (5800, TIMER, [SetLed(IN_CALL)]),
            (12800, TIMER, [Hangup("c1"), SetLed(IDLE)]),
            (12900, CallEnded("c1", "hangup"), []),
        ]
    )
    assert s.door.next_deadline() is None


def test_a_call_ends_after_max_call_s():
    s = answered(config(call={"targets": [F1], "max_call_s": 60}))
    s.run([(61000, TIMER, [Hangup("c1"), SetLed(IDLE)])])
    assert s.door.state == IDLE


def test_no_rtp_hangs_up():
    s = answered()
    s.run(
        [
            (5000, MediaTimedOut(30000), [Hangup("c1"), SetLed(IDLE)]),
            (5100, MediaTimedOut(30000), []),
        ]
    )


# -- calls in -------------------------------------------------------------------------------------


def test_an_allowed_user_name_is_answered_after_the_delay():
    cfg = config(answer={"allowed": ["flat101"], "delay_s": 2})
    s = Scenario(cfg)
    s.run(
        [
            (1000, IncomingCall("in1", FLAT101, ADDR, None), [Ring("in1"), SetLed(CALLING)]),
            (1500, IncomingCall("in1", FLAT101, ADDR, None), []),  # a retransmission
        ]
    )
    assert s.door.state == RINGING and s.status()["peer"] == FLAT101
    s.run(
        [
            (3000, TIMER, [Answer("in1", None), SetLed(IN_CALL)]),
            (3100, CallAnswered("in1", None), []),
            keys(4000, "1234#", opened(FLAT101, DTMF, "in1", SetLed(DOOR_OPEN))),
            (7800, TIMER, [SetLed(IN_CALL)]),
            (9000, CallEnded("in1", REMOTE_HANGUP), [SetLed(IDLE)]),
        ]
    )


def test_an_allowed_uri_is_answered_at_once():
    s = Scenario(config(answer={"allowed": ["flat7", "sip:flat101@PBX.Example.com"]}))
    s.run(
        [
            (
                1000,
                IncomingCall("in1", FLAT101, ADDR, None),
                [Answer("in1", None), SetLed(IN_CALL)],
            ),
            (1050, CallAnswered("in1", None), []),
        ]
    )
    assert s.door.next_deadline() == 1000 + 180000


# (allowed entry, caller as the agent reports it, answered)
ALLOW_LIST = [
    ("flat101", FLAT101, True),
    ("flat101", "sips:flat101@other.example.org", True),  # any host
    ("flat101", "sip:flat%31%30%31@pbx.example.com", True),  # compared unescaped
    ("flat101", "sip:Flat101@pbx.example.com", False),  # user parts are case-sensitive
    ("flat101", "sip:flat1010@pbx.example.com", False),
    ("flat101", "sip:pbx.example.com", False),
    ("flat101", "tel:flat101", False),
    ("flat101", "not a uri", False),
    ("flat101", None, False),
    ("sip:flat101@pbx.example.com", "sip:flat101@PBX.Example.COM", True),
    ("SIP:flat101@pbx.example.com", FLAT101, True),
    ("sip:flat101@pbx.example.com", "sip:flat101@pbx.example.com:5070", True),  # no port given
    ("sip:flat101@pbx.example.com", "sip:flat101@pbx.example.com;transport=tcp", True),
    ("sip:flat101@pbx.example.com", "sips:flat101@pbx.example.com", False),
    ("sip:flat101@pbx.example.com", "sip:flat102@pbx.example.com", False),
    ("sip:flat101@pbx.example.com", "sip:flat101@evil.example.com", False),
    ("sip:flat101@pbx.example.com", "sip:flat101@pbx.example.com.evil.net", False),
    ("sip:flat101@pbx.example.com:5070", FLAT101, False),  # a given port must be there
    ("sip:flat101@pbx.example.com:5070", "sip:flat101@pbx.example.com:5070", True),
    ("sip:flat101@pbx.example.com;transport=tcp", FLAT101 + ";transport=TCP", True),
    ("sip:flat101@pbx.example.com;transport=tcp", FLAT101, False),
    ("sip:flat101@pbx.example.com;transport=tcp", FLAT101 + ";transport=udp", False),
    ("sip:pbx.example.com", "sip:pbx.example.com", True),
    ("sip:pbx.example.com", FLAT101, False),
    ("tel:+4930123", "tel:+4930123", True),
    ("tel:+4930123", "sip:+4930123@pbx.example.com", False),
]


def test_allow_list_matching():
    for entry, caller, allowed in ALLOW_LIST:
        door = DoorController(config(answer={"allowed": [entry]}), FakeRandom(), 0)
        door.next_command()  # SetLed(IDLE)
        door.handle(IncomingCall("in1", caller, ADDR, None), 100)
        expected = Answer("in1", None) if allowed else Reject("in1", 403)
        assert door.next_command() == expected, (entry, caller, allowed)


def test_callers_not_allowed_get_reject_status():
    s = Scenario(config(answer={"allowed": ["flat101"]}))
    s.run([(1000, IncomingCall("in1", STRANGER, ADDR, None), [Reject("in1", 403)])])
    assert s.door.state == IDLE
    s = Scenario(config(answer={"allowed": ["flat101"], "reject_status": 603}))
    s.run([(1000, IncomingCall("in1", STRANGER, ADDR, None), [Reject("in1", 603)])])
    s = Scenario(config(answer={"allowed": ["flat101"], "auto_answer": False}))
    s.run([(1000, IncomingCall("in1", FLAT101, ADDR, None), [Reject("in1", 403)])])
    s = Scenario()  # nobody is allowed by default
    s.run([(1000, IncomingCall("in1", FLAT101, ADDR, None), [Reject("in1", 403)])])


def test_a_second_call_gets_486_at_once():
    cfg = config(answer={"allowed": ["flat101"], "delay_s": 1})
    s = Scenario(cfg)
    s.run(
        [
            (0, IncomingCall("in1", FLAT101, ADDR, None), [Ring("in1"), SetLed(CALLING)]),
            (500, IncomingCall("in2", FLAT101, ADDR, None), [Reject("in2", 486)]),  # ringing
            (1000, TIMER, [Answer("in1", None), SetLed(IN_CALL)]),
            (2000, IncomingCall("in3", FLAT101, ADDR, None), [Reject("in3", 486)]),  # in a call
            (2100, IncomingCall("in4", STRANGER, ADDR, None), [Reject("in4", 486)]),
            (2200, CallEnded("in3", REJECTED, 486), []),
        ]
    )
    assert s.door.state == IN_CALL and s.status()["call_id"] == "in1"
    s = Scenario(cfg)  # while the button call rings
    s.run(
        [
            (0, ButtonPressed(), rings((F1, "c1"), (F2, "c2"))),
            (500, IncomingCall("in1", FLAT101, ADDR, None), [Reject("in1", 486)]),
        ]
    )


def test_a_caller_who_gives_up_while_ringing():
    s = Scenario(config(answer={"allowed": ["flat101"], "delay_s": 5}))
    s.run(
        [
            (0, IncomingCall("in1", FLAT101, ADDR, None), [Ring("in1"), SetLed(CALLING)]),
            (2000, CallEnded("in1", CANCELLED, 487), [SetLed(IDLE)]),
        ]
    )
    assert s.door.next_deadline() is None


def test_an_incoming_call_stops_the_busy_tone():
    s = Scenario(config(call={"targets": [F1]}, answer={"allowed": ["flat101"]}))
    s.run(
        [
            (0, ButtonPressed(), rings((F1, "c1"))),
            (1000, CallEnded("c1", REJECTED, 486), [PlayTone(BUSY), SetLed(IDLE)]),
            (
                2000,
                IncomingCall("in1", FLAT101, ADDR, None),
                [Answer("in1", None), StopTone(), SetLed(IN_CALL)],
            ),
        ]
    )
    assert s.door.next_deadline() == 2000 + 180000


# -- the HTTP API ---------------------------------------------------------------------------------


def test_http_open_call_and_hangup():
    s = Scenario()
    s.run(
        [
            (
                1000,
                DoorOpenRequested("http:panel"),
                opened("http:panel", HTTP, None, SetLed(DOOR_OPEN)),
            ),
            (4000, TIMER, [SetLed(IDLE)]),
            (5000, HangupRequested("http:panel"), [InputIgnored("http:panel", NO_CALL)]),
            (6000, CallRequested("http:panel"), rings((F1, "c1"), (F2, "c2"))),
            (6500, CallRequested("http:panel"), [InputIgnored("http:panel", IN_PROGRESS)]),
            (
                7000,
                HangupRequested("http:panel"),
                [Hangup("c1"), Hangup("c2"), StopTone(), SetLed(IDLE)],
            ),
            # not bound by the cooldown (or the rate limit): the API is authenticated
            (7500, CallRequested("http:panel"), rings((F1, "c3"), (F2, "c4"))),
            (8000, CallAnswered("c4", None), [Hangup("c3"), StopTone(), SetLed(IN_CALL)]),
            (
                9000,
                DoorOpenRequested("http:panel"),
                opened("http:panel", HTTP, None, SetLed(DOOR_OPEN)),
            ),
            (12000, TIMER, [SetLed(IN_CALL)]),
            (13000, HangupRequested("http:panel"), [Hangup("c4"), SetLed(IDLE)]),
        ]
    )
    assert s.status()["calls_this_hour"] == 0


def test_http_hangup_of_a_ringing_incoming_call():
    s = Scenario(config(answer={"allowed": ["flat101"], "delay_s": 5}))
    s.run(
        [
            (0, IncomingCall("in1", FLAT101, ADDR, None), [Ring("in1"), SetLed(CALLING)]),
            (1000, HangupRequested("http:panel"), [Hangup("in1"), SetLed(IDLE)]),
        ]
    )
    assert s.door.next_deadline() is None


def test_http_open_in_a_call_also_hangs_up_after_hangup_after_open_s():
    s = answered(config(call={"targets": [F1]}, door={"hangup_after_open_s": 5}))
    s.run(
        [
            (
                2000,
                DoorOpenRequested("http:admin"),
                opened("http:admin", HTTP, None, SetLed(DOOR_OPEN)),
            ),
            (5000, TIMER, [SetLed(IN_CALL)]),
            (7000, TIMER, [Hangup("c1"), SetLed(IDLE)]),
        ]
    )


def test_an_opening_outside_a_call_hangs_nothing_up():
    s = Scenario(config(door={"hangup_after_open_s": 5}, answer={"allowed": ["flat101"]}))
    s.run(
        [
            (0, DoorOpenRequested("http:x"), opened("http:x", HTTP, None, SetLed(DOOR_OPEN))),
            (3000, TIMER, [SetLed(IDLE)]),
            (
                4000,
                IncomingCall("in1", FLAT101, ADDR, None),
                [Answer("in1", None), SetLed(IN_CALL)],
            ),
        ]
    )
    assert s.door.next_deadline() == 4000 + 180000


# -- LEDs, status ---------------------------------------------------------------------------------


def test_leds_follow_a_whole_call():
    s = Scenario(config(call={"targets": [F1]}))
    s.run(
        [
            (0, RegistrationChanged(REGISTERING), []),
            (300, RegistrationChanged(REGISTERED, 200, "OK", 300), [SetLed(REGISTERED)]),
            (1000, ButtonPressed(), rings((F1, "c1"))),
            (1100, CallRinging("c1", 180), []),
            (4000, CallAnswered("c1", None), [StopTone(), SetLed(IN_CALL)]),
            keys(5000, "1234#", opened(F1, DTMF, "c1", SetLed(DOOR_OPEN))),
            (8800, TIMER, [SetLed(IN_CALL)]),
            (9000, CallEnded("c1", REMOTE_HANGUP), [SetLed(REGISTERED)]),
            (20000, RegistrationChanged(RETRYING, 503, "Service Unavailable"), [SetLed(ERROR)]),
            (21000, ButtonPressed(), rings((F1, "c2"))),
            (22000, CallEnded("c2", "transport_error"), [PlayTone(BUSY), SetLed(ERROR)]),
            (25000, TIMER, [StopTone()]),
            (26000, RegistrationChanged(REGISTERED, 200, "OK", 300), [SetLed(REGISTERED)]),
            (27000, RegistrationChanged(UNREGISTERED), [SetLed(IDLE)]),
            (28000, RegistrationChanged(DISABLED), [SetLed(REGISTERED)]),  # peer-to-peer: ready
            (29000, DoorOpenRequested("http:x"), opened("http:x", HTTP, None, SetLed(DOOR_OPEN))),
            (32000, TIMER, [SetLed(REGISTERED)]),
        ]
    )


def test_status_for_the_http_api():
    s = Scenario(config(door={"lockout_s": 60}))
    assert s.status() == {
        "state": IDLE,
        "registration": None,
        "call_id": None,
        "peer": None,
        "calling": [],
        "attempts_left": 3,
        "locked_until_ms": None,
        "cooldown_until_ms": None,
        "calls_this_hour": 0,
        "last_opening": None,
        "door_open": None,
    }
    s.run(
        [
            (0, RegistrationChanged(REGISTERED, 200, "OK", 300), [SetLed(REGISTERED)]),
            (10, DoorSensorChanged(False), []),
            (1000, ButtonPressed(), rings((F1, "c1"), (F2, "c2"))),
        ]
    )
    status = s.status()
    assert status["state"] == CALLING and status["calling"] == [F1, F2]
    assert status["call_id"] is None and status["calls_this_hour"] == 1
    assert status["registration"] == REGISTERED and status["door_open"] is False
    s.run(
        [
            (2000, CallAnswered("c1", None), [Hangup("c2"), StopTone(), SetLed(IN_CALL)]),
            keys(3000, "9#", [CodeRejected(F1, "c1", WRONG_CODE, 2)]),
            keys(4000, "1234#", opened(F1, DTMF, "c1", SetLed(DOOR_OPEN))),
            (5000, DoorSensorChanged(True), []),
        ]
    )
    status = s.status()
    assert status["state"] == IN_CALL and status["calling"] == []
    assert status["call_id"] == "c1" and status["peer"] == F1
    assert status["attempts_left"] == 3 and status["door_open"] is True
    assert status["last_opening"]["at_ms"] == 4800 and status["last_opening"]["by"] == F1
    s.run(
        [
            (6000, CallEnded("c1", REMOTE_HANGUP), []),  # the LED stays DOOR_OPEN
            (7800, TIMER, [SetLed(REGISTERED)]),
        ]
    )
    status = s.status()
    assert status["state"] == IDLE and status["call_id"] is None and status["peer"] is None
    assert status["cooldown_until_ms"] == 9000


# -- robustness -----------------------------------------------------------------------------------


class _Unknown:
    pass


def test_unexpected_events_are_ignored():
    s = Scenario(config(answer={"allowed": ["flat101"]}))
    s.run(
        [
            (0, CallEnded("nobody", REMOTE_HANGUP), []),
            (1, CallAnswered("nobody", None), []),
            (2, CallRinging("nobody", 180), []),
            (3, CallMediaChanged("nobody", None), []),
            (4, InfoReceived("nobody", "application/dtmf-relay", b"Signal=1"), []),
            (5, MessageDropped("garbage", ADDR), []),
            (6, DtmfReceived("1", "rfc4733"), []),  # not in a call
            (7, MediaTimedOut(30000), []),
            (8, _Unknown(), []),
            (9, HangupRequested("http:x"), [InputIgnored("http:x", NO_CALL)]),
            (10, IncomingCall("in1", "<sip:flat101@x>", ADDR, None), [Reject("in1", 403)]),
            (11, IncomingCall("in2", b"sip:flat101@x", ADDR, None), [Reject("in2", 403)]),
        ]
    )
    for event in ("text", None, 42):
        s.door.handle(event, 20)
    assert s.drain() == [] and s.door.state == IDLE
    s = answered()
    s.run(
        [
            (2000, DtmfReceived("12", "rfc4733"), []),
            (2001, DtmfReceived("", "rfc4733"), []),
            (2002, DtmfReceived(None, "rfc4733"), []),
            (2003, DtmfReceived("x", "inband"), []),
            (2004, CallEnded("other", REMOTE_HANGUP), []),
            (2005, CallAnswered("c1", None), []),
            (2006, CallRinging("c1", 180), []),
        ]
    )
    assert s.door.state == IN_CALL


def test_handle_runs_late_timers_first_in_order():
    door = DoorController(config(call={"strategy": "sequential"}), FakeRandom(), 0)
    assert door.next_command() == SetLed(IDLE)
    door.handle(ButtonPressed(), 0)
    first = drain(door)
    c1 = first[0].call_id
    assert first == [PlaceCall(F1, None, c1), PlayTone(RINGBACK), SetLed(CALLING)]
    # The runtime missed both timers (15 s for the first target, 30 s for the attempt): they run,
    # in order, before an answer at 40 s that comes too late for a call already given up.
    door.handle(CallAnswered(c1, None), 40000)
    out = drain(door)
    c2 = out[1].call_id if len(out) > 1 else None
    assert c2 != c1
    assert out == [Hangup(c1), PlaceCall(F2, None, c2), Hangup(c2), PlayTone(BUSY), SetLed(IDLE)]
    assert door.next_deadline() == 43000


def test_call_ids_come_from_the_rng():
    ids = []
    for _ in range(2):
        s = Scenario(config(call={"targets": [F1, F2, F3]}), seed=9)
        s.run([(0, ButtonPressed(), rings((F1, "c1"), (F2, "c2"), (F3, "c3")))])
        ids.append([s.ids["c1"], s.ids["c2"], s.ids["c3"]])
    assert ids[0] == ids[1]  # deterministic for a seed
    assert len(set(ids[0])) == 3
    for call_id in ids[0]:
        assert len(call_id) == 32 and all(c in "0123456789abcdef" for c in call_id)


def test_bad_configuration_raises_at_construction():
    bad = [
        config(call={"strategy": "random"}),
        config(call={"button_during_call": "answer"}),
        config(door={"code": ""}),
        config(door={"code": "12x4"}),
        config(answer={"allowed": ["flat101@pbx.example.com"]}),
        config(answer={"allowed": ["sip:"]}),
        config(answer={"allowed": [""]}),
    ]
    for cfg in bad:
        raises(ValueError, DoorController, cfg, FakeRandom(), 0)
    message = str(raises(ValueError, DoorController, bad[4], FakeRandom(), 0))
    assert "answer.allowed: item 1" in message, message
    cfg = config()
    del cfg["door"]["pulse_ms"]
    raises(KeyError, DoorController, cfg, FakeRandom(), 0)
