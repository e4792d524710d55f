"""Commands to the user agent (imperative) and the events it reports (past tense).

Plain data classes, importable without the agent (the door controller and the runtime use them).
Two objects of the same class with the same fields compare equal, so tests can assert on them.
"""

from firmware.core.record import Record

# -- commands -------------------------------------------------------------------------------------


class Register(Record):
    """Register with the configured registrar and keep the binding refreshed."""

    _fields = ()


class Unregister(Record):
    """Remove the binding (REGISTER with Expires: 0) and stop refreshing."""

    _fields = ()


class PlaceCall(Record):
    """Call target (a SIP URI, or a user name at the configured domain); our RTP at rtp_addr.

    `UserAgent.send` returns the call's call_id (the SIP Call-ID; chosen for us when None)."""

    _fields = ("target", "rtp_addr", "call_id")

    def __init__(self, target, rtp_addr, call_id=None):
        self.target = target
        self.rtp_addr = rtp_addr
        self.call_id = call_id


class Ring(Record):
    """Tell the caller of an incoming call that we are alerting (180 Ringing)."""

    _fields = ("call_id",)

    def __init__(self, call_id):
        self.call_id = call_id


class Answer(Record):
    """Answer an incoming call (200 OK with our SDP answer); our RTP at rtp_addr."""

    _fields = ("call_id", "rtp_addr")

    def __init__(self, call_id, rtp_addr):
        self.call_id = call_id
        self.rtp_addr = rtp_addr


class Reject(Record):
    """Refuse an incoming call with a final status: 486 Busy Here, 480, 603 Decline, 488..."""

    _fields = ("call_id", "status")

    def __init__(self, call_id, status=486):
        self.call_id = call_id
        self.status = status


class Hangup(Record):
    """End a call: CANCEL before the answer, BYE after it, 480 for an unanswered incoming call."""

    _fields = ("call_id",)

    def __init__(self, call_id):
        self.call_id = call_id


class Reinvite(Record):
    """Send a re-INVITE with a new offer: direction "sendrecv", "sendonly" (hold) or "inactive"."""

    _fields = ("call_id", "direction")

    def __init__(self, call_id, direction="sendrecv"):
        self.call_id = call_id
        self.direction = direction


class Shutdown(Record):
    """Hang up every call and unregister; the agent then refuses new calls."""

    _fields = ()


# -- events ---------------------------------------------------------------------------------------

# RegistrationChanged.state
UNREGISTERED = "UNREGISTERED"
REGISTERING = "REGISTERING"
REGISTERED = "REGISTERED"
RETRYING = "RETRYING"
UNREGISTERING = "UNREGISTERING"
DISABLED = "DISABLED"  # no registrar configured: direct peer-to-peer calls only

# CallEnded.reason
HANGUP = "hangup"  # we hung up (BYE sent, or 480 to an unanswered incoming call)
REMOTE_HANGUP = "remote_hangup"  # the peer sent BYE
CANCELLED = "cancelled"  # a call cancelled before the answer, by us or by the caller
REJECTED = "rejected"  # a final non-2xx: the callee refused our call, or we refused theirs
TIMEOUT = "timeout"  # no final response (Timer B), or the dialog failed with 408
NO_ACK = "no_ack"  # our 200 OK was never acknowledged (RFC 3261 section 13.3.1.4): BYE sent
AUTH_FAILED = "auth_failed"  # the credentials were refused, or the challenge cannot be answered
TRANSPORT_ERROR = "transport_error"  # the runtime could not deliver our request
MEDIA_FAILED = "media_failed"  # the 200 OK carried no usable SDP answer: ACK and BYE sent
DIALOG_GONE = "dialog_gone"  # an in-dialog request got 481: the peer forgot the call


class RegistrationChanged(Record):
    """The registration state changed. status: the SIP status that caused it (None for timeouts,
    commands); expires_s: the lifetime the registrar granted (REGISTERED) or None."""

    _fields = ("state", "status", "reason", "expires_s")

    def __init__(self, state, status=None, reason="", expires_s=None):
        self.state = state
        self.status = status
        self.reason = reason
        self.expires_s = expires_s


class IncomingCall(Record):
    """An INVITE arrived. caller: the From address of record ("sip:601@fritz.box");
    display_name: From's display name or None; remote_addr: where the INVITE came from;
    media: the MediaParams we would answer with (None when the INVITE carried no offer)."""

    _fields = ("call_id", "caller", "remote_addr", "media", "display_name")

    def __init__(self, call_id, caller, remote_addr, media, display_name=None):
        self.call_id = call_id
        self.caller = caller
        self.remote_addr = remote_addr
        self.media = media
        self.display_name = display_name


class CallRinging(Record):
    """Our call is alerting (180) or has early media (183 with SDP: media is set)."""

    _fields = ("call_id", "status", "media")

    def __init__(self, call_id, status, media=None):
        self.call_id = call_id
        self.status = status
        self.media = media


class CallAnswered(Record):
    """The call is established (our call got 2xx and was ACKed, or we sent 200 to theirs)."""

    _fields = ("call_id", "media")

    def __init__(self, call_id, media):
        self.call_id = call_id
        self.media = media


class CallMediaChanged(Record):
    """A re-INVITE changed the stream (hold, resume, new address or codec)."""

    _fields = ("call_id", "media")

    def __init__(self, call_id, media):
        self.call_id = call_id
        self.media = media


class InfoReceived(Record):
    """An in-dialog INFO (for example application/dtmf-relay); body is bytes."""

    _fields = ("call_id", "content_type", "body")

    def __init__(self, call_id, content_type, body):
        self.call_id = call_id
        self.content_type = content_type
        self.body = body


class CallEnded(Record):
    """The call is over; reason is one of the constants above, status the SIP status or None."""

    _fields = ("call_id", "reason", "status")

    def __init__(self, call_id, reason, status=None):
        self.call_id = call_id
        self.reason = reason
        self.status = status


class MessageDropped(Record):
    """Network input that was logged and dropped (malformed, unmatched, not for us)."""

    _fields = ("reason", "addr")

    def __init__(self, reason, addr):
        self.reason = reason
        self.addr = addr
