"""The user agent facade: one object for everything SIP the door does, sans-IO.

    config = AgentConfig(("192.0.2.10", 5060), registrar="sip:fritz.box", password="...")
    ua = UserAgent(config, rng, hashes, now_ms)
    ua.send(Register(), now_ms)
    ua.receive(datagram, (host, port), now_ms, "udp")
    ua.datagrams_to_send()  -> [(bytes, (host, port), "udp" | "tcp")]
    ua.next_event()         -> an event from events.py, or None
    ua.next_deadline()      -> ms or None;   ua.handle_timer(now_ms)
    ua.transport_failed((host, port), "udp", now_ms)   # ICMP error, refused TCP, DNS failure

Incoming requests are screened in the order of RFC 3261 section 8.2: method (405 or 501, with
Allow), Request-URI scheme (416), Require (420 with Unsupported), body type and encoding (415
with Accept / Accept-Encoding), Accept of an INVITE (406: we must answer with SDP). Malformed
requests get 400 (505 for another SIP version) built from the raw headers when Via, From, To,
Call-ID and CSeq are there, else they are dropped with a MessageDropped event; malformed and
unmatched responses, and responses with more than one Via or a Via that is not ours, are dropped
(18.1.2). Responses go back to the source address and port of the request (RFC 3581 symmetric
response routing; over TCP that is the same connection); the top Via gets `received` when the
source differs from sent-by and `rport=<port>` when asked for.

Every request we send has Max-Forwards: 70, a Via with `rport` and a fresh `z9hG4bK` branch, and
User-Agent; INVITE and REGISTER carry Contact with our transport. An outbound proxy, when
configured, is a pre-loaded Route (`;lr`) on every out-of-dialog request.
"""

from firmware import __version__
from firmware.core.sip.call import UAC, UAS, Call
from firmware.core.sip.dialog import uri_destination
from firmware.core.sip.events import (
    DISABLED,
    Answer,
    Hangup,
    MessageDropped,
    PlaceCall,
    Register,
    RegistrationChanged,
    Reinvite,
    Reject,
    Ring,
    Shutdown,
    Unregister,
)
from firmware.core.sip.message import (
    REASONS,
    Request,
    Response,
    header_key,
    parse_message,
    parse_via,
)
from firmware.core.sip.registration import Registration
from firmware.core.sip.syntax import SipParseError, quote
from firmware.core.sip.transaction import (
    MAGIC_COOKIE,
    RESPONSE,
    TIMEOUT,
    Timers,
    TransactionLayer,
    make_response,
)
from firmware.core.sip.uri import NameAddr, Uri, parse_uri

try:
    from firmware.core.sip.auth import DigestClient
except ImportError:  # pragma: no cover - auth.py is optional for peer-to-peer builds
    DigestClient = None

SERVED_METHODS = ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "INFO")
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO"
# Methods we know but do not serve (a UA is not a registrar, no subscriptions, no PRACK...): 405.
KNOWN_METHODS = (
    "REGISTER",
    "SUBSCRIBE",
    "NOTIFY",
    "PUBLISH",
    "MESSAGE",
    "REFER",
    "PRACK",
    "UPDATE",
)
SDP_TYPE = "application/sdp"
INFO_TYPES = ("application/dtmf-relay", "application/dtmf")
ACCEPT = "application/sdp, application/dtmf-relay, application/dtmf"
SUPPORTED_OPTION_TAGS = ()  # no extensions: Require of anything gets 420
URI_SCHEMES = ("sip", "sips", "tel")
MAX_FORWARDS = "70"


class AgentConfig:
    """What the agent needs to know about itself.

    local_addr: (ip, port) written in Via and Contact (the runtime's bound address);
    user, domain, display_name: our address of record sip:user@domain (domain defaults to the
    registrar's host, else the local IP); transport: "udp" or "tcp" for requests whose URI names
    none; registrar: "sip:fritz.box" or None for peer-to-peer only; outbound_proxy: a URI every
    out-of-dialog request is routed through; username/password: digest credentials (username
    defaults to user); expires_s: the registration lifetime we ask for; T1/T2/T4 in ms; max_calls
    and max_server_transactions bound memory (beyond them: 486 and 503); codecs: G.711 in our order
    of preference (both are always offered).
    """

    def __init__(
        self,
        local_addr,
        user="door",
        domain=None,
        display_name=None,
        transport="udp",
        registrar=None,
        outbound_proxy=None,
        username=None,
        password=None,
        expires_s=600,
        user_agent=None,
        t1_ms=500,
        t2_ms=4000,
        t4_ms=5000,
        max_calls=4,
        max_server_transactions=32,
        codecs=("PCMU", "PCMA"),
    ):
        if transport not in ("udp", "tcp"):
            raise ValueError("transport must be 'udp' or 'tcp', not %r" % transport)
        self.local_addr = local_addr
        self.user = user
        self.domain = domain
        self.display_name = display_name
        self.transport = transport
        self.registrar = registrar
        self.outbound_proxy = outbound_proxy
        self.username = username
        self.password = password
        self.expires_s = expires_s
        self.user_agent = user_agent or "sip-intercom/" + __version__
        self.t1_ms = t1_ms
        self.t2_ms = t2_ms
        self.t4_ms = t4_ms
        self.max_calls = max_calls
        self.max_server_transactions = max_server_transactions
        self.codecs = tuple(codecs)


class _RegistrationOwner:
    """Receives the reports of REGISTER transactions and feeds them to the Registration."""

    def __init__(self, ua, reg):
        self.ua = ua
        self.reg = reg

    def on_report(self, txn, kind, message):
        ua = self.ua
        reg = self.reg
        seq = txn.request.cseq.seq
        if kind == RESPONSE:
            if message.status < 200:
                return
            if message.status in (401, 407) and seq == reg.cseq:
                retry = ua.authenticate(txn, message, self)
                if retry is not None:
                    reg.cseq = retry.request.cseq.seq
                    return
            expires = reg.response(seq, message, ua.now_ms, ua.contact_uri(txn.transport))
        else:
            reason = "no response" if kind == TIMEOUT else "transport error"
            expires = reg.failed(seq, reason, ua.now_ms)
        if expires is not None:
            ua.send_register(expires)


class UserAgent:
    ALLOW = ALLOW

    def __init__(self, config, rng, hashes, now_ms):
        self.config = config
        self.rng = rng
        self.hashes = hashes
        self.now_ms = now_ms
        self.timers = Timers(config.t1_ms, config.t2_ms, config.t4_ms)
        self._layer = TransactionLayer(self.timers, config.max_server_transactions)
        self._events = []
        self._calls = []  # Call, oldest first
        self._dialogs = {}  # dialog id -> (Call, Dialog)
        self._shut_down = False
        self._registrar = parse_uri(config.registrar) if config.registrar else None
        self._proxy = None
        if config.outbound_proxy:
            self._proxy = parse_uri(config.outbound_proxy).with_param("lr")
        domain = config.domain
        if domain is None:
            domain = self._registrar.host if self._registrar is not None else config.local_addr[0]
        self.aor = Uri("sip", config.user, domain)
        self._auth = None
        if config.password is not None and DigestClient is not None:
            username = config.username or config.user
            self._auth = DigestClient(username, config.password, hashes, rng)
        self._reg = None
        self._reg_owner = None
        if self._registrar is not None:
            call_id = self.new_call_id()
            tag = self.new_tag()
            margin = self.timers.timeout_ms
            self._reg = Registration(config.expires_s, rng, call_id, tag, margin)
            self._reg_owner = _RegistrationOwner(self, self._reg)

    # -- the facade -----------------------------------------------------------------------------
    @property
    def registration(self):
        """The registration state as a RegistrationChanged (DISABLED without a registrar)."""
        if self._reg is None:
            return RegistrationChanged(DISABLED, None, "no registrar", None)
        return self._reg.summary

    def receive(self, data, addr, now_ms, transport="udp"):
        """One datagram, or one whole message cut from a TCP stream by StreamFramer."""
        self.now_ms = now_ms
        try:
            self._receive(data, addr, transport)
            self._dispatch()
        except Exception as exc:  # garbage must never take the door down
            self.emit(MessageDropped("internal error: %s: %s" % (type(exc).__name__, exc), addr))

    def send(self, command, now_ms):
        """Carry out a command; PlaceCall returns the call_id. Misuse raises ValueError."""
        self.now_ms = now_ms
        handler = _COMMANDS.get(type(command))
        if handler is None:
            raise TypeError("not a user agent command: %r" % (command,))
        result = handler(self, command)
        self._dispatch()
        return result

    def datagrams_to_send(self):
        out = self._layer.datagrams
        self._layer.datagrams = []
        return out

    def next_event(self):
        if self._events:
            return self._events.pop(0)
        return None

    def next_deadline(self):
        best = self._layer.next_deadline()
        others = [call.next_deadline() for call in self._calls]
        if self._reg is not None:
            others.append(self._reg.next_deadline())
        for deadline in others:
            if deadline is not None and (best is None or deadline < best):
                best = deadline
        return best

    def handle_timer(self, now_ms):
        self.now_ms = now_ms
        self._layer.handle_timer(now_ms)
        self._dispatch()
        for call in list(self._calls):
            call.handle_timer(now_ms)
        if self._reg is not None:
            expires = self._reg.handle_timer(now_ms)
            if expires is not None:
                self.send_register(expires)
        self._dispatch()

    def transport_failed(self, addr, transport, now_ms):
        """The runtime could not send to addr (ICMP unreachable, TCP refused, DNS failure)."""
        self.now_ms = now_ms
        self._layer.transport_failed(addr, transport)
        self._dispatch()

    def connection_lost(self, addr, transport, now_ms):
        """A stream connection to addr closed. If our binding lives on it, register again."""
        self.now_ms = now_ms
        if self._reg is not None and transport != "udp":
            first_hop = self._proxy if self._proxy is not None else self._registrar
            dest, dest_transport = uri_destination(first_hop, self.config.transport)
            if dest_transport == transport and tuple(dest) == tuple(addr):
                self._reg.flow_lost(now_ms)
        self._dispatch()

    # -- commands -------------------------------------------------------------------------------
    def _cmd_register(self, command):
        if self._reg is None:
            raise ValueError("no registrar configured")
        expires = self._reg.start(self.now_ms)
        if expires is not None:
            self.send_register(expires)

    def _cmd_unregister(self, command):
        if self._reg is None:
            raise ValueError("no registrar configured")
        expires = self._reg.stop(self.now_ms)
        if expires is not None:
            self.send_register(expires)

    def _cmd_place_call(self, command):
        if self._shut_down:
            raise ValueError("the user agent is shut down")
        target = self._target_uri(command.target)
        call_id = command.call_id or self.new_call_id()
        if self._find_call(call_id) is not None:
            raise ValueError("call_id %r is in use" % call_id)
        call = Call(self, UAC, call_id)
        call.place(target, command.rtp_addr)  # raises before sending anything if rtp_addr is bad
        self._calls.append(call)
        return call_id

    def _cmd_ring(self, command):
        self._call(command.call_id, "Ring").ring()

    def _cmd_answer(self, command):
        self._call(command.call_id, "Answer").answer(command.rtp_addr)

    def _cmd_reject(self, command):
        self._call(command.call_id, "Reject").reject(command.status)

    def _cmd_hangup(self, command):
        self._call(command.call_id, "Hangup").hangup()

    def _cmd_reinvite(self, command):
        self._call(command.call_id, "Reinvite").reinvite(command.direction)

    def _cmd_shutdown(self, command):
        self._shut_down = True
        for call in list(self._calls):
            if not call.ended:
                call.hangup()
        if self._reg is not None:
            expires = self._reg.stop(self.now_ms)
            if expires is not None:
                self.send_register(expires)

    def _find_call(self, call_id):
        for call in self._calls:
            if call.call_id == call_id:
                return call
        return None

    def _call(self, call_id, command_name):
        call = self._find_call(call_id)
        if call is None:
            raise ValueError("unknown call_id %r" % (call_id,))
        call.check_command(command_name)
        return call

    def _target_uri(self, target):
        if ":" not in target:
            target = "sip:%s@%s" % (target, self.aor.host)
        try:
            uri = parse_uri(target)
        except SipParseError as exc:
            raise ValueError("bad call target %r: %s" % (target, exc.reason)) from None
        if uri.scheme.lower() != "sip":
            raise ValueError("call target must be a sip: URI (no TLS here), not %r" % target)
        if uri.transport not in (None, "udp", "tcp"):
            raise ValueError("transport %r is not available: use udp or tcp" % uri.transport)
        return uri

    # -- services for calls and the registration ------------------------------------------------
    def emit(self, event):
        self._events.append(event)

    def new_tag(self):
        return "%08x" % self.rng.getrandbits(32)

    def new_branch(self):
        return MAGIC_COOKIE + "%08x%08x" % (self.rng.getrandbits(32), self.rng.getrandbits(32))

    def new_call_id(self):
        rng = self.rng
        return "%08x%08x%08x" % (rng.getrandbits(32), rng.getrandbits(32), rng.getrandbits(32))

    def random_int(self):
        return self.rng.getrandbits(31)

    def sent_by(self):
        host, port = self.config.local_addr
        return ("[" + host + "]" if ":" in host else host) + ":" + str(port)

    def contact_uri(self, transport):
        host, port = self.config.local_addr
        return Uri("sip", self.config.user, host, port, [("transport", transport)])

    def contact_header(self, transport=None):
        return ("Contact", "<" + str(self.contact_uri(transport or self.config.transport)) + ">")

    def warning(self, code, text):
        return ("Warning", "%d %s %s" % (code, self.sent_by(), quote(text)))

    def session_response_headers(self, transport=None):
        """Contact, Allow and Supported for a 2xx to INVITE."""
        return [self.contact_header(transport), ("Allow", ALLOW), ("Supported", "")]

    def new_request(self, method, target, call_id, local_tag, cseq, to_uri=None):
        """An out-of-dialog request (no Via yet: send_request adds it)."""
        request = Request(method, target)
        request.add("Max-Forwards", MAX_FORWARDS)
        if self._proxy is not None:
            request.add("Route", "<" + str(self._proxy) + ">")
        request.add("From", str(NameAddr(self.aor, self.config.display_name, [("tag", local_tag)])))
        if to_uri is None:
            to_uri = Uri(target.scheme, target.user, target.host, target.port)
        request.add("To", str(NameAddr(to_uri)))
        request.add("Call-ID", call_id)
        request.add("CSeq", "%d %s" % (cseq, method))
        if method == "INVITE" or method == "REGISTER":
            request.add(*self.contact_header(self._destination(request)[1]))
        request.add("User-Agent", self.config.user_agent)
        return request

    def add_session_headers(self, request, content_type, body):
        """Allow, Supported and the body of an INVITE."""
        request.add("Allow", ALLOW)
        request.add("Supported", "")
        request.add("Content-Type", content_type)
        request.body = body

    def _destination(self, request):
        routes = request.get_lines("route")
        uri = request.routes[0].uri if routes else request.uri
        return uri_destination(uri, self.config.transport)

    def _new_via(self, transport):
        return "SIP/2.0/%s %s;branch=%s;rport" % (
            transport.upper(),
            self.sent_by(),
            self.new_branch(),
        )

    def send_request(self, request, owner, addr=None, transport=None):
        """Add our Via and start a client transaction to addr (default: by Route/Request-URI)."""
        if addr is None:
            addr, transport = self._destination(request)
        request.prepend("Via", self._new_via(transport))
        txn = self._layer.send_request(request, addr, transport, self.now_ms)
        txn.owner = owner
        return txn

    def send_in_dialog(self, dialog, request, owner):
        request.add("Max-Forwards", MAX_FORWARDS)
        addr, transport = uri_destination(dialog.next_hop(), dialog.transport)
        if request.method == "INVITE":
            request.add(*self.contact_header(transport))
        request.add("User-Agent", self.config.user_agent)
        return self.send_request(request, owner, addr, transport)

    def send_ack(self, dialog, ack):
        """Send the ACK for a 2xx (no transaction); returns (bytes, addr, transport)."""
        ack.add("Max-Forwards", MAX_FORWARDS)
        ack.add("User-Agent", self.config.user_agent)
        addr, transport = uri_destination(dialog.next_hop(), dialog.transport)
        ack.prepend("Via", self._new_via(transport))
        data = ack.to_bytes()
        self._layer.send_raw(data, addr, transport)
        return (data, addr, transport)

    def send_cancel(self, invite, owner):
        """CANCEL an INVITE we sent (9.1): its top Via (same branch), Route, From, To, Call-ID."""
        txn = self._layer.find_client(invite.top_via.branch, "INVITE")
        cancel = Request("CANCEL", invite.uri)
        cancel.add("Via", invite.get("via"))
        cancel.add("Max-Forwards", MAX_FORWARDS)
        for value in invite.get_lines("route"):
            cancel.add("Route", value)
        for name in ("From", "To", "Call-ID"):
            cancel.add(name, invite.get(name))
        cancel.add("CSeq", "%d CANCEL" % invite.cseq.seq)
        cancel.add("User-Agent", self.config.user_agent)
        if txn is not None:
            addr, transport = txn.addr, txn.transport
        else:
            addr, transport = self._destination(invite)
        cancel_txn = self._layer.send_request(cancel, addr, transport, self.now_ms)
        cancel_txn.owner = owner
        return cancel_txn

    def send_raw(self, data, addr, transport):
        self._layer.send_raw(data, addr, transport)

    def send_register(self, expires):
        reg = self._reg
        request = self.new_request(
            "REGISTER", self._registrar, reg.call_id, reg.from_tag, reg.next_cseq(), self.aor
        )
        request.add("Expires", str(expires))
        if self._auth is not None:
            for name, value in self._auth.authorize("REGISTER", str(self._registrar)):
                request.add(name, value)
        self.send_request(request, self._reg_owner)

    def authenticate(self, txn, response, owner, dialog=None):
        """Re-send txn's request with credentials for the 401/407 response, CSeq + 1, on a new
        transaction (22.2); None when we cannot or must not (the credentials were refused)."""
        if self._auth is None:
            return None
        old = txn.request
        try:
            credentials = self._auth.respond(
                old.method, str(old.uri), response.headers, old.headers, old.body
            )
        except ValueError:
            credentials = None
        if not credentials:
            return None
        seq = old.cseq.seq + 1
        request = Request(old.method, old.uri)
        for name, value in old.headers:
            key = header_key(name)
            if key in ("via", "authorization", "proxy-authorization"):
                continue
            if key == "cseq":
                request.add(name, "%d %s" % (seq, old.method))
                for cred_name, cred_value in credentials:
                    request.add(cred_name, cred_value)
            else:
                request.add(name, value)
        request.body = old.body
        if dialog is not None and dialog.local_seq < seq:
            dialog.local_seq = seq
        return self.send_request(request, owner, txn.addr, txn.transport)

    def respond(self, txn, status, to_tag=None, headers=None, body=b"", reason=None):
        """Send a response through a server transaction (a To tag is added for status > 100)."""
        request = txn.request
        if to_tag is None and status > 100 and request.to.tag is None:
            to_tag = self.new_tag()
        extra = [("Server", self.config.user_agent)]
        if headers:
            extra.extend(headers)
        response = make_response(request, status, reason, to_tag, extra, body)
        txn.respond(response, self.now_ms)
        return response

    def respond_options(self, txn):
        self.respond(
            txn,
            200,
            headers=[
                ("Allow", ALLOW),
                ("Accept", ACCEPT),
                ("Accept-Encoding", "identity"),
                ("Accept-Language", "en"),
                ("Supported", ""),
            ],
        )

    def add_dialog(self, dialog, call):
        self._dialogs[dialog.id] = (call, dialog)

    def remove_dialog(self, dialog):
        if dialog.id in self._dialogs:
            del self._dialogs[dialog.id]

    def forget_call(self, call):
        if call in self._calls:
            self._calls.remove(call)
        for key in [k for k in self._dialogs if self._dialogs[k][0] is call]:
            del self._dialogs[key]

    # -- network input --------------------------------------------------------------------------
    def _dispatch(self):
        reports = self._layer.reports
        while reports:
            txn, kind, message = reports.pop(0)
            if txn.owner is not None:
                txn.owner.on_report(txn, kind, message)
        # An ended transaction's owner (a call) usually holds it too: break that cycle, so an
        # ended call is freed at once, not by a later full garbage collection.
        removed = self._layer.removed
        while removed:
            removed.pop().owner = None
        if self._reg is not None and self._reg.events:
            self._events.extend(self._reg.events)
            self._reg.events = []

    def _receive(self, data, addr, transport):
        try:
            message = parse_message(data)
        except SipParseError as exc:
            self._malformed(exc, data, addr, transport)
            return
        if isinstance(message, Request):
            self._receive_request(message, addr, transport)
        else:
            self._receive_response(message, addr)

    def _receive_response(self, response, addr):
        vias = response.vias
        if len(vias) != 1:
            self.emit(MessageDropped("response with %d Via headers" % len(vias), addr))
            return
        host, port = self.config.local_addr
        if vias[0].host.lower() != host.lower() or (vias[0].port or 5060) != port:
            self.emit(MessageDropped("response to a Via that is not ours", addr))
            return
        if not self._layer.receive_response(response, self.now_ms):
            self.emit(MessageDropped("response matches no transaction", addr))

    def _receive_request(self, request, addr, transport):
        self._stamp_via(request, addr)
        txn = self._layer.match_request(request)
        if txn is not None:
            if txn.receive_request(request, self.now_ms) and txn.owner is not None:
                txn.owner.on_ack(request)
            return
        method = request.method
        if method == "ACK":
            found = self._dialog_of(request)
            if found is not None:
                found[0].on_ack(request)
            return  # an ACK that matches nothing is dropped silently (17.2.3)
        # Requests of a call we have (an in-dialog BYE, a CANCEL) pass a full table: a flood of
        # new requests must not keep a call from ending.
        if request.to.tag is not None:
            ongoing = self._dialog_of(request) is not None
        else:
            ongoing = method == "CANCEL" and self._layer.find_invite_for(request) is not None
        if not ongoing and self._layer.is_full():
            self._send_stateless(request, 503, addr, transport, [("Retry-After", "5")])
            return
        txn = self._layer.create_server(request, addr, transport, self.now_ms, bounded=not ongoing)
        status, headers = self._screen(request)
        if status is not None:
            self.respond(txn, status, headers=headers)
            return
        if method == "CANCEL":
            self._on_cancel(request, txn)
        elif request.to.tag is not None:
            found = self._dialog_of(request)
            if found is None:
                self.respond(txn, 481)
            else:
                txn.trying(self.now_ms)
                found[0].on_request(request, txn, found[1])
        elif method == "INVITE":
            self._on_invite(request, txn, addr)
        elif method == "OPTIONS":
            self.respond_options(txn)
        else:
            self.respond(txn, 481)  # BYE or INFO outside any dialog

    def _screen(self, request):
        """(status, headers) of the answer to a request we will not process, or (None, None)."""
        method = request.method
        if method not in SERVED_METHODS:
            return (405 if method in KNOWN_METHODS else 501), [("Allow", ALLOW)]
        if request.uri.scheme.lower() not in URI_SCHEMES:
            return 416, None
        if method != "CANCEL":
            unknown = []
            for tag in request.get_all("require"):
                if tag.lower() not in SUPPORTED_OPTION_TAGS:
                    unknown.append(tag)
            if unknown:
                return 420, [("Unsupported", ", ".join(unknown))]
        if (method == "INVITE" or method == "INFO") and request.body:
            encoding = request.get("content-encoding")
            if encoding is not None and encoding.lower() != "identity":
                return 415, [("Accept-Encoding", "identity")]
            accepted = (SDP_TYPE,) if method == "INVITE" else INFO_TYPES
            if request.content_type not in accepted:
                return 415, [("Accept", ", ".join(accepted))]
        if method == "INVITE" and request.has("accept") and not _accepts_sdp(request):
            return 406, [self.warning(399, "Incompatible Accept header: we answer with SDP")]
        return None, None

    def _on_cancel(self, request, txn):
        invite_txn = self._layer.find_invite_for(request)
        if invite_txn is None:
            self.respond(txn, 481)
            return
        owner = invite_txn.owner
        self.respond(txn, 200, to_tag=getattr(owner, "local_tag", None))
        if owner is not None:
            owner.cancelled(invite_txn)

    def _on_invite(self, request, txn, addr):
        if self._shut_down:
            self.respond(txn, 503, headers=[("Retry-After", "60")])
            return
        if self._find_call(request.call_id) is not None:
            self.respond(txn, 482)  # a merged request (8.2.2.2): another copy reached us first
            return
        active = 0
        for call in self._calls:
            if not call.ended:
                active += 1
        if active >= self.config.max_calls:
            self.respond(txn, 486)
            return
        call = Call(self, UAS, request.call_id)
        self._calls.append(call)
        call.incoming(request, txn, addr)

    def _dialog_of(self, request):
        key = (request.call_id, request.to.tag, request.from_.tag or "")
        return self._dialogs.get(key)

    def _stamp_via(self, request, addr):
        """RFC 3261 18.2.1 `received`, RFC 3581 `rport`, on the top Via of a request."""
        via = request.top_via
        stamped = via
        if via.host != addr[0]:
            stamped = stamped.with_param("received", addr[0])
        if via.rport is True:
            stamped = stamped.with_param("rport", str(addr[1]))
        if stamped is not via:
            values = request.get_all("via")
            values[0] = str(stamped)
            request.set("Via", ", ".join(values))

    def _send_stateless(self, request, status, addr, transport, headers):
        to_tag = self.new_tag() if request.to.tag is None else None
        extra = [("Server", self.config.user_agent)]
        extra.extend(headers)
        response = make_response(request, status, None, to_tag, extra)
        self._layer.send_raw(response.to_bytes(), addr, transport)

    def _malformed(self, exc, data, addr, transport):
        """Answer a malformed request 400 (or 505) from its raw headers, else drop it."""
        start = exc.start_line
        raw = exc.raw_headers
        if raw is None:
            start, raw = _read_raw(data)
        if start is None or raw is None or start[:4].upper() == "SIP/":
            what = "response" if start is not None and start[:4].upper() == "SIP/" else "message"
            self.emit(MessageDropped("malformed %s: %s" % (what, exc.reason), addr))
            return
        if start.split(" ", 1)[0] == "ACK":
            self.emit(MessageDropped("malformed ACK: %s" % exc.reason, addr))
            return
        copied = []
        found = []
        for name, value in raw:
            key = header_key(name)
            if key in ("via", "from", "to", "call-id", "cseq"):
                if key == "to" and key not in found and "tag=" not in value.lower():
                    value = value + ";tag=" + self.new_tag()
                if key == "via" and key not in found:
                    value = self._stamped_raw_via(value, addr)
                if key == "via" or key not in found:
                    copied.append((name, value))
                found.append(key)
        for key in ("via", "from", "to", "call-id", "cseq"):
            if key not in found:
                reason = "malformed request without %s: %s" % (key, exc.reason)
                self.emit(MessageDropped(reason, addr))
                return
        status = exc.status if exc.status in (400, 505, 513) else 400
        response = Response(status, REASONS.get(status))
        try:
            for name, value in copied:
                response.add(name, value)
        except ValueError as error:  # a header value we must not echo (control characters)
            self.emit(MessageDropped("malformed request: %s; %s" % (exc.reason, error), addr))
            return
        response.add("Server", self.config.user_agent)
        response.add(*self.warning(399, _printable(exc.reason)))
        self._layer.send_raw(response.to_bytes(), addr, transport)

    def _stamped_raw_via(self, value, addr):
        """received/rport on the first Via of a raw header line, if it parses."""
        first, comma, rest = value.partition(",")
        try:
            via = parse_via(first.strip())
        except SipParseError:
            return value
        if via.host != addr[0]:
            via = via.with_param("received", addr[0])
        if via.rport is True:
            via = via.with_param("rport", str(addr[1]))
        return str(via) + (", " + rest.strip() if comma else "")


def _read_raw(data):
    """(start line, [(name, value)]) of a message the parser refused before reading its headers
    (a bad request line, another SIP version), so that it can still be answered; (None, None)
    when even that much cannot be read."""
    data = bytes(data)
    while data[:2] == b"\r\n":
        data = data[2:]
    end = data.find(b"\r\n\r\n")
    try:
        text = (data if end < 0 else data[:end]).decode("utf-8")
    except UnicodeError:
        return None, None
    lines = text.split("\r\n")
    for line in lines:
        if "\r" in line or "\n" in line:
            return None, None  # bare CR or LF: we cannot tell where the headers are
    headers = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, value + " " + line.strip())
            continue
        name, colon, value = line.partition(":")
        if colon and name.strip():
            headers.append((name.strip(), value.strip()))
    return lines[0], headers


def _accepts_sdp(request):
    for value in request.get_all("accept"):
        media_type = value.split(";", 1)[0].strip().lower()
        if media_type in (SDP_TYPE, "application/*", "*/*"):
            return True
    return False


def _printable(text):
    out = []
    for c in text:
        out.append(c if " " <= c <= "~" else "?")
    return "".join(out)[:120]


_COMMANDS = {
    Register: UserAgent._cmd_register,
    Unregister: UserAgent._cmd_unregister,
    PlaceCall: UserAgent._cmd_place_call,
    Ring: UserAgent._cmd_ring,
    Answer: UserAgent._cmd_answer,
    Reject: UserAgent._cmd_reject,
    Hangup: UserAgent._cmd_hangup,
    Reinvite: UserAgent._cmd_reinvite,
    Shutdown: UserAgent._cmd_shutdown,
}
