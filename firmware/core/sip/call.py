"""One call (an INVITE session, RFC 3261 sections 13-15) on top of transactions and dialogs.

A `Call` is owned by the `UserAgent` and uses it for everything that leaves the call (requests,
responses, events, randomness); the agent routes transaction reports, in-dialog requests, ACKs
and CANCELs to it. Which command is allowed in which state is a table (`_COMMANDS`).

Outgoing (UAC):  CALLING --1xx--> PROCEEDING --2xx: ACK--> CONFIRMED --BYE--> ENDED
Incoming (UAS):  INCOMING --Ring: 180--> RINGING --Answer: 200--> ANSWERED --ACK--> CONFIRMED

- CANCEL is sent only after a provisional response (9.1): a Hangup before one waits for it. The
  487 (or any final) then ends the call; a 2xx racing the CANCEL is ACKed and sent a BYE; with no
  final 64*T1 after the CANCEL the call ends anyway.
- Forking: the first 2xx wins; a 2xx from another To tag is ACKed and sent a BYE (13.2.2.4).
- Our 2xx is retransmitted (T1 doubling to T2, UDP only) until its ACK; after 64*T1 without one
  the call is ended with a BYE (13.3.1.4). A Hangup before the ACK sends the BYE when it arrives.
- re-INVITE: an offer identical to the last one (same o= version) gets our SDP unchanged; a new
  one a new answer (hold: recvonly/inactive) and CallMediaChanged. While an INVITE transaction is
  in progress in either direction a new re-INVITE gets 491 (ours outstanding) or 500 with
  Retry-After (theirs); our re-INVITE that gets 491 is retried after the random wait of 14.1.
"""

from firmware.core import sdp
from firmware.core.sip import events
from firmware.core.sip.dialog import CONFIRMED as DIALOG_CONFIRMED
from firmware.core.sip.dialog import dialog_as_uac, dialog_as_uas
from firmware.core.sip.transaction import PROCEEDING as TXN_PROCEEDING
from firmware.core.sip.transaction import RESPONSE, TIMEOUT, TRANSPORT_ERROR

UAC = "UAC"
UAS = "UAS"

CALLING = "CALLING"
PROCEEDING = "PROCEEDING"
INCOMING = "INCOMING"
RINGING = "RINGING"
ANSWERED = "ANSWERED"
CONFIRMED = "CONFIRMED"
CANCELLING = "CANCELLING"
ENDED = "ENDED"

# (role, state) -> commands allowed; anything else is a mistake of the caller and raises.
_COMMANDS = {
    (UAC, CALLING): ("Hangup",),
    (UAC, PROCEEDING): ("Hangup",),
    (UAC, CANCELLING): ("Hangup",),
    (UAC, CONFIRMED): ("Hangup", "Reinvite"),
    (UAS, INCOMING): ("Ring", "Answer", "Reject", "Hangup"),
    (UAS, RINGING): ("Ring", "Answer", "Reject", "Hangup"),
    (UAS, ANSWERED): ("Hangup", "Reinvite"),
    (UAS, CONFIRMED): ("Hangup", "Reinvite"),
}

SDP_TYPE = "application/sdp"
MAX_FORKS = 8


def _is_sdp(message):
    return len(message.body) > 0 and message.content_type == SDP_TYPE


class Call:
    def __init__(self, ua, role, call_id):
        self.ua = ua
        self.role = role
        self.call_id = call_id
        self.state = CALLING if role == UAC else INCOMING
        self.ended = False  # CallEnded was emitted: commands are refused from now on
        self.dialog = None  # the confirmed dialog (UAS: the one we answer with)
        self.early = []  # UAC: early dialogs, one per To tag
        self.media = None
        self.rtp_addr = None
        self.session_id = ua.random_int()
        self.local_sdp = None  # our last offer or answer (sdp.SessionDescription)
        self.remote_sdp = None
        self.invite = None  # the INVITE that established (or tries to establish) the call
        self.invite_txn = None
        self.timers = {}  # name -> deadline ms
        self.acks = []  # UAC: (cseq, remote tag, bytes, addr, transport) of ACKs for 2xx
        # UAC
        self.offer = None
        self.cancel_wanted = False
        self.cancel_sent = False
        self.provisional = None  # (status, tag, media) last reported as CallRinging
        # UAS
        self.local_tag = None
        self.ok = None  # (cseq, bytes, addr, transport) of our 2xx awaiting its ACK
        self.ok_txn = None  # the server transaction that sent it
        self.ok_interval_ms = 0
        self.bye_wanted = False
        self.offer_in_ack = False
        # re-INVITE
        self.reinvite_txn = None  # ours, outstanding
        self.reinvite_offer = None
        self.reinvite_wanted = None  # direction of a re-INVITE to send when possible
        self.direction = sdp.SENDRECV

    def __repr__(self):
        return "<Call %s %s %s>" % (self.role, self.call_id, self.state)

    def check_command(self, name):
        if self.ended:
            raise ValueError("call %s has ended" % self.call_id)
        if name not in _COMMANDS.get((self.role, self.state), ()):
            raise ValueError("cannot %s call %s in state %s" % (name, self.call_id, self.state))

    # -- timers ---------------------------------------------------------------------------------
    def next_deadline(self):
        best = None
        for name in self.timers:
            if best is None or self.timers[name] < best:
                best = self.timers[name]
        return best

    def handle_timer(self, now_ms):
        for name in sorted(self.timers):
            deadline = self.timers.get(name)
            if deadline is None or deadline > now_ms:
                continue
            del self.timers[name]
            if name == "2xx":
                self._retransmit_ok(deadline)
            elif name == "2xx-giveup":
                self._ok_unacknowledged()
            elif name == "cancel":
                self._end(events.CANCELLED, None)
                self.finish()
            elif name == "glare":
                self._maybe_reinvite()

    # -- ending ---------------------------------------------------------------------------------
    def _end(self, reason, status):
        if not self.ended:
            self.ended = True
            self.ua.emit(events.CallEnded(self.call_id, reason, status))

    def finish(self):
        """Forget the call: no timers, no dialogs; late retransmissions still reach us through
        the transactions we own."""
        self._end(events.HANGUP, None)
        self.state = ENDED
        self.timers = {}
        self.ua.forget_call(self)

    def _bye(self, dialog=None):
        dialog = dialog or self.dialog
        self.ua.send_in_dialog(dialog, dialog.create_request("BYE"), self)

    # -- outgoing call --------------------------------------------------------------------------
    def place(self, target, rtp_addr):
        ua = self.ua
        self.rtp_addr = rtp_addr
        self.offer = sdp.build_offer(
            rtp_addr[0], rtp_addr[1], self.session_id, 1, codecs=self.ua.config.codecs
        )
        self.local_tag = ua.new_tag()
        request = ua.new_request("INVITE", target, self.call_id, self.local_tag, 1)
        ua.add_session_headers(request, SDP_TYPE, sdp.serialize(self.offer))
        self.invite = request
        self.invite_txn = ua.send_request(request, self)

    def _on_invite_response(self, txn, response):
        status = response.status
        if self.ended and not 200 <= status < 300:
            return  # the call is over; a late 2xx still gets its ACK and BYE below
        if status < 200:
            self._on_provisional(response)
        elif status < 300:
            self._on_invite_2xx(response)
        elif self.dialog is not None:
            return  # a late failure from another fork: the call is up
        elif status in (401, 407) and not self.cancel_wanted:
            retry = self.ua.authenticate(txn, response, self)
            if retry is None:
                self._end(events.AUTH_FAILED, status)
                self.finish()
            else:
                self.invite = retry.request
                self.invite_txn = retry
        else:
            reason = events.CANCELLED if self.cancel_wanted else events.REJECTED
            self._end(reason, status)
            self.finish()

    def _on_provisional(self, response):
        if self.state == CALLING:
            self.state = PROCEEDING
        tag = response.to.tag
        new_fork = tag is not None and self._early(tag) is None and len(self.early) < MAX_FORKS
        if new_fork and response.status > 100:
            self.early.append(self._uac_dialog(response))
            self.ua.add_dialog(self.early[-1], self)
        if self.cancel_wanted:
            if not self.cancel_sent:
                self._send_cancel()
            return
        media = None
        if _is_sdp(response):
            try:
                media = sdp.read_answer(self.offer, sdp.parse(response.body))
            except ValueError:
                media = None
        if response.status > 100 and (response.status, tag, media) != self.provisional:
            self.provisional = (response.status, tag, media)
            self.ua.emit(events.CallRinging(self.call_id, response.status, media))

    def _early(self, tag):
        for dialog in self.early:
            if dialog.remote_tag == tag:
                return dialog
        return None

    def _on_invite_2xx(self, response):
        tag = response.to.tag
        cseq = response.cseq.seq
        for ack in self.acks:
            if ack[0] == cseq and ack[1] == tag:
                self.ua.send_raw(ack[2], ack[3], ack[4])  # a retransmitted 2xx: ACK again
                return
        if self.dialog is not None or self.ended:
            # Another fork answered too (or we gave up already): ACK it and hang it up.
            dialog = self._uac_dialog(response)
            self._ack(dialog, response, self.invite)
            self._bye(dialog)
            return
        dialog = self._early(tag) or self._uac_dialog(response)
        dialog.state = DIALOG_CONFIRMED
        dialog.refresh_target(response)
        dialog.route_set = dialog_as_uac(self.invite, response).route_set
        self.dialog = dialog
        self.ua.add_dialog(dialog, self)
        for other in self.early:
            if other is not dialog:
                self.ua.remove_dialog(other)
        self.early = []
        self._ack(dialog, response, self.invite)
        self.timers.pop("cancel", None)
        if self.cancel_wanted:
            self._bye()
            self._end(events.CANCELLED, response.status)
            self.finish()
            return
        try:
            self.remote_sdp = sdp.parse(response.body) if _is_sdp(response) else None
            if self.remote_sdp is None:
                raise sdp.SdpNegotiationError("the 2xx carries no SDP answer")
            self.media = sdp.read_answer(self.offer, self.remote_sdp)
        except ValueError:
            self._bye()
            self._end(events.MEDIA_FAILED, response.status)
            self.finish()
            return
        self.local_sdp = self.offer
        self.state = CONFIRMED
        self.ua.emit(events.CallAnswered(self.call_id, self.media))

    def _uac_dialog(self, response):
        dialog = dialog_as_uac(self.invite, response)
        dialog.transport = self.invite_txn.transport
        return dialog

    def _ack(self, dialog, response, invite):
        """ACK a 2xx (13.2.2.4): no transaction, the INVITE's CSeq number and credentials."""
        cseq = response.cseq.seq
        ack = dialog.create_request("ACK", cseq)
        for name in ("Authorization", "Proxy-Authorization"):
            for value in invite.get_lines(name):
                ack.add(name, value)
        sent = self.ua.send_ack(dialog, ack)
        self.acks.append((cseq, response.to.tag, sent[0], sent[1], sent[2]))
        if len(self.acks) > MAX_FORKS:
            self.acks.pop(0)

    def _send_cancel(self):
        self.cancel_sent = True
        self.state = CANCELLING
        self.ua.send_cancel(self.invite, self)
        self.timers["cancel"] = self.ua.now_ms + self.ua.timers.timeout_ms

    # -- incoming call --------------------------------------------------------------------------
    def incoming(self, request, txn, addr):
        """A new INVITE: answer 488/400 for an offer we cannot take, else report IncomingCall."""
        ua = self.ua
        self.invite = request
        self.invite_txn = txn
        txn.owner = self
        self.local_tag = ua.new_tag()
        preview = None
        if _is_sdp(request):
            try:
                self.remote_sdp = sdp.parse(request.body)
                preview = sdp.build_answer(
                    self.remote_sdp, "0.0.0.0", 9, self.session_id, 1, codecs=self.ua.config.codecs
                )[1]
            except sdp.SdpNegotiationError:
                self._refuse(488, headers=[ua.warning(305, "Incompatible media format")])
                return
            except sdp.SdpError:
                self._refuse(400, reason="Bad SDP")
                return
        txn.trying(ua.now_ms)
        self.dialog = dialog_as_uas(request, self.local_tag)
        self.dialog.transport = txn.transport
        ua.add_dialog(self.dialog, self)
        caller = request.from_
        ua.emit(
            events.IncomingCall(
                self.call_id, caller.uri.aor(), addr, preview, caller.display_name or None
            )
        )

    def _final(self, status, reason=None, headers=None):
        self.ua.respond(
            self.invite_txn, status, to_tag=self.local_tag, reason=reason, headers=headers
        )

    def _refuse(self, status, reason=None, headers=None):
        """Answer a new INVITE with a final status before the application heard of it."""
        self._final(status, reason, headers)
        self.ended = True  # no CallEnded for a call that was never reported
        self.finish()

    def ring(self):
        txn = self.invite_txn
        contact = self.ua.contact_header(txn.transport)
        self.ua.respond(txn, 180, to_tag=self.local_tag, headers=[contact])
        self.state = RINGING

    def answer(self, rtp_addr):
        self.rtp_addr = rtp_addr
        if self.remote_sdp is not None:
            answer, self.media = sdp.build_answer(
                self.remote_sdp,
                rtp_addr[0],
                rtp_addr[1],
                self.session_id,
                1,
                codecs=self.ua.config.codecs,
            )
        else:
            answer = sdp.build_offer(
                rtp_addr[0], rtp_addr[1], self.session_id, 1, codecs=self.ua.config.codecs
            )
            self.offer_in_ack = True
        self.local_sdp = answer
        self.dialog.state = DIALOG_CONFIRMED
        self._send_ok(self.invite_txn, answer)
        self.state = ANSWERED
        if not self.offer_in_ack:
            self.ua.emit(events.CallAnswered(self.call_id, self.media))

    def reject(self, status):
        if not 300 <= status <= 699:
            raise ValueError("a rejection needs a final status 300-699, not %r" % status)
        self._final(status)
        self._end(events.REJECTED, status)
        self.finish()

    def _send_ok(self, txn, session):
        """200 OK to an INVITE with our SDP; retransmitted until the ACK (13.3.1.4)."""
        ua = self.ua
        headers = ua.session_response_headers(txn.transport)
        headers.append(("Content-Type", SDP_TYPE))
        response = ua.respond(
            txn, 200, to_tag=self.local_tag, headers=headers, body=sdp.serialize(session)
        )
        self.ok = (txn.request.cseq.seq, response.to_bytes(), txn.addr, txn.transport)
        self.ok_txn = txn
        self.ok_interval_ms = ua.timers.t1_ms
        if not txn.reliable:
            self.timers["2xx"] = ua.now_ms + self.ok_interval_ms
        self.timers["2xx-giveup"] = ua.now_ms + ua.timers.timeout_ms

    def _retransmit_ok(self, deadline_ms):
        if self.ok is None:
            return
        self.ua.send_raw(self.ok[1], self.ok[2], self.ok[3])
        self.ok_interval_ms = min(self.ok_interval_ms * 2, self.ua.timers.t2_ms)
        self.timers["2xx"] = deadline_ms + self.ok_interval_ms

    def _ok_unacknowledged(self):
        self.ok = None
        self.ok_txn = None
        self.timers.pop("2xx", None)
        self._bye()
        self._end(events.NO_ACK, None)
        self.finish()

    def on_ack(self, request):
        if self.ok is None or request.cseq.seq != self.ok[0]:
            return  # a retransmitted ACK, or one for a 2xx we no longer wait for
        self.ok = None
        self.ok_txn.acknowledged()
        self.ok_txn = None
        self.timers.pop("2xx", None)
        self.timers.pop("2xx-giveup", None)
        if self.offer_in_ack:
            self.offer_in_ack = False
            try:
                self.remote_sdp = sdp.parse(request.body)
                self.media = sdp.read_answer(self.local_sdp, self.remote_sdp)
            except ValueError:
                if self.state == ANSWERED:
                    self._bye()
                    self._end(events.MEDIA_FAILED, None)
                    self.finish()
                    return
            else:
                if self.state == ANSWERED:
                    self.ua.emit(events.CallAnswered(self.call_id, self.media))
                else:
                    self.ua.emit(events.CallMediaChanged(self.call_id, self.media))
        if self.state == ANSWERED:
            self.state = CONFIRMED
        if self.bye_wanted:
            self._bye()
            self.finish()
            return
        self._maybe_reinvite()

    def cancelled(self, txn):
        """The caller CANCELled our INVITE (the agent answered the CANCEL 200)."""
        if txn.state == TXN_PROCEEDING and self.state in (INCOMING, RINGING):
            self._final(487)
            self._end(events.CANCELLED, 487)
            self.finish()

    # -- commands common to both ----------------------------------------------------------------
    def hangup(self):
        if self.role == UAC and self.state in (CALLING, PROCEEDING):
            self.cancel_wanted = True
            if self.state == PROCEEDING:
                self._send_cancel()
            else:
                self.state = CANCELLING
        elif self.role == UAC and self.state == CANCELLING:
            return
        elif self.state in (INCOMING, RINGING):
            self._final(480)
            self._end(events.HANGUP, 480)
            self.finish()
        elif self.ok is not None and self.state == ANSWERED:
            self.bye_wanted = True  # 15: no BYE before the ACK of our 2xx (or its timeout)
            self._end(events.HANGUP, None)
        else:
            self._bye()
            self._end(events.HANGUP, None)
            self.finish()

    def reinvite(self, direction):
        if direction not in (sdp.SENDRECV, sdp.SENDONLY, sdp.RECVONLY, sdp.INACTIVE):
            raise ValueError("unknown direction %r" % direction)
        self.reinvite_wanted = direction
        self._maybe_reinvite()

    def _invite_in_progress(self):
        return self.reinvite_txn is not None or self.ok is not None or "glare" in self.timers

    def _maybe_reinvite(self):
        if self.reinvite_wanted is not None and not self._invite_in_progress() and not self.ended:
            self._send_reinvite()

    def _send_reinvite(self):
        direction = self.reinvite_wanted
        self.reinvite_wanted = None
        self.direction = direction
        rtp = self.rtp_addr
        offer = sdp.build_offer(
            rtp[0], rtp[1], self.session_id, 1, codecs=self.ua.config.codecs, direction=direction
        )
        offer = sdp.next_version(self.local_sdp, offer)
        self.reinvite_offer = offer
        request = self.dialog.create_request("INVITE")
        self.ua.add_session_headers(request, SDP_TYPE, sdp.serialize(offer))
        self.reinvite_txn = self.ua.send_in_dialog(self.dialog, request, self)

    def _on_reinvite_response(self, txn, response):
        status = response.status
        if status < 200:
            return
        if status < 300:
            if txn is not self.reinvite_txn:
                self._on_invite_2xx(response)  # a retransmission: ACK again
                return
            self.reinvite_txn = None
            self.dialog.refresh_target(response)
            self._ack(self.dialog, response, txn.request)
            try:
                answer = sdp.parse(response.body)
                media = sdp.read_answer(self.reinvite_offer, answer)
            except ValueError:
                self._bye()
                self._end(events.MEDIA_FAILED, status)
                self.finish()
                return
            self.local_sdp = self.reinvite_offer
            self.remote_sdp = answer
            self._media_changed(media)
            self._maybe_reinvite()
            return
        if txn is not self.reinvite_txn:
            return
        self.reinvite_txn = None
        if status in (401, 407):
            retry = self.ua.authenticate(txn, response, self, self.dialog)
            if retry is not None:
                self.reinvite_txn = retry
                return
        if status == 491:
            # 14.1: the owner of the Call-ID (the caller) waits 2.1-4 s, the callee 0-2 s.
            rng = self.ua.rng.getrandbits(16)
            if self.role == UAC:
                delay = 2100 + (rng % 191) * 10
            else:
                delay = (rng % 201) * 10
            self.reinvite_wanted = self.direction
            self.timers["glare"] = self.ua.now_ms + delay
        elif status == 481 or status == 408:
            self._end(events.DIALOG_GONE if status == 481 else events.TIMEOUT, status)
            self.finish()
        else:
            self._maybe_reinvite()

    def _media_changed(self, media):
        if media != self.media:
            self.media = media
            self.ua.emit(events.CallMediaChanged(self.call_id, media))

    # -- reports from our transactions ----------------------------------------------------------
    def on_report(self, txn, kind, message):
        method = txn.method
        if kind == RESPONSE:
            if method == "INVITE" and (txn is self.invite_txn or txn.request is self.invite):
                self._on_invite_response(txn, message)
            elif method == "INVITE":
                self._on_reinvite_response(txn, message)
            elif message.status in (401, 407) and method == "BYE":
                self.ua.authenticate(txn, message, self, self.dialog)
            return
        if txn.is_client and method == "INVITE" and txn is self.invite_txn and self.dialog is None:
            if kind == TIMEOUT:
                self._end(events.CANCELLED if self.cancel_wanted else events.TIMEOUT, 408)
            else:
                self._end(events.TRANSPORT_ERROR, None)
            self.finish()
        elif txn.is_client and method == "INVITE" and txn is self.reinvite_txn:
            self.reinvite_txn = None
            if not self.ended:
                self._bye()
            reason = events.TIMEOUT if kind == TIMEOUT else events.TRANSPORT_ERROR
            self._end(reason, 408 if kind == TIMEOUT else None)
            self.finish()
        elif kind == TRANSPORT_ERROR and txn is self.invite_txn and not self.ended:
            self._end(events.TRANSPORT_ERROR, None)
            self.finish()

    # -- in-dialog requests ---------------------------------------------------------------------
    def on_request(self, request, txn, dialog):
        """A request inside one of our dialogs (not ACK, not CANCEL)."""
        ua = self.ua
        txn.owner = self
        method = request.method
        if not dialog.accept_remote_cseq(request):
            ua.respond(txn, 500, reason="CSeq Out of Order")
            return
        if method == "BYE":
            ua.respond(txn, 200)
            if self.role == UAS and self.state in (INCOMING, RINGING):
                self._final(487)
            self._end(events.REMOTE_HANGUP, None)
            self.finish()
        elif method == "INVITE":
            self._on_reinvite(request, txn, dialog)
        elif method == "INFO":
            ua.respond(txn, 200)
            content_type = request.content_type
            ua.emit(events.InfoReceived(self.call_id, content_type, request.body))
        elif method == "OPTIONS":
            ua.respond_options(txn)
        else:
            ua.respond(txn, 405, headers=[("Allow", ua.ALLOW)])

    def _on_reinvite(self, request, txn, dialog):
        ua = self.ua
        if dialog is not self.dialog or self.state not in (ANSWERED, CONFIRMED):
            ua.respond(txn, 491 if self.role == UAC else 500)
            return
        if self.reinvite_txn is not None:
            ua.respond(txn, 491)
            return
        if self.ok is not None:
            retry = "%d" % (ua.rng.getrandbits(16) % 10)
            ua.respond(txn, 500, headers=[("Retry-After", retry)])
            return
        answer = self.local_sdp
        media = self.media
        if _is_sdp(request):
            try:
                offer = sdp.parse(request.body)
                if not self._same_offer(offer):
                    rtp = self.rtp_addr
                    answer, media = sdp.build_answer(
                        offer,
                        rtp[0],
                        rtp[1],
                        self.session_id,
                        1,
                        codecs=self.ua.config.codecs,
                        direction=self.direction,
                    )
                    answer = sdp.next_version(self.local_sdp, answer)
            except sdp.SdpNegotiationError:
                ua.respond(txn, 488)
                return
            except sdp.SdpError:
                ua.respond(txn, 400, reason="Bad SDP")
                return
            self.remote_sdp = offer
        elif len(request.body) > 0:
            ua.respond(txn, 415, headers=[("Accept", SDP_TYPE)])
            return
        else:
            self.offer_in_ack = True  # our SDP goes as the offer, the ACK brings the answer
        dialog.refresh_target(request)
        self.local_sdp = answer
        self._send_ok(txn, answer)
        self._media_changed(media)

    def _same_offer(self, offer):
        old = self.remote_sdp
        if old is None:
            return False
        a = old.origin
        b = offer.origin
        return (a.username, a.session_id, a.session_version, a.address) == (
            b.username,
            b.session_id,
            b.session_version,
            b.address,
        )
