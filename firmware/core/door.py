"""The door controller: door policy as a sans-IO state machine (MicroPython-safe).

`DoorController(config, rng, now_ms)` turns events into commands and owns every door rule (targets,
timeouts, the code, the lockout, the allow-list); the runtime only carries things in and out:

- in, `handle(event, now_ms)`: the agent's events (`firmware.core.sip.events`), the media core's
  `DtmfReceived` and `MediaTimedOut`, and the door inputs defined here (`ButtonPressed`,
  `DoorSensorChanged`, and the HTTP API's `DoorOpenRequested`, `CallRequested`, `HangupRequested`).
  Unknown events, and events for calls the door does not know, are ignored. Digits sent by SIP
  INFO reach the door as `DtmfReceived` through `MediaStream.receive_info`, which also drops a
  key press signalled twice; the door ignores `InfoReceived` itself.
- out, `next_command()` in order: agent commands (`PlaceCall`, `Ring`, `Answer`, `Reject`,
  `Hangup`; `rtp_addr` is None for the runtime to fill), door commands (`PulseRelay`, `SetLed`,
  `PlayTone`, `StopTone`) and notifications for the log and the API (`DoorUnlocked`,
  `CodeRejected`, `InputIgnored`).
- time: `next_deadline()` and `handle_timer(now_ms)`. `handle()` first runs the timers already due,
  oldest first, so an event never overtakes a deadline that has passed.

Calls out. A button press calls `call.targets`: `parallel` places a call to every target and the
first to answer wins (the others get Hangup, which is a CANCEL); `sequential` rings one target at a
time and moves on when it has rung `target_timeout_s` or ends unanswered (busy, decline, offline,
any failure). The visitor hears ringback meanwhile. The attempt gives up after `ring_timeout_s`, or
when no target is left, and plays the busy tone for 3 s. Presses while a call is being set up are
ignored; in a call, `button_during_call` says hangup or ignore. After any call or attempt ends,
presses are ignored for `cooldown_s`; at most `max_calls_per_hour` button calls start in any
sliding hour. The API's `CallRequested` starts the same attempt, not bound by cooldown or rate limit
(the API is authenticated), and is ignored while a call is up.

Calls in. A caller on `answer.allowed` is answered (after Ring and `delay_s` when that is not 0);
anyone else gets `reject_status`, and every call gets 486 while the door is busy with another one.
An allow-list entry is either a user name, `flat101`, matching any sip:/sips: caller with that user
part (case-sensitive, after %-unescaping), or a full URI, `sip:flat101@pbx.example.com`, matching
when scheme and host are equal ignoring case and the user is equal; a port or parameters in the
entry must also be present and equal (parameters ignoring case), otherwise they are not compared.
The agent reports callers as addresses of record (no port, no parameters), so write entries
without them. An entry with `@` but no scheme is refused at construction.

The door code. Digits count only in an answered call and form an entry:
1. more than 5 s since the previous digit starts a new entry (the old one is dropped, not counted);
2. the door opens as soon as the entry ends with the code, so stray digits before it are harmless
   (`1234#`, `91234#` and `#1234#` all open with code `1234#`);
3. a `#` that cannot be part of the code at that point (no tail of the entry ending in it begins
   the code) ends the entry and counts as one wrong attempt, unless it is the entry's only digit;
4. an entry that reaches 4 digits more than the code without opening counts as one wrong attempt
   and starts over (so a code without `#` cannot be found by sending digits without end);
5. `max_attempts` wrong attempts lock the code for `lockout_s`, in this call and the next ones.
   Wrong attempts are forgotten after an opening and `lockout_s` after the last one (so also when
   a lockout ends). While locked, an entry that would open or count gets
   `CodeRejected(..., LOCKED_OUT, 0)` and counts nothing.
An opening pulses the strike for `pulse_ms`, plays the confirmation, reports `DoorUnlocked` and, in
a call with `hangup_after_open_s`, hangs up that long after the latest opening. The API's
`DoorOpenRequested` always opens: the lockout guards the DTMF code only. A call also ends
after `max_call_s`, on the peer's BYE, or when the media core reports no RTP (`MediaTimedOut`).
"""

from firmware.core.dtmf import DIGITS
from firmware.core.media import DtmfReceived, MediaTimedOut
from firmware.core.record import Record
from firmware.core.sip.events import (
    DISABLED,
    REGISTERED,
    RETRYING,
    Answer,
    CallAnswered,
    CallEnded,
    Hangup,
    IncomingCall,
    PlaceCall,
    RegistrationChanged,
    Reject,
    Ring,
)
from firmware.core.sip.syntax import SipParseError, find_param, unescape
from firmware.core.sip.uri import parse_uri

# DoorController.state
IDLE = "IDLE"  # no call
CALLING = "CALLING"  # a button press or CallRequested is ringing the targets
RINGING = "RINGING"  # an allowed incoming call waits for answer.delay_s
IN_CALL = "IN_CALL"  # a call is up

# SetLed.state, by priority: DOOR_OPEN, IN_CALL, CALLING (also while RINGING), then after the
# registration: REGISTERED (registered, or registration disabled: ready), ERROR (the agent is
# retrying a failed registration), IDLE (not registered yet).
DOOR_OPEN = "DOOR_OPEN"
ERROR = "ERROR"

# PlayTone.name: ringback and busy repeat until StopTone() or another PlayTone; the confirmation
# plays once and does not stop them.
RINGBACK = "ringback"
BUSY = "busy"
CONFIRM = "confirm"

# DoorUnlocked.method
DTMF = "dtmf"
HTTP = "http"

# CodeRejected.reason
WRONG_CODE = "wrong_code"
LOCKED_OUT = "locked_out"

# InputIgnored.reason
IN_PROGRESS = "in_progress"  # a call is being set up or is up
COOLDOWN = "cooldown"
RATE_LIMITED = "rate_limited"
NO_TARGETS = "no_targets"
NO_CALL = "no_call"

BUTTON = "button"  # InputIgnored.source for ButtonPressed

ENTRY_GAP_MS = 5000
STRAY_DIGITS = 4
BUSY_TONE_MS = 3000
HOUR_MS = 3600 * 1000


# -- inputs ---------------------------------------------------------------------------------------


class ButtonPressed(Record):
    """The call button was pressed (debounced by the HAL)."""

    _fields = ()


class DoorSensorChanged(Record):
    """The door sensor reports the door open (True) or closed (False)."""

    _fields = ("is_open",)

    def __init__(self, is_open):
        self.is_open = is_open


class DoorOpenRequested(Record):
    """The HTTP API asks to open the door; source names who asked (e.g. "http:panel")."""

    _fields = ("source",)

    def __init__(self, source):
        self.source = source


class CallRequested(Record):
    """The HTTP API asks to call the targets, as a button press does."""

    _fields = ("source",)

    def __init__(self, source):
        self.source = source


class HangupRequested(Record):
    """The HTTP API asks to end the call (or the attempt) in progress."""

    _fields = ("source",)

    def __init__(self, source):
        self.source = source


# -- outputs --------------------------------------------------------------------------------------


class PulseRelay(Record):
    """Energise the door strike for pulse_ms (the runtime caps it at the board's limit)."""

    _fields = ("pulse_ms",)

    def __init__(self, pulse_ms):
        self.pulse_ms = pulse_ms


class SetLed(Record):
    """Show a door state on the LEDs: IDLE REGISTERED CALLING IN_CALL DOOR_OPEN ERROR."""

    _fields = ("state",)

    def __init__(self, state):
        self.state = state


class PlayTone(Record):
    """Play a tone to the visitor (and into the call): RINGBACK, BUSY or CONFIRM."""

    _fields = ("name",)

    def __init__(self, name):
        self.name = name


class StopTone(Record):
    """Stop the ringback or busy tone."""

    _fields = ()


class DoorUnlocked(Record):
    """The strike was pulsed (the log of every opening). by: the peer's URI (DTMF) or the
    request's source (HTTP); method: DTMF or HTTP; call_id: the call the code came in, or None.
    Not "DoorOpened": that is the HAL's door-contact event, and a door can be unlocked and stay
    shut."""

    _fields = ("by", "method", "call_id")

    def __init__(self, by, method, call_id):
        self.by = by
        self.method = method
        self.call_id = call_id


class CodeRejected(Record):
    """A code entry did not open: reason WRONG_CODE or LOCKED_OUT; attempts_left until the
    lockout (0: locked now)."""

    _fields = ("by", "call_id", "reason", "attempts_left")

    def __init__(self, by, call_id, reason, attempts_left):
        self.by = by
        self.call_id = call_id
        self.reason = reason
        self.attempts_left = attempts_left


class InputIgnored(Record):
    """A press or request had no effect: source BUTTON or the request's source; reason one of
    IN_PROGRESS COOLDOWN RATE_LIMITED NO_TARGETS NO_CALL (for the log, and the API's 409)."""

    _fields = ("source", "reason")

    def __init__(self, source, reason):
        self.source = source
        self.reason = reason


# -- the controller -------------------------------------------------------------------------------


class DoorController:
    """Door policy; see the module docstring for the rules.

    config: a mapping with "call", "door" and "answer" mappings holding every key of those
    sections (a validated `Config` works); rng: an object with getrandbits(bits), used for
    Call-IDs; now_ms: the runtime's monotonic clock. Bad configuration raises ValueError here.
    """

    def __init__(self, config, rng, now_ms):
        call, door, answer = config["call"], config["door"], config["answer"]
        self._targets = list(call["targets"])
        self._parallel = _choice("call.strategy", call["strategy"], "parallel", "sequential")
        self._ring_ms = call["ring_timeout_s"] * 1000
        self._target_ms = call["target_timeout_s"] * 1000
        self._max_call_ms = call["max_call_s"] * 1000
        self._hangup_on_press = _choice(
            "call.button_during_call", call["button_during_call"], "hangup", "ignore"
        )
        self._cooldown_ms = call["cooldown_s"] * 1000
        self._max_calls_per_hour = call["max_calls_per_hour"]
        self._code = door["code"]
        if not self._code or any(c not in DIGITS for c in self._code):
            raise ValueError("door.code: must be DTMF digits 0-9 * # A-D (got %r)" % self._code)
        self._pulse_ms = door["pulse_ms"]
        self._max_attempts = door["max_attempts"]
        self._lockout_ms = door["lockout_s"] * 1000
        self._hangup_after_open_ms = door["hangup_after_open_s"] * 1000
        self._auto_answer = answer["auto_answer"]
        self._allowed = [_allowed_entry(i, e) for i, e in enumerate(answer["allowed"])]
        self._answer_delay_ms = answer["delay_s"] * 1000
        self._reject_status = answer["reject_status"]
        self._rng = rng
        self._now = now_ms
        self._out = []
        self.state = IDLE
        self._registration = None  # the agent's last RegistrationChanged.state
        self._led = None
        # The attempt (CALLING): [call_id, target] pairs ringing, in the order they were placed.
        self._legs = []
        self._next_target = 0
        self._attempt_end = None
        self._target_end = None  # sequential only
        # The call: the incoming one while RINGING, the answered one while IN_CALL.
        self._call_id = None
        self._peer = None
        self._answer_at = None
        self._call_end = None
        self._hangup_at = None
        # The door code.
        self._entry = ""
        self._last_digit_ms = None
        self._wrong = 0
        self._last_wrong_ms = None
        self._locked_until = None
        # The button.
        self._cooldown_until = None
        self._button_calls = []  # start times of the button calls, pruned to the last hour
        # The strike, the sensor, the tones.
        self._open_until = None
        self._last_opening = None
        self._door_is_open = None
        self._tone = None  # RINGBACK or BUSY while one plays
        self._tone_end = None
        self._update_led()

    # -- public -----------------------------------------------------------------------------------

    def handle(self, event, now_ms):
        """Take one event (timers already due run first)."""
        self._run_timers(now_ms)
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event, now_ms)
        self._update_led()

    def handle_timer(self, now_ms):
        self._run_timers(now_ms)
        self._update_led()

    def next_deadline(self):
        """When handle_timer() wants to run next (ms), or None."""
        deadline = None
        for at, _ in self._timers():
            if at is not None and (deadline is None or at < deadline):
                deadline = at
        return deadline

    def next_command(self):
        """The next command or notification, or None."""
        return self._out.pop(0) if self._out else None

    def status(self):
        """The door's state for the HTTP API, as of the last handle()/handle_timer().

        Times are on the runtime's monotonic clock (ms); None when not applicable."""
        now = self._now
        locked = self._is_locked(now)
        last = self._last_opening
        return {
            "state": self.state,
            "registration": self._registration,
            "call_id": self._call_id,
            "peer": self._peer,
            "calling": [target for _, target in self._legs],
            "attempts_left": 0 if locked else self._max_attempts - self._wrong_count(now),
            "locked_until_ms": self._locked_until if locked else None,
            "cooldown_until_ms": self._cooldown_until if self._cooling_down(now) else None,
            "calls_this_hour": len(self._recent_button_calls(now)),
            "last_opening": None
            if last is None
            else {"at_ms": last[0], "by": last[1], "method": last[2], "call_id": last[3]},
            "door_open": self._door_is_open,
        }

    # -- events -----------------------------------------------------------------------------------

    def _on_registration(self, event, now):
        self._registration = event.state

    def _on_button(self, event, now):
        if self.state == IN_CALL and self._hangup_on_press:
            self._end_call(now, True)
        elif self.state != IDLE:
            self._ignore(BUTTON, IN_PROGRESS)
        elif self._cooling_down(now):
            self._ignore(BUTTON, COOLDOWN)
        elif len(self._recent_button_calls(now)) >= self._max_calls_per_hour:
            self._ignore(BUTTON, RATE_LIMITED)
        elif self._start_attempt(BUTTON, now):
            self._button_calls.append(now)

    def _on_call_requested(self, event, now):
        if self.state != IDLE:
            self._ignore(event.source, IN_PROGRESS)
        else:
            self._start_attempt(event.source, now)

    def _on_hangup_requested(self, event, now):
        if self.state == CALLING:
            self._end_attempt(now)
            self._stop_tone()
        elif self.state != IDLE:
            self._end_call(now, True)
        else:
            self._ignore(event.source, NO_CALL)

    def _on_open_requested(self, event, now):
        self._unlock(event.source, HTTP, None, now)

    def _on_door_sensor(self, event, now):
        self._door_is_open = bool(event.is_open)

    def _on_incoming(self, event, now):
        call_id = event.call_id
        if call_id == self._call_id or self._leg(call_id) is not None:
            return  # a repeat of a call we know
        if self.state != IDLE:
            self._emit(Reject(call_id, 486))
        elif not (self._auto_answer and self._is_allowed(event.caller)):
            self._emit(Reject(call_id, self._reject_status))
        else:
            self._call_id = call_id
            self._peer = event.caller
            if self._answer_delay_ms:
                self.state = RINGING
                self._answer_at = now + self._answer_delay_ms
                self._emit(Ring(call_id))
            else:
                self._answer(now)

    def _on_answered(self, event, now):
        target = self._leg(event.call_id)
        if self.state != CALLING or target is None:
            return  # our own Answer confirmed, or a call we already hung up
        for call_id, _ in self._legs:
            if call_id != event.call_id:
                self._emit(Hangup(call_id))
        self._clear_attempt()
        self._connect(event.call_id, target, now)

    def _on_ended(self, event, now):
        if self.state == CALLING and self._leg(event.call_id) is not None:
            self._legs = [leg for leg in self._legs if leg[0] != event.call_id]
            if self._parallel:
                if not self._legs:
                    self._attempt_failed(now)
            else:
                self._target_end = None
                self._ring_next(now)
        elif (self.state == RINGING or self.state == IN_CALL) and event.call_id == self._call_id:
            self._end_call(now, False)

    def _on_dtmf(self, event, now):
        if self.state == IN_CALL:
            self._digit(event.digit, now)

    def _on_media_timeout(self, event, now):
        if self.state == IN_CALL:
            self._end_call(now, True)

    # -- timers -----------------------------------------------------------------------------------

    def _timers(self):
        # (deadline, action); simultaneous deadlines run in this order. Each action clears its own.
        return (
            (self._attempt_end, self._attempt_failed),
            (self._target_end, self._target_timed_out),
            (self._answer_at, self._answer),
            (self._call_end, self._hang_up),
            (self._hangup_at, self._hang_up),
            (self._tone_end, self._tone_timed_out),
            (self._open_until, self._strike_released),
        )

    def _run_timers(self, now):
        self._now = now
        while True:
            due = None
            for at, action in self._timers():
                if at is not None and at <= now and (due is None or at < due[0]):
                    due = (at, action)
            if due is None:
                return
            due[1](now)

    def _target_timed_out(self, now):
        for call_id, _ in self._legs:
            self._emit(Hangup(call_id))
        self._legs = []
        self._target_end = None
        self._ring_next(now)

    def _hang_up(self, now):
        self._end_call(now, True)

    def _tone_timed_out(self, now):
        self._stop_tone()

    def _strike_released(self, now):
        self._open_until = None

    # -- calls ------------------------------------------------------------------------------------

    def _start_attempt(self, source, now):
        if not self._targets:
            self._ignore(source, NO_TARGETS)
            return False
        self.state = CALLING
        self._attempt_end = now + self._ring_ms
        self._next_target = 0
        if self._parallel:
            while self._next_target < len(self._targets):
                self._place_next()
        else:
            self._ring_next(now)
        self._play(RINGBACK, None, now)
        return True

    def _place_next(self):
        target = self._targets[self._next_target]
        self._next_target += 1
        call_id = self._new_call_id()
        self._legs.append((call_id, target))
        self._emit(PlaceCall(target, None, call_id))

    def _ring_next(self, now):
        """Sequential: ring the next target, or give up when none is left."""
        if self._next_target < len(self._targets):
            self._place_next()
            self._target_end = now + self._target_ms  # the attempt's end, if sooner, runs first
        else:
            self._attempt_failed(now)

    def _attempt_failed(self, now):
        self._end_attempt(now)
        self._play(BUSY, BUSY_TONE_MS, now)

    def _end_attempt(self, now):
        for call_id, _ in self._legs:
            self._emit(Hangup(call_id))
        self._clear_attempt()
        self.state = IDLE
        self._cooldown_until = now + self._cooldown_ms

    def _clear_attempt(self):
        self._legs = []
        self._attempt_end = None
        self._target_end = None

    def _answer(self, now):
        self._answer_at = None
        self._emit(Answer(self._call_id, None))
        self._connect(self._call_id, self._peer, now)

    def _connect(self, call_id, peer, now):
        self.state = IN_CALL
        self._call_id = call_id
        self._peer = peer
        self._call_end = now + self._max_call_ms
        self._stop_tone()

    def _end_call(self, now, hang_up):
        if hang_up:
            self._emit(Hangup(self._call_id))
        self.state = IDLE
        self._call_id = None
        self._peer = None
        self._answer_at = None
        self._call_end = None
        self._hangup_at = None
        self._entry = ""
        self._cooldown_until = now + self._cooldown_ms

    def _leg(self, call_id):
        """The target of the ringing call call_id, or None."""
        for leg_id, target in self._legs:
            if leg_id == call_id:
                return target
        return None

    def _new_call_id(self):
        bits = self._rng.getrandbits
        return "%08x%08x%08x%08x" % (bits(32), bits(32), bits(32), bits(32))

    def _is_allowed(self, caller):
        uri = _caller_uri(caller)
        return uri is not None and any(_caller_matches(entry, uri) for entry in self._allowed)

    def _cooling_down(self, now):
        return self._cooldown_until is not None and now < self._cooldown_until

    def _recent_button_calls(self, now):
        self._button_calls = [t for t in self._button_calls if now - t < HOUR_MS]
        return self._button_calls

    # -- the door code ----------------------------------------------------------------------------

    def _digit(self, digit, now):
        if not isinstance(digit, str) or len(digit) != 1 or digit.upper() not in DIGITS:
            return
        digit = digit.upper()
        if self._last_digit_ms is not None and now - self._last_digit_ms > ENTRY_GAP_MS:
            self._entry = ""
        self._last_digit_ms = now
        entry = self._entry + digit
        self._entry = ""
        if entry.endswith(self._code):
            if self._is_locked(now):
                self._reject_code(LOCKED_OUT, 0)
            else:
                self._wrong = 0
                self._unlock(self._peer, DTMF, self._call_id, now)
        elif digit == "#" and not self._could_continue(entry):
            if len(entry) > 1:
                self._wrong_code(now)
        elif len(entry) >= len(self._code) + STRAY_DIGITS:
            self._wrong_code(now)
        else:
            self._entry = entry

    def _could_continue(self, entry):
        """Whether a tail of entry is the start of the code."""
        code = self._code
        return any(entry.endswith(code[:n]) for n in range(1, len(code)))

    def _wrong_code(self, now):
        if self._is_locked(now):
            self._reject_code(LOCKED_OUT, 0)
            return
        self._wrong = self._wrong_count(now) + 1
        self._last_wrong_ms = now
        left = self._max_attempts - self._wrong
        if left <= 0:
            left = 0
            self._locked_until = now + self._lockout_ms
        self._reject_code(WRONG_CODE, left)

    def _wrong_count(self, now):
        if self._last_wrong_ms is None or now - self._last_wrong_ms >= self._lockout_ms:
            return 0
        return self._wrong

    def _is_locked(self, now):
        return self._locked_until is not None and now < self._locked_until

    def _reject_code(self, reason, left):
        self._emit(CodeRejected(self._peer, self._call_id, reason, left))

    # -- outputs ----------------------------------------------------------------------------------

    def _unlock(self, by, method, call_id, now):
        self._emit(PulseRelay(self._pulse_ms))
        self._emit(PlayTone(CONFIRM))
        self._emit(DoorUnlocked(by, method, call_id))
        self._open_until = now + self._pulse_ms
        self._last_opening = (now, by, method, call_id)
        if self.state == IN_CALL and self._hangup_after_open_ms:
            self._hangup_at = now + self._hangup_after_open_ms

    def _play(self, name, duration_ms, now):
        self._emit(PlayTone(name))
        self._tone = name
        self._tone_end = None if duration_ms is None else now + duration_ms

    def _stop_tone(self):
        if self._tone is not None:
            self._emit(StopTone())
            self._tone = None
            self._tone_end = None

    def _ignore(self, source, reason):
        self._emit(InputIgnored(source, reason))

    def _emit(self, command):
        self._out.append(command)

    def _update_led(self):
        if self._open_until is not None:
            led = DOOR_OPEN
        elif self.state == IN_CALL:
            led = IN_CALL
        elif self.state != IDLE:
            led = CALLING
        elif self._registration == REGISTERED or self._registration == DISABLED:
            led = REGISTERED
        elif self._registration == RETRYING:
            led = ERROR
        else:
            led = IDLE
        if led != self._led:
            self._led = led
            self._emit(SetLed(led))


_HANDLERS = {
    RegistrationChanged: DoorController._on_registration,
    IncomingCall: DoorController._on_incoming,
    CallAnswered: DoorController._on_answered,
    CallEnded: DoorController._on_ended,
    DtmfReceived: DoorController._on_dtmf,
    MediaTimedOut: DoorController._on_media_timeout,
    ButtonPressed: DoorController._on_button,
    DoorSensorChanged: DoorController._on_door_sensor,
    DoorOpenRequested: DoorController._on_open_requested,
    CallRequested: DoorController._on_call_requested,
    HangupRequested: DoorController._on_hangup_requested,
}


# -- configuration helpers ------------------------------------------------------------------------


def _choice(key, value, yes, no):
    """True for yes, False for no; anything else is a configuration error."""
    if value != yes and value != no:
        raise ValueError("%s: must be %s or %s (got %r)" % (key, yes, no, value))
    return value == yes


def _allowed_entry(index, text):
    """An answer.allowed entry: a user name (str, unescaped) or a parsed URI."""
    problem = None
    if not isinstance(text, str) or not text:
        problem = "must be a non-empty string"
    elif ":" in text:
        try:
            return parse_uri(text)
        except SipParseError as exc:
            problem = "not a valid URI (%s)" % exc
    elif "@" in text:
        problem = "a user name or a full URI like sip:%s" % text
    if problem:
        raise ValueError("answer.allowed: item %d: %s (got %r)" % (index + 1, problem, text))
    return unescape(text)


def _caller_uri(caller):
    """The caller's address of record as a Uri, or None when it is not one."""
    if not isinstance(caller, str):
        return None
    try:
        return parse_uri(caller)
    except SipParseError:
        return None


def _caller_matches(entry, uri):
    if isinstance(entry, str):
        return uri.is_sip and uri.user is not None and unescape(uri.user) == entry
    if entry.scheme.lower() != uri.scheme.lower():
        return False
    if not entry.is_sip:
        return entry.opaque == uri.opaque
    if _user(entry) != _user(uri) or entry.host.lower() != uri.host.lower():
        return False
    if entry.port is not None and entry.port != uri.port:
        return False
    for name, value in entry.params:
        pair = find_param(uri.params, name)
        if pair is None or (value or "").lower() != (pair[1] or "").lower():
            return False
    return True


def _user(uri):
    return None if uri.user is None else unescape(uri.user)
