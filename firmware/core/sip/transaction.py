"""SIP transactions (RFC 3261 section 17, with the Accepted states of RFC 6026), sans-IO.

A `TransactionLayer` owns every client and server transaction of a user agent. It takes requests
and responses with `now_ms`, queues datagrams in `datagrams` (bytes, (host, port), transport) and
reports for the transaction user (the TU, here the agent) in `reports` as (transaction, kind,
message) tuples. Each transaction is a state machine written as a table,
`(state, input) -> (next state, action)`: inputs a table does not list are absorbed.

Timers (T1 = 500 ms, T2 = 4 s, T4 = 5 s by default):

    INVITE client      A retransmit (T1, doubling)    B timeout (64*T1)   D wait (32 s)   M (64*T1)
    non-INVITE client  E retransmit (T1 doubling to T2; T2 once proceeding)   F timeout (64*T1)
                       K wait (T4)
    INVITE server      G retransmit final (T1 doubling to T2)   H wait for ACK (64*T1)
                       I absorb ACKs (T4)   L absorb INVITEs after 2xx (64*T1)
    non-INVITE server  J absorb retransmissions (64*T1)

Over a reliable transport (TCP) A, E and G are off and D, I, J, K are zero. An INVITE server
transaction sends 100 Trying (`trying()`) at once when the TU accepts the INVITE (RFC 3261 section
17.2.1 allows this or a 200 ms delay; at once is simpler, deterministic and stops the caller's
retransmissions early); an INVITE refused straight away (415, 420, 488...) gets no 100.

Server transactions are matched by the top Via branch, sent-by and method (ACK matches INVITE);
a branch without the RFC 3261 magic cookie, or the bare cookie `z9hG4bK`, falls back to the RFC
2543 rules of section 17.2.3 (Request-URI, From tag, Call-ID, CSeq number and top Via). Client
transactions are matched by branch and CSeq method (section 17.1.3).
"""

from firmware.core.sip.message import Request, Response

MAGIC_COOKIE = "z9hG4bK"

CALLING = "CALLING"
TRYING = "TRYING"
PROCEEDING = "PROCEEDING"
COMPLETED = "COMPLETED"
CONFIRMED = "CONFIRMED"
ACCEPTED = "ACCEPTED"
TERMINATED = "TERMINATED"

# Reports to the TU: (transaction, kind, message)
RESPONSE = "RESPONSE"  # client: a response for the TU
ACK = "ACK"  # INVITE server, Accepted: an ACK for our 2xx that matched the transaction (RFC 2543)
TIMEOUT = "TIMEOUT"  # client: Timer B or F; INVITE server: Timer H (no ACK)
TRANSPORT_ERROR = "TRANSPORT_ERROR"

# Inputs
_PROVISIONAL = "1xx"
_SUCCESS = "2xx"
_FAILURE = "3xx-6xx"
_REQUEST = "request"  # a retransmission of the transaction's request
_ACK = "ack"

# Actions
_PASS = "pass"  # hand the response (or ACK) to the TU
_ACK_PASS = "ack+pass"  # send ACK for a non-2xx, then hand it to the TU
_SEND_ACK = "ack"  # a retransmitted non-2xx final: ACK it again
_SEND = "send"  # the TU's response: send it
_RESEND = "resend"  # a retransmitted request: send our last response again
_NONE = "none"

_INVITE_CLIENT = {
    (CALLING, _PROVISIONAL): (PROCEEDING, _PASS),
    (PROCEEDING, _PROVISIONAL): (PROCEEDING, _PASS),
    (CALLING, _SUCCESS): (ACCEPTED, _PASS),
    (PROCEEDING, _SUCCESS): (ACCEPTED, _PASS),
    (ACCEPTED, _SUCCESS): (ACCEPTED, _PASS),  # forks and retransmissions: the TU ACKs each
    (CALLING, _FAILURE): (COMPLETED, _ACK_PASS),
    (PROCEEDING, _FAILURE): (COMPLETED, _ACK_PASS),
    (COMPLETED, _FAILURE): (COMPLETED, _SEND_ACK),
}

_NON_INVITE_CLIENT = {
    (TRYING, _PROVISIONAL): (PROCEEDING, _PASS),
    (PROCEEDING, _PROVISIONAL): (PROCEEDING, _PASS),
    (TRYING, _SUCCESS): (COMPLETED, _PASS),
    (PROCEEDING, _SUCCESS): (COMPLETED, _PASS),
    (TRYING, _FAILURE): (COMPLETED, _PASS),
    (PROCEEDING, _FAILURE): (COMPLETED, _PASS),
}

_INVITE_SERVER = {
    (PROCEEDING, _REQUEST): (PROCEEDING, _RESEND),
    (PROCEEDING, _PROVISIONAL): (PROCEEDING, _SEND),
    (PROCEEDING, _SUCCESS): (ACCEPTED, _SEND),
    (PROCEEDING, _FAILURE): (COMPLETED, _SEND),
    (COMPLETED, _REQUEST): (COMPLETED, _RESEND),
    (COMPLETED, _ACK): (CONFIRMED, _NONE),
    (ACCEPTED, _SUCCESS): (ACCEPTED, _SEND),  # the TU's own 2xx retransmissions
    (ACCEPTED, _ACK): (ACCEPTED, _PASS),
}

_NON_INVITE_SERVER = {
    (TRYING, _PROVISIONAL): (PROCEEDING, _SEND),
    (TRYING, _SUCCESS): (COMPLETED, _SEND),
    (TRYING, _FAILURE): (COMPLETED, _SEND),
    (PROCEEDING, _REQUEST): (PROCEEDING, _RESEND),
    (PROCEEDING, _PROVISIONAL): (PROCEEDING, _SEND),
    (PROCEEDING, _SUCCESS): (COMPLETED, _SEND),
    (PROCEEDING, _FAILURE): (COMPLETED, _SEND),
    (COMPLETED, _REQUEST): (COMPLETED, _RESEND),
}


class Timers:
    """The RFC 3261 timer base values in ms (section 17.1.1.1 and Table 4)."""

    def __init__(self, t1_ms=500, t2_ms=4000, t4_ms=5000):
        if not 0 < t1_ms <= t2_ms:
            raise ValueError("need 0 < T1 <= T2")
        self.t1_ms = t1_ms
        self.t2_ms = t2_ms
        self.t4_ms = t4_ms

    @property
    def timeout_ms(self):
        """64*T1: Timers B, F, H, J, L, M."""
        return 64 * self.t1_ms


def status_class(status):
    if status < 200:
        return _PROVISIONAL
    if status < 300:
        return _SUCCESS
    return _FAILURE


def has_magic_cookie(branch):
    """True for an RFC 3261 branch: the cookie followed by at least one character."""
    if branch is None or len(branch) <= len(MAGIC_COOKIE):
        return False
    return branch.startswith(MAGIC_COOKIE)


def server_key(request, method=None):
    """The key that matches a request to its server transaction (RFC 3261 section 17.2.3).

    ACK maps to INVITE; pass method="INVITE" to find the INVITE a CANCEL refers to."""
    if method is None:
        method = "INVITE" if request.method == "ACK" else request.method
    via = request.top_via
    branch = via.branch
    if has_magic_cookie(branch):
        return ("3261", branch, via.host.lower(), via.port, method)
    return (
        "2543",
        str(request.uri),
        request.from_.tag,
        request.call_id,
        request.cseq.seq,
        str(via),
        method,
    )


def make_response(request, status, reason=None, to_tag=None, headers=None, body=b""):
    """A response to request (RFC 3261 section 8.2.6): Via, From, To (with to_tag when To has
    none), Call-ID and CSeq copied, and Record-Route for a 1xx/2xx that makes a dialog (12.1.1).
    headers: more (name, value) pairs, appended in order."""
    response = Response(status, reason)
    copy_rr = 100 < status < 300
    for name, value in request.headers:
        key = name.lower()
        if key in ("via", "v", "from", "f", "call-id", "i", "cseq"):
            response.add(name, value)
        elif key in ("to", "t"):
            if to_tag is not None and request.to.tag is None:
                value = value + ";tag=" + to_tag
            response.add(name, value)
        elif key == "record-route" and copy_rr:
            response.add(name, value)
    for name, value in headers or ():
        response.add(name, value)
    response.body = body
    return response


class Transaction:
    """Common part: state, the request, where to send, and named timers (deadline in ms)."""

    table = {}
    is_client = True

    def __init__(self, layer, key, request, addr, transport, now_ms):
        self.layer = layer
        self.key = key
        self.request = request
        self.method = request.method
        self.addr = addr
        self.transport = transport
        self.reliable = transport != "udp"
        self.owner = None  # set by the TU: whatever it needs to route reports
        self.state = None
        self.last_response = None
        self.created_ms = now_ms
        self._timers = {}  # name -> deadline ms
        self._interval_ms = layer.timers.t1_ms
        self._wire = b""  # what a retransmission sends

    def __repr__(self):
        return "<%s %s %s>" % (type(self).__name__, self.method, self.state)

    # -- timers -----------------------------------------------------------------------------
    def next_deadline(self):
        best = None
        for name in self._timers:
            deadline = self._timers[name]
            if best is None or deadline < best:
                best = deadline
        return best

    def _start(self, name, delay_ms, now_ms):
        self._timers[name] = now_ms + delay_ms

    def _stop(self, *names):
        for name in names:
            if name in self._timers:
                del self._timers[name]

    def handle_timer(self, now_ms):
        """Fire every timer that is due, earliest first."""
        while self.state != TERMINATED:
            due = None
            for name in sorted(self._timers):
                deadline = self._timers[name]
                if deadline <= now_ms and (due is None or deadline < self._timers[due]):
                    due = name
            if due is None:
                return
            deadline = self._timers.pop(due)
            self._fire(due, deadline)

    def _fire(self, name, deadline_ms):
        raise NotImplementedError

    # -- state ------------------------------------------------------------------------------
    def _step(self, event):
        """(previous state, action) after applying the table to event; absorbed -> action None."""
        entry = self.table.get((self.state, event))
        if entry is None:
            return self.state, None
        previous = self.state
        self.state = entry[0]
        return previous, entry[1]

    def _wait_then_terminate(self, name, delay_ms, now_ms):
        if delay_ms <= 0:
            self.terminate()
        else:
            self._start(name, delay_ms, now_ms)

    def terminate(self):
        self.state = TERMINATED
        self._timers = {}
        self.layer._remove(self)

    def _send(self, data):
        self.layer.datagrams.append((data, self.addr, self.transport))

    def _report(self, kind, message=None):
        self.layer.reports.append((self, kind, message))

    def transport_failed(self):
        if self.state != TERMINATED:
            self.terminate()
            self._report(TRANSPORT_ERROR)


class ClientTransaction(Transaction):
    """INVITE (Figure 5 + RFC 6026) or non-INVITE (Figure 6) client transaction."""

    is_client = True

    def __init__(self, layer, key, request, addr, transport, now_ms):
        Transaction.__init__(self, layer, key, request, addr, transport, now_ms)
        self.is_invite = request.method == "INVITE"
        self.table = _INVITE_CLIENT if self.is_invite else _NON_INVITE_CLIENT
        self.state = CALLING if self.is_invite else TRYING
        self._wire = request.to_bytes()
        self._send(self._wire)
        timers = layer.timers
        if not self.reliable:
            self._start("A" if self.is_invite else "E", timers.t1_ms, now_ms)
        self._start("B" if self.is_invite else "F", timers.timeout_ms, now_ms)

    def receive(self, response, now_ms):
        previous, action = self._step(status_class(response.status))
        if action is None:
            return
        timers = self.layer.timers
        if self.state != previous:
            if self.state == PROCEEDING and self.is_invite:
                self._stop("A", "B")
            elif self.state == COMPLETED:
                self._stop("A", "B", "E", "F")
                if self.is_invite:
                    self._wait_then_terminate("D", 0 if self.reliable else 32000, now_ms)
                else:
                    self._wait_then_terminate("K", 0 if self.reliable else timers.t4_ms, now_ms)
            elif self.state == ACCEPTED:
                self._stop("A", "B")
                self._start("M", timers.timeout_ms, now_ms)
        if action in (_ACK_PASS, _SEND_ACK):
            self._send(self.ack_for(response).to_bytes())
        if action in (_ACK_PASS, _PASS):
            self.last_response = response
            self._report(RESPONSE, response)

    def ack_for(self, response):
        """The ACK for a non-2xx final (RFC 3261 section 17.1.1.3): same branch and Route set,
        To from the response."""
        request = self.request
        ack = Request("ACK", request.uri)
        ack.add("Via", request.get("via"))
        ack.add("Max-Forwards", "70")
        for name in ("From", "Call-ID"):
            ack.add(name, request.get(name))
        ack.add("To", response.get("to"))
        ack.add("CSeq", "%d ACK" % request.cseq.seq)
        for value in request.get_lines("route"):
            ack.add("Route", value)
        return ack

    def _fire(self, name, deadline_ms):
        timers = self.layer.timers
        if name == "A" or name == "E":
            self._send(self._wire)
            if name == "A":
                self._interval_ms *= 2
            elif self.state == PROCEEDING:
                self._interval_ms = timers.t2_ms
            else:
                self._interval_ms = min(self._interval_ms * 2, timers.t2_ms)
            self._start(name, self._interval_ms, deadline_ms)
        elif name == "B" or name == "F":
            self.terminate()
            self._report(TIMEOUT)
        else:  # D, K, M
            self.terminate()


class ServerTransaction(Transaction):
    """INVITE (Figure 7 + RFC 6026) or non-INVITE (Figure 8) server transaction."""

    is_client = False

    def __init__(self, layer, key, request, addr, transport, now_ms):
        Transaction.__init__(self, layer, key, request, addr, transport, now_ms)
        self.is_invite = request.method == "INVITE"
        self.table = _INVITE_SERVER if self.is_invite else _NON_INVITE_SERVER
        self.state = PROCEEDING if self.is_invite else TRYING
        self.acked = False  # see acknowledged()

    def trying(self, now_ms):
        """Send 100 Trying for an INVITE the TU accepted (17.2.1: at once, not after 200 ms)."""
        if self.is_invite and self.state == PROCEEDING and self.last_response is None:
            self.respond(make_response(self.request, 100), now_ms)

    def receive_request(self, request, now_ms):
        """A retransmission of our request, or an ACK. Returns True when the TU must see it."""
        event = _ACK if request.method == "ACK" else _REQUEST
        previous, action = self._step(event)
        if action == _RESEND:
            self._send(self._wire)
        elif self.state == CONFIRMED and previous == COMPLETED:
            self._stop("G", "H")
            self._wait_then_terminate("I", 0 if self.reliable else self.layer.timers.t4_ms, now_ms)
        return action == _PASS

    def acknowledged(self):
        """The TU got the ACK of our 2xx (it comes through the dialog, with its own branch).
        From now on an ACCEPTED transaction only absorbs stray copies of the INVITE."""
        self.acked = True

    def respond(self, response, now_ms):
        """Send the TU's response through the transaction."""
        previous, action = self._step(status_class(response.status))
        if action != _SEND:
            raise ValueError("cannot send %d in state %s of %r" % (response.status, previous, self))
        self.last_response = response
        self._wire = response.to_bytes()
        self._send(self._wire)
        if self.state == previous:
            return
        timers = self.layer.timers
        if self.state == ACCEPTED:
            self._start("L", timers.timeout_ms, now_ms)
        elif self.state == COMPLETED and self.is_invite:
            if not self.reliable:
                self._start("G", timers.t1_ms, now_ms)
            self._start("H", timers.timeout_ms, now_ms)
        elif self.state == COMPLETED:
            self._wait_then_terminate("J", 0 if self.reliable else timers.timeout_ms, now_ms)

    def _fire(self, name, deadline_ms):
        if name == "G":
            self._send(self._wire)
            self._interval_ms = min(self._interval_ms * 2, self.layer.timers.t2_ms)
            self._start("G", self._interval_ms, deadline_ms)
        elif name == "H":
            self.terminate()
            self._report(TIMEOUT)
        else:  # I, J, L
            self.terminate()


def _finished_rank(txn):
    """1: a server transaction that only absorbs retransmissions (a non-INVITE one COMPLETED, an
    INVITE one CONFIRMED, or ACCEPTED with its 2xx ACKed); 2: an INVITE server transaction
    re-sending its failure until the ACK; 0: anything else (still working, a 2xx not yet ACKed,
    whose INVITE copies must not start a second call, or a client transaction)."""
    if txn.is_client:
        return 0
    if txn.state == ACCEPTED:
        return 1 if txn.acked else 0
    if txn.state == CONFIRMED or (txn.state == COMPLETED and not txn.is_invite):
        return 1
    return 2 if txn.state == COMPLETED else 0


class TransactionLayer:
    """Every transaction of one user agent; bounded number of server transactions."""

    def __init__(self, timers=None, max_server_transactions=32):
        self.timers = timers if timers is not None else Timers()
        self.max_server_transactions = max_server_transactions
        self.datagrams = []  # (bytes, (host, port), transport)
        self.reports = []  # (transaction, kind, message)
        self._client = {}
        self._server = {}
        self._order = []  # every live transaction, oldest first (deterministic timer order)
        self.removed = []  # ended since the TU last looked: it clears their owner (see agent)

    # -- client side -------------------------------------------------------------------------
    def send_request(self, request, addr, transport, now_ms):
        """Start a client transaction: the request goes out now. ACK is not a transaction."""
        if request.method == "ACK":
            raise ValueError("ACK is sent without a transaction")
        key = (request.top_via.branch, request.method)
        if key in self._client:
            raise ValueError("branch %s already in use" % key[0])
        txn = ClientTransaction(self, key, request, addr, transport, now_ms)
        self._client[key] = txn
        self._order.append(txn)
        return txn

    def receive_response(self, response, now_ms):
        """Route a response to its client transaction; False when none matches."""
        via = response.top_via
        cseq = response.cseq
        txn = self._client.get((via.branch, cseq.method))
        if txn is None:
            return False
        txn.receive(response, now_ms)
        return True

    def find_client(self, branch, method):
        return self._client.get((branch, method))

    # -- server side -------------------------------------------------------------------------
    def match_request(self, request):
        """The server transaction a request belongs to (a retransmission or an ACK), or None."""
        return self._server.get(server_key(request))

    def find_invite_for(self, cancel):
        """The INVITE server transaction a CANCEL refers to, or None."""
        txn = self._server.get(server_key(cancel, "INVITE"))
        return txn if txn is not None and txn.is_invite else None

    def is_full(self):
        """True when the server table holds max_server_transactions that still have work to do.

        At the bound, the oldest transaction that has sent its final response (COMPLETED, an
        INVITE's CONFIRMED, or its ACCEPTED once the 2xx was ACKed) is ended early to make room:
        such a transaction only absorbs retransmissions (and an INVITE's re-sends its failure
        until the ACK). Without this a burst of requests (a scanner's OPTIONS, or short calls)
        would get every new request, the PBX's INVITE among them, a 503 for 64*T1."""
        if len(self._server) < self.max_server_transactions:
            return False
        for rank in (1, 2):  # first those that only absorb retransmissions
            for txn in self._order:
                if _finished_rank(txn) == rank:
                    txn.terminate()
                    return False
        return True

    def create_server(self, request, addr, transport, now_ms, bounded=True):
        """A new server transaction for request from addr. Check is_full() first.

        `bounded=False` is for requests within an existing dialog or a CANCEL of a live INVITE:
        their number is bounded by the calls, and a full table must not keep a call from
        ending."""
        if bounded and self.is_full():
            raise ValueError("server transaction table is full")
        key = server_key(request)
        txn = ServerTransaction(self, key, request, addr, transport, now_ms)
        self._server[key] = txn
        self._order.append(txn)
        return txn

    # -- both ---------------------------------------------------------------------------------
    def send_raw(self, data, addr, transport):
        """Send without a transaction (ACK for 2xx, the TU's 2xx retransmissions, stateless)."""
        self.datagrams.append((data, addr, transport))

    def transport_failed(self, addr, transport):
        """The runtime could not send to addr: fail every transaction using it."""
        for txn in list(self._order):
            if txn.addr == addr and txn.transport == transport:
                txn.transport_failed()

    def next_deadline(self):
        best = None
        for txn in self._order:
            deadline = txn.next_deadline()
            if deadline is not None and (best is None or deadline < best):
                best = deadline
        return best

    def handle_timer(self, now_ms):
        for txn in list(self._order):
            deadline = txn.next_deadline()
            if deadline is not None and deadline <= now_ms:
                txn.handle_timer(now_ms)

    def __len__(self):
        return len(self._order)

    def _remove(self, txn):
        table = self._client if txn.is_client else self._server
        if table.get(txn.key) is txn:
            del table[txn.key]
        if txn in self._order:
            self._order.remove(txn)
            self.removed.append(txn)
