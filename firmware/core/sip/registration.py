"""Registration policy (RFC 3261 section 10): when to send REGISTER and with which Expires.

`Registration` decides; the agent builds and sends. Every method that may want a REGISTER sent
returns the Expires value to send (an int) or None. The agent passes back the outcome of each
attempt (`response()` with the final status after digest authentication was dealt with, or
`failed()` for Timer F and transport errors); responses to anything but the latest REGISTER are
ignored, so an Unregister while a refresh is in flight is safe.

- A 2xx: REGISTERED with the lifetime the registrar granted (our Contact's `expires`, else
  Expires, else what we asked for); refresh after half of it, never later than the lifetime minus
  `margin_ms` (64*T1 by default: a refresh that times out still ends before the binding does).
- 423 Interval Too Brief: ask again at once with its Min-Expires.
- Anything else (401/403 after auth failed, 408, 5xx, 6xx, no answer, transport error): RETRYING
  after a backoff of 2 s doubling up to 5 min, each delay shortened by up to a quarter at random
  (the injected rng spreads a fleet of doors), and never shorter than a Retry-After. Without limit:
  a door must come back by itself after a PBX outage.
- `stop()`: REGISTER with Expires: 0 when a binding may exist (UNREGISTERING), then UNREGISTERED.

The same Call-ID and an increasing CSeq are used for every REGISTER (section 10.2.4); the agent
owns them through `call_id`, `from_tag` and `next_cseq()`.
"""

from firmware.core.sip.events import (
    REGISTERED,
    REGISTERING,
    RETRYING,
    UNREGISTERED,
    UNREGISTERING,
    RegistrationChanged,
)

BACKOFF_FIRST_MS = 2000
BACKOFF_MAX_MS = 300000
RETRY_AFTER_MAX_S = 3600


# After the registrar's TCP connection breaks (RFC 5626 section 4.4.1, in spirit): re-register.
FLOW_RECOVERY_MS = 500


class Registration:
    def __init__(self, expires_s, rng, call_id, from_tag, margin_ms=32000):
        if expires_s <= 0:
            raise ValueError("expires_s must be positive")
        self.expires_s = expires_s  # what we ask for (raised by 423)
        self.rng = rng
        self.call_id = call_id
        self.from_tag = from_tag
        self.margin_ms = margin_ms
        self.cseq = 0
        self.state = UNREGISTERED
        self.status = None
        self.reason = ""
        self.granted_s = None
        self.failures = 0
        self.sent_expires = None  # Expires of the REGISTER in flight, None when none is
        self.wanted = False
        self._deadline = None
        self.events = []

    @property
    def summary(self):
        return RegistrationChanged(self.state, self.status, self.reason, self.granted_s)

    def next_cseq(self):
        self.cseq += 1
        return self.cseq

    def next_deadline(self):
        return self._deadline

    # -- commands ------------------------------------------------------------------------------
    def start(self, now_ms):
        """Register (again): returns the Expires to send now, or None if one is in flight."""
        self.wanted = True
        if self.sent_expires:
            return None
        return self._attempt(REGISTERING if self.state != REGISTERED else REGISTERED)

    def stop(self, now_ms):
        """Unregister: returns 0 (send REGISTER with Expires: 0) or None when nothing to remove."""
        self.wanted = False
        self._deadline = None
        if self.state == UNREGISTERED or self.state == UNREGISTERING:
            return None
        self._set(UNREGISTERING, None, "unregistering", None)
        self.sent_expires = 0
        return 0

    def handle_timer(self, now_ms):
        if self._deadline is None or now_ms < self._deadline:
            return None
        self._deadline = None
        if not self.wanted or self.sent_expires is not None:
            return None
        return self._attempt(self.state if self.state == REGISTERED else REGISTERING)

    def flow_lost(self, now_ms):
        """The connection the binding lives on broke (a registrar restart loses its bindings
        with it): register again soon, spread by up to a second so restarts do not storm."""
        if not self.wanted or self.sent_expires is not None or self.state != REGISTERED:
            return
        self._deadline = now_ms + FLOW_RECOVERY_MS + (self.rng.getrandbits(10) % 1000)

    # -- outcomes ------------------------------------------------------------------------------
    def response(self, cseq, response, now_ms, contact_uri):
        """The final response (after authentication) to REGISTER number cseq. Returns the Expires
        of a REGISTER to send now (423 retry) or None."""
        if cseq != self.cseq or self.sent_expires is None:
            return None
        sent = self.sent_expires
        self.sent_expires = None
        status = response.status
        if sent == 0:
            self._set(UNREGISTERED, status, response.reason, None)
            return None
        if 200 <= status < 300:
            granted = _granted_s(response, contact_uri, sent)
            if granted <= 0:
                return self._fail(status, "registrar granted no binding", now_ms, None)
            self.failures = 0
            self._set(REGISTERED, status, response.reason, granted)
            self._deadline = now_ms + self.refresh_ms(granted)
            return None
        if status == 423:
            minimum = _uint(response.get("min-expires"))
            if minimum is not None and minimum > sent:
                self.expires_s = minimum
                return self._attempt(self.state)
        retry_after = _uint((response.get("retry-after") or "").split(";")[0].split("(")[0])
        return self._fail(status, response.reason, now_ms, retry_after)

    def failed(self, cseq, reason, now_ms):
        """No final response (Timer F) or a transport error for REGISTER number cseq."""
        if cseq != self.cseq or self.sent_expires is None:
            return None
        sent = self.sent_expires
        self.sent_expires = None
        if sent == 0:
            self._set(UNREGISTERED, None, reason, None)
            return None
        return self._fail(None, reason, now_ms, None)

    # -- internals -----------------------------------------------------------------------------
    def refresh_ms(self, granted_s):
        lifetime = granted_s * 1000
        return max(min(lifetime // 2, lifetime - self.margin_ms), lifetime // 4)

    def backoff_ms(self, failures):
        nominal = BACKOFF_MAX_MS
        if failures < 10:
            nominal = min(BACKOFF_FIRST_MS << (failures - 1), BACKOFF_MAX_MS)
        return nominal - (self.rng.getrandbits(16) * (nominal // 4) >> 16)

    def _attempt(self, state):
        self._deadline = None
        self.sent_expires = self.expires_s
        if state != self.state:
            self._set(state, self.status, self.reason, self.granted_s)
        return self.expires_s

    def _fail(self, status, reason, now_ms, retry_after_s):
        self.failures += 1
        delay = self.backoff_ms(self.failures)
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, RETRY_AFTER_MAX_S) * 1000)
        self._set(RETRYING, status, reason, None)
        if self.wanted:
            self._deadline = now_ms + delay
        return None

    def _set(self, state, status, reason, granted_s):
        changed = (state, status, granted_s) != (self.state, self.status, self.granted_s)
        self.state = state
        self.status = status
        self.reason = reason
        self.granted_s = granted_s
        if changed:
            self.events.append(self.summary)


def _uint(text):
    if text is None:
        return None
    text = text.strip()
    if not text or not text.isdigit() or len(text) > 10:
        return None
    return int(text)


def _same_binding(a, b):
    return (
        a.is_sip
        and b.is_sip
        and a.user == b.user
        and a.host.lower() == b.host.lower()
        and (a.port or 5060) == (b.port or 5060)
    )


def _granted_s(response, contact_uri, requested_s):
    """The lifetime of our binding in a 2xx to REGISTER (RFC 3261 section 10.2.4)."""
    try:
        for contact in response.contacts:
            if _same_binding(contact.uri, contact_uri):
                value = _uint(contact.param("expires"))
                if value is not None:
                    return value
        expires = response.expires
    except ValueError:
        expires = None
    return expires if expires is not None else requested_s
