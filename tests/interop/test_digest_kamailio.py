"""The digest client against a real Kamailio: REGISTER (401) and MESSAGE (407) over UDP.

Kamailio runs on 127.0.0.1 with a port picked at run time, from tests/data/interop/kamailio.cfg.in
(peers.Kamailio): user door is challenged without qop, doorqop with qop=auth; one instance
challenges with MD5, one with SHA-256 (-A WITH_SHA256).
The requests are written by hand here so that this test depends on nothing but firmware.core.md5
and firmware.core.sip.auth. Without kamailio the test is skipped (it fails when CI is set).
qop=auth-int is not tried: Kamailio's auth module does not hash the body when it checks one
(auth_check_response() hands calc_response() an unfilled H(entity-body)).
"""

import hashlib
import itertools
import socket

import pytest

from firmware.core.md5 import md5_hex
from firmware.core.sip.auth import DigestClient, parse_challenge
from tests.core.support import FakeRandom
from tests.interop.peers import LOOPBACK, Kamailio

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

HASHES = {"MD5": md5_hex, "SHA-256": lambda data: hashlib.sha256(data).hexdigest()}
_sequence = itertools.count(1)


USERS = {"door": "secret", "doorqop": "secret"}  # kamailio.cfg.in: *qop users get qop=auth


@pytest.fixture(scope="module")
def kamailio(tmp_path_factory):
    with Kamailio(tmp_path_factory.mktemp("kam-md5"), USERS, deadline_s=120) as peer:
        yield peer.start()


@pytest.fixture(scope="module")
def kamailio_sha256(tmp_path_factory):
    kam = Kamailio(tmp_path_factory.mktemp("kam-sha256"), USERS, sha256=True, deadline_s=120)
    with kam as peer:
        yield peer.start()


class Exchange:
    """One Call-ID's requests from one UDP socket, each waiting (bounded) for its final response."""

    def __init__(self, port, user, method):
        self.server = (LOOPBACK, port)
        self.user = user
        self.method = method
        self.uri = f"sip:{LOOPBACK}:{port}" if method == "REGISTER" else f"sip:flat@{LOOPBACK}"
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.settimeout(3)
        self.call_id = f"digest-{next(_sequence)}-{self.sock.getsockname()[1]}@{LOOPBACK}"
        self.cseq = 0

    def send(self, headers=(), body=b""):
        """(status, [(name, value)]) of the final response to one request."""
        self.cseq += 1
        local = self.sock.getsockname()[1]
        lines = [
            f"{self.method} {self.uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {LOOPBACK}:{local};rport;branch=z9hG4bK-{self.call_id}-{self.cseq}",
            "Max-Forwards: 70",
            f"From: <sip:{self.user}@{LOOPBACK}>;tag=door{self.cseq}",
            f"To: <sip:{self.user if self.method == 'REGISTER' else 'flat'}@{LOOPBACK}>",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.cseq} {self.method}",
            f"Contact: <sip:{self.user}@{LOOPBACK}:{local}>",
        ]
        lines += [f"{name}: {value}" for name, value in headers]
        if body:
            lines.append("Content-Type: text/plain")
        lines.append(f"Content-Length: {len(body)}")
        self.sock.sendto(("\r\n".join(lines) + "\r\n\r\n").encode() + body, self.server)
        while True:
            data = self.sock.recv(65535)
            head = data.split(b"\r\n\r\n", 1)[0].decode()
            status_line, *header_lines = head.split("\r\n")
            response = [tuple(p.strip() for p in line.split(":", 1)) for line in header_lines]
            cseq = [value for name, value in response if name.lower() == "cseq"]
            status = int(status_line.split()[1])
            if cseq == [f"{self.cseq} {self.method}"] and status >= 200:
                return status, response

    def close(self):
        self.sock.close()


def authenticate(peer, user, password, method, hashes=HASHES, body=b""):
    """Send, answer the challenge once, return (first status, final status, client, last sent)."""
    exchange = Exchange(peer.port, user, method)
    client = DigestClient(user, password, hashes, FakeRandom(len(user)))
    try:
        first, response = exchange.send(body=body)
        sent = client.respond(method, exchange.uri, response, [], body)
        if sent is None:
            return first, None, client, None
        final, response = exchange.send(sent, body)
        if final in (401, 407):
            assert client.respond(method, exchange.uri, response, sent, body) is None
        return first, final, client, sent
    finally:
        exchange.close()


@pytest.mark.parametrize("user, qop", [("door", None), ("doorqop", "auth")])
def test_register_with_md5(kamailio, user, qop):
    first, final, _, sent = authenticate(kamailio, user, "secret", "REGISTER")
    assert (first, final) == (401, 200), kamailio.log()[-2000:]
    [(name, value)] = sent
    credentials = dict(parse_challenge(value).params)
    assert name == "Authorization"
    assert (credentials["algorithm"], credentials.get("qop")) == ("MD5", qop)
    assert credentials["realm"] == LOOPBACK


@pytest.mark.parametrize("user", ["door", "doorqop"])
def test_message_with_proxy_authorization(kamailio, user):
    first, final, _, sent = authenticate(kamailio, user, "secret", "MESSAGE", body=b"Door open")
    assert (first, final) == (407, 202), kamailio.log()[-2000:]
    assert sent[0][0] == "Proxy-Authorization"


@pytest.mark.parametrize("user", ["door", "doorqop"])
def test_wrong_password_gives_up_after_one_retry(kamailio, user):
    first, final, _, _ = authenticate(kamailio, user, "wrong", "REGISTER")
    assert (first, final) == (401, 401)  # and authenticate() checked that respond() gave up


def test_preemptive_refresh_uses_the_next_nonce_count(kamailio):
    first, final, client, _ = authenticate(kamailio, "doorqop", "secret", "REGISTER")
    assert (first, final) == (401, 200)
    exchange = Exchange(kamailio.port, "doorqop", "REGISTER")
    try:
        refresh = client.authorize("REGISTER", exchange.uri)
        assert dict(parse_challenge(refresh[0][1]).params)["nc"] == "00000002"
        status, _ = exchange.send(refresh)
        assert status == 200, kamailio.log()[-2000:]
    finally:
        exchange.close()


def test_register_with_sha256(kamailio_sha256):
    first, final, _, sent = authenticate(kamailio_sha256, "doorqop", "secret", "REGISTER")
    assert (first, final) == (401, 200), kamailio_sha256.log()[-2000:]
    assert dict(parse_challenge(sent[0][1]).params)["algorithm"] == "SHA-256"
    md5_only = {"MD5": md5_hex}
    first, final, _, _ = authenticate(kamailio_sha256, "door", "secret", "REGISTER", md5_only)
    assert (first, final) == (401, None)  # nothing we can answer: give up at once
