"""An in-memory SIP network for the core tests (CPython and MicroPython).

`Network` holds nodes at addresses (user agents, or scripted peers such as `Registrar` with the
same five methods), one fake clock, and datagrams in flight. `run(until_ms)` jumps from event to
event (the next delivery or the next node deadline) without sleeping. `fault(data, src, dst,
now_ms)` may return the delays of the copies to deliver: [] drops the datagram, [0, 0] duplicates
it, [300] delays it (reordering follows from different delays); None means [0]. Every datagram is
logged in `log` as (sent_ms, src, dst, transport, bytes); events in `events[addr]`.

Also here: message helpers for tests that drive one agent by hand (`parse`, `reply`, `request`),
and `Registrar`, a tiny registrar double that challenges with digest MD5 and grants bindings.
"""

from firmware.core.md5 import md5_hex
from firmware.core.sip.agent import AgentConfig, UserAgent
from firmware.core.sip.auth import parse_challenge
from firmware.core.sip.message import Response, parse_message
from firmware.core.sip.transaction import make_response
from tests.core.support import FakeRandom

HASHES = {"MD5": md5_hex}
DOOR = ("192.0.2.10", 5060)
FLAT = ("192.0.2.20", 5060)
PBX = ("192.0.2.1", 5060)


def make_agent(addr, seed=1, now_ms=0, **options):
    """A UserAgent at addr with a FakeRandom(seed); options go to AgentConfig."""
    return UserAgent(AgentConfig(addr, **options), FakeRandom(seed), HASHES, now_ms)


class Network:
    def __init__(self, latency_ms=10):
        self.now_ms = 0
        self.latency_ms = latency_ms
        self.nodes = []  # (addr, node), in the order added
        self.queue = []  # [deliver_ms, seq, data, src, dst, transport]
        self.seq = 0
        self.log = []
        self.events = {}
        self.fault = None

    def add(self, addr, node):
        self.nodes.append((addr, node))
        self.events[addr] = []
        return node

    def agent(self, addr, seed=1, **options):
        return self.add(addr, make_agent(addr, seed, self.now_ms, **options))

    def node(self, addr):
        for a, node in self.nodes:
            if a == addr:
                return node
        return None

    def send(self, addr, command):
        """Give a command to the node at addr; returns its result (PlaceCall: the call_id)."""
        result = self.node(addr).send(command, self.now_ms)
        self.collect()
        return result

    def collect(self):
        """Take every node's output datagrams and events."""
        for addr, node in self.nodes:
            for data, dst, transport in node.datagrams_to_send():
                self.log.append((self.now_ms, addr, dst, transport, data))
                delays = None
                if self.fault is not None:
                    delays = self.fault(data, addr, dst, self.now_ms)
                if delays is None:
                    delays = [0]
                for extra in delays:
                    self.seq += 1
                    deliver = self.now_ms + self.latency_ms + extra
                    self.queue.append([deliver, self.seq, data, addr, dst, transport])
            while True:
                event = node.next_event()
                if event is None:
                    break
                self.events[addr].append(event)

    def next_time(self):
        best = None
        for item in self.queue:
            if best is None or item[0] < best:
                best = item[0]
        for _, node in self.nodes:
            deadline = node.next_deadline()
            if deadline is not None and (best is None or deadline < best):
                best = deadline
        return best

    def step(self, until_ms):
        """Advance to the next thing that happens, if it is not after until_ms. False if none."""
        when = self.next_time()
        if when is None or when > until_ms:
            return False
        self.now_ms = max(self.now_ms, when)
        due = [item for item in self.queue if item[0] <= self.now_ms]
        due.sort(key=lambda item: (item[0], item[1]))
        for item in due:
            self.queue.remove(item)
            node = self.node(item[4])
            if node is not None:
                node.receive(item[2], item[3], self.now_ms, item[5])
                self.collect()
        for _, node in self.nodes:
            deadline = node.next_deadline()
            if deadline is not None and deadline <= self.now_ms:
                node.handle_timer(self.now_ms)
                self.collect()
        return True

    def run(self, until_ms):
        """Run until until_ms (absolute), then set the clock to it."""
        self.collect()
        steps = 0
        while self.step(until_ms):
            steps += 1
            assert steps < 100000, "the network does not settle"
        self.now_ms = max(self.now_ms, until_ms)

    def run_for(self, ms):
        self.run(self.now_ms + ms)

    def sent(self, src=None, dst=None, start=None):
        """[(sent_ms, message)] of logged datagrams, filtered by source, destination and the
        first word of the start line (method, or "SIP/2.0" for responses)."""
        out = []
        for when, s, d, _transport, data in self.log:
            if (src is None or s == src) and (dst is None or d == dst):
                message = parse_message(data)
                if start is None or _first_word(data) == start:
                    out.append((when, message))
        return out

    def take_events(self, addr):
        events = self.events[addr]
        self.events[addr] = []
        return events


def _first_word(data):
    return data.split(b" ", 1)[0].decode()


def assert_no_internal_errors(events):
    for event in events:
        reason = getattr(event, "reason", "")
        assert not str(reason).startswith("internal error"), event


def status_of(message):
    return getattr(message, "status", None)


class Registrar:
    """A registrar double: 401 with an MD5 qop=auth challenge, then checks the digest and grants
    min(requested, max_expires_s) (or `grant_s`), echoing the binding in Contact;expires.

    script: statuses to answer the next REGISTERs with before normal service, in order; None in
    the script means "do not answer". min_expires_s: answer 423 below it."""

    def __init__(
        self,
        addr,
        users=None,
        realm="door.test",
        max_expires_s=3600,
        grant_s=None,
        min_expires_s=None,
        script=None,
    ):
        self.addr = addr
        self.users = users if users is not None else {"door": "secret"}
        self.realm = realm
        self.max_expires_s = max_expires_s
        self.grant_s = grant_s
        self.min_expires_s = min_expires_s
        self.script = list(script or [])
        self.received = []  # (now_ms, Request)
        self.bindings = {}
        self.nonce_count = 0
        self.silent = []  # branches of REGISTERs never answered
        self._out = []

    def receive(self, data, addr, now_ms, transport="udp"):
        request = parse_message(data)
        if request.method != "REGISTER":
            return
        self.received.append((now_ms, request))
        branch = request.top_via.branch
        if branch in self.silent:
            return  # a retransmission of a REGISTER we decided not to answer
        if self.script:
            status = self.script.pop(0)
            if status is None:
                self.silent.append(branch)
            else:
                self._reply(request, status, addr, transport)
            return
        expires = request.expires if request.expires is not None else 3600
        if not self._authorized(request):
            self.nonce_count += 1
            challenge = 'Digest realm="%s", nonce="n%d", qop="auth", algorithm=MD5' % (
                self.realm,
                self.nonce_count,
            )
            self._reply(request, 401, addr, transport, [("WWW-Authenticate", challenge)])
            return
        if expires and self.min_expires_s and expires < self.min_expires_s:
            self._reply(request, 423, addr, transport, [("Min-Expires", str(self.min_expires_s))])
            return
        contact = request.get("contact")
        aor = request.to.uri.aor()
        if expires == 0:
            self.bindings.pop(aor, None)
            self._reply(request, 200, addr, transport)
            return
        granted = self.grant_s if self.grant_s is not None else min(expires, self.max_expires_s)
        self.bindings[aor] = (contact, now_ms + granted * 1000)
        headers = [("Contact", contact + ";expires=%d" % granted)]
        self._reply(request, 200, addr, transport, headers)

    def _authorized(self, request):
        value = request.get("authorization")
        if value is None:
            return False
        fields = {}
        for key, item in parse_challenge(value).params:
            fields[key] = item
        password = self.users.get(fields.get("username"))
        if password is None or fields.get("nonce") != "n%d" % self.nonce_count:
            return False
        ha1 = md5_hex(("%s:%s:%s" % (fields["username"], self.realm, password)).encode())
        ha2 = md5_hex(("REGISTER:%s" % fields["uri"]).encode())
        expected = md5_hex(
            (
                "%s:%s:%s:%s:auth:%s" % (ha1, fields["nonce"], fields["nc"], fields["cnonce"], ha2)
            ).encode()
        )
        return fields.get("response") == expected

    def _reply(self, request, status, addr, transport, headers=None):
        response = make_response(request, status, None, "reg%d" % len(self.received), headers)
        self._out.append((response.to_bytes(), addr, transport))

    def datagrams_to_send(self):
        out = self._out
        self._out = []
        return out

    def next_event(self):
        return None

    def next_deadline(self):
        return None

    def handle_timer(self, now_ms):
        pass


def parse(data):
    return parse_message(data)


def reply(request, status, to_tag=None, headers=None, body=b"", content_type=None):
    """Bytes of a response to a parsed request, as a peer would send it."""
    extra = list(headers or [])
    if body:
        extra.append(("Content-Type", content_type or "application/sdp"))
    return make_response(request, status, None, to_tag, extra, body).to_bytes()


def only(items, what="item"):
    assert len(items) == 1, "expected one %s, got %r" % (what, items)
    return items[0]


def responses(datagrams):
    """Parsed responses among (bytes, addr, transport) datagrams."""
    out = []
    for data, _addr, _transport in datagrams:
        message = parse_message(data)
        if isinstance(message, Response):
            out.append(message)
    return out


def requests(datagrams, method=None):
    out = []
    for data, _addr, _transport in datagrams:
        message = parse_message(data)
        if not isinstance(message, Response) and (method is None or message.method == method):
            out.append(message)
    return out
